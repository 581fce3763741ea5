// The pure formatting of route, trace and quarantine reports.
#include "cli/operations_format.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/command_support.h"

namespace ctl {
namespace {

using nlohmann::json;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

RouteReport NewThreadReport() {
  RouteReport r;
  r.mailbox = "help";
  r.item.message_id = "q@client";
  r.item.from_address = "alice@example.com";
  r.item.subject = "VPN down";
  r.item.size = 120;
  r.item.classification = forum::Classification::kNormal;
  r.item.outcome = forum::Outcome::kPosted;
  r.item.rule = "it";
  r.item.reason = "new thread";
  forum::PostDraft post;
  post.category = "it";
  post.subject = "VPN down";
  post.tags = {"vpn"};
  r.item.post = post;
  r.rules_consulted = true;
  r.dmarc = "none";
  r.rules = {{"outsiders", 12, "reject", false, "rule 'outsiders' (line 12): does not match: ..."},
             {"it", 20, "thread", true, "rule 'it' (line 20): subject matches (?i)vpn"}};
  r.match = RouteReport::Match::kNewThread;
  r.sends = {{"acknowledgement", "alice@example.com", ""}, {"notification", "it@example.com", ""}};
  return r;
}

TEST(RouteTextTest, NewThreadShowsRulesActionThreadAndMail) {
  const std::string text = RouteText(NewThreadReport());
  EXPECT_TRUE(Contains(text, "     rule 'outsiders' (line 12): does not match")) << text;
  EXPECT_TRUE(Contains(text, "  => rule 'it' (line 20): subject matches")) << text;
  EXPECT_TRUE(Contains(text, "rule:            'it' (line 20), action thread\n")) << text;
  EXPECT_TRUE(Contains(text, "outcome:         posted: new thread\n")) << text;
  EXPECT_TRUE(
      Contains(text, "thread:          new thread in category 'it', subject \"VPN down\", tags vpn\n"))
      << text;
  EXPECT_TRUE(Contains(text,
                       "would send:      acknowledgement to alice@example.com\n"
                       "                 notification to it@example.com\n"))
      << text;
  EXPECT_TRUE(Contains(text, "(dry run: nothing was changed)")) << text;
  EXPECT_FALSE(Contains(text, "database:")) << text;
}

TEST(RouteTextTest, ReferencesMatchNamesTheIdAndTheThread) {
  RouteReport r = NewThreadReport();
  r.item.post->thread_id = 7;
  r.item.outbox.clear();
  r.sends.clear();
  r.match = RouteReport::Match::kReferences;
  r.matched_message_id = "q0@client";
  r.thread = forum::ThreadSummary{7, "it", "VPN down", "open", "bob@example.com"};
  const std::string text = RouteText(r);
  EXPECT_TRUE(Contains(text,
                       "thread:          In-Reply-To/References <q0@client> -> thread #7 [it] \"VPN down\" "
                       "(open, opened by bob@example.com)\n"))
      << text;
  EXPECT_TRUE(Contains(text, "would send:      nothing\n")) << text;
}

TEST(RouteTextTest, WithoutDatabaseTheTokenIsNotCheckedAndTheReportSaysWhy) {
  RouteReport r = NewThreadReport();
  r.token_thread = 42;
  r.database_error = "cannot connect to PostgreSQL: refused";
  const std::string text = RouteText(r);
  EXPECT_TRUE(Contains(text, "reply token:     names thread #42 (not checked)\n")) << text;
  EXPECT_TRUE(Contains(text, "database:        cannot connect to PostgreSQL: refused;")) << text;
  const json j = json::parse(RouteJson(r));
  EXPECT_EQ(j["database"]["ok"], false);
  EXPECT_EQ(j["thread"]["token_thread"], 42);
}

TEST(RouteTextTest, DuplicateAndSkippedMailAreExplained) {
  RouteReport r = NewThreadReport();
  forum::InboundRecord prior;
  prior.id = 3;
  prior.mailbox = "help";
  prior.uid = 9;
  prior.outcome = forum::Outcome::kPosted;
  r.duplicate_of = prior;
  r.sends[0].skipped = "a duplicate queues nothing";
  const std::string text = RouteText(r);
  EXPECT_TRUE(Contains(text, "outcome:         duplicate (were it new: posted: new thread)")) << text;
  EXPECT_TRUE(Contains(text, "already recorded as inbound #3 (mailbox help, UID 9, posted)")) << text;
  EXPECT_TRUE(Contains(text, "acknowledgement to alice@example.com (not queued: a duplicate queues nothing)"))
      << text;
  EXPECT_FALSE(Contains(text, "thread:")) << text;
  const json j = json::parse(RouteJson(r));
  EXPECT_EQ(j["outcome"], "duplicate");
  EXPECT_EQ(j["decided_outcome"], "posted");
  EXPECT_EQ(j["sends"][0]["queued"], false);
  EXPECT_EQ(j["duplicate_of"]["id"], 3);
}

TEST(RouteTextTest, MachineMailSaysTheRulesWereNotConsulted) {
  RouteReport r;
  r.mailbox = "help";
  r.item.classification = forum::Classification::kAutoReply;
  r.item.outcome = forum::Outcome::kMachine;
  r.item.reason = "Auto-Submitted: auto-replied";
  r.classification_why = "Auto-Submitted: auto-replied";
  const std::string text = RouteText(r);
  EXPECT_TRUE(Contains(text, "classification:  auto_reply (Auto-Submitted: auto-replied)\n")) << text;
  EXPECT_TRUE(Contains(text, "rules:           not consulted\n")) << text;
  EXPECT_TRUE(Contains(text, "Message-ID:      (none)\n")) << text;
  EXPECT_FALSE(Contains(text, "thread:")) << text;
  const json j = json::parse(RouteJson(r));
  EXPECT_EQ(j["rules_consulted"], false);
  EXPECT_TRUE(j["dmarc"].is_null());
  EXPECT_EQ(j["thread"]["match"], "none");
}

TEST(RouteTextTest, HostileValuesCannotReachTheTerminalAndJsonStaysValid) {
  RouteReport r = NewThreadReport();
  r.item.subject = "evil \x1b[2J\r\nX-Injected: yes \xff\xfe";
  const std::string text = RouteText(r);
  EXPECT_FALSE(Contains(text, "\x1b")) << text;
  EXPECT_FALSE(Contains(text, "\nX-Injected")) << text;
  const json j = json::parse(RouteJson(r));  // throws on invalid UTF-8
  EXPECT_TRUE(Contains(j["subject"].get<std::string>(), "evil"));
}

forum::InboundRecord Inbound(int64_t id) {
  forum::InboundRecord r;
  r.id = id;
  r.mailbox = "help";
  r.uidvalidity = 7;
  r.uid = 3;
  r.message_id = "m@x";
  r.from_address = "carol@example.com";
  r.subject = "Laptop";
  r.size = 321;
  r.classification = forum::Classification::kNormal;
  r.outcome = forum::Outcome::kQuarantined;
  r.rule = "spoofed";
  r.reason = "rule spoofed";
  r.received_at = std::chrono::system_clock::time_point(std::chrono::seconds(86400));
  return r;
}

TEST(TraceTextTest, MessageTraceShowsInboundPostAndOutbox) {
  forum::MessageTrace t;
  t.message_id = "m@x";
  forum::InboundTrace in;
  in.inbound = Inbound(5);
  in.inbound.outcome = forum::Outcome::kPosted;
  in.inbound.post_id = 8;
  in.inbound.post_action_done = true;
  in.inbound.classification = forum::Classification::kDeliveryNotice;
  forum::PostRecord post;
  post.id = 8;
  post.message_id = "post.8.abc@example.com";
  post.thread = {2, "it", "Laptop", "answered", "carol@example.com"};
  in.post = post;
  forum::OutboxRecord o;
  o.id = 11;
  o.kind = forum::OutboxKind::kNotification;
  o.recipient = "it@example.com";
  o.message_id = post.message_id;
  o.status = "failed";
  o.attempts = 3;
  o.last_error = "mailbox unavailable";
  o.last_reply_code = 550;
  in.outbox.push_back(o);
  t.inbound.push_back(in);
  const std::string text = TraceText(t);
  EXPECT_TRUE(
      Contains(text, "inbound #5: mailbox help, UIDVALIDITY 7, UID 3, received 1970-01-02 00:00:00Z\n"))
      << text;
  EXPECT_TRUE(Contains(text, "  classification:  delivery_notice\n")) << text;
  EXPECT_TRUE(Contains(text, "  post-action:     done\n")) << text;
  EXPECT_TRUE(
      Contains(text, "  post:            post #8 <post.8.abc@example.com> in thread #2 [it] \"Laptop\""))
      << text;
  EXPECT_TRUE(Contains(text,
                       "    #11 notification to it@example.com <post.8.abc@example.com>: failed, 3 attempts\n"
                       "      last error: 550 mailbox unavailable\n"))
      << text;
  const json j = json::parse(TraceJson(t));
  EXPECT_EQ(j["inbound"][0]["post"]["thread"]["category"], "it");
  EXPECT_EQ(j["inbound"][0]["outbox"][0]["last_reply_code"], 550);
  EXPECT_EQ(j["inbound"][0]["outbox"][0]["kind"], "notification");
  EXPECT_EQ(j["inbound"][0]["classification"], "delivery_notice");
  EXPECT_EQ(j["inbound"][0]["received_at"], "1970-01-02T00:00:00Z");
}

TEST(TraceTextTest, EmptyTracesSaySo) {
  forum::MessageTrace m;
  m.message_id = "none@x";
  EXPECT_TRUE(Contains(TraceText(m), "nothing is recorded about this Message-ID"));
  forum::AddressTrace a;
  a.address = "nobody@x";
  EXPECT_TRUE(Contains(TraceText(a), "nothing is recorded about this address"));
}

TEST(TraceTextTest, AddressTraceShowsTheBounceScore) {
  forum::AddressTrace a;
  a.address = "alice@example.com";
  forum::SuppressionRecord s;
  s.address = a.address;
  s.bounce_score = 1.25;
  s.hard_bounces = 1;
  s.soft_bounces = 1;
  s.last_reason = "mailboxfull";
  a.suppression = s;
  const std::string text = TraceText(a);
  EXPECT_TRUE(Contains(text, "bounce score:    1.25 (1 hard, 1 soft): mailboxfull\n")) << text;
  EXPECT_EQ(json::parse(TraceJson(a))["suppression"]["hard_bounces"], 1);
}

TEST(QuarantineTextTest, ListAndRetry) {
  EXPECT_EQ(QuarantineListText({}), "the quarantine is empty\n");
  const std::string list = QuarantineListText({Inbound(5)});
  EXPECT_EQ(list,
            "1 quarantined message(s), oldest first:\n"
            "#5  help UID 3  1970-01-02 00:00:00Z  carol@example.com  321 bytes  \"Laptop\"\n"
            "    reason: rule spoofed\n");
  EXPECT_EQ(json::parse(QuarantineListJson({Inbound(5)}))[0]["outcome"], "quarantined");

  RetryReport still;
  still.inbound_id = 5;
  still.reason = "rule spoofed";
  EXPECT_EQ(RetryText(still), "inbound #5: still quarantined (rule spoofed); nothing was changed\n");
  RetryReport posted = still;
  posted.outcome = forum::Outcome::kPosted;
  posted.rule = "it";
  posted.reason = "new thread";
  posted.thread_id = 2;
  posted.post_id = 9;
  EXPECT_EQ(RetryText(posted),
            "inbound #5: quarantined -> posted: new thread\n"
            "rule:            it\n"
            "thread:          #2\n"
            "post:            #9\n");
  EXPECT_EQ(json::parse(RetryJson(posted))["changed"], true);
}

TEST(PrintableTest, KeepsTextReplacesControlsAndBrokenUtf8) {
  EXPECT_EQ(Printable("Grüße, 日本"), "Grüße, 日本");
  EXPECT_EQ(Printable("a\x1b[31mb"), "a\xEF\xBF\xBD[31mb");
  EXPECT_EQ(Printable("a\r\nb\t"),
            "a\xEF\xBF\xBD\xEF\xBF\xBD"
            "b\xEF\xBF\xBD");
  EXPECT_EQ(Printable("\xC2\x9B"
                      "c"),
            "\xEF\xBF\xBD"
            "c");  // C1 CSI
  EXPECT_EQ(Printable("\xff"
                      "x\xC3"),
            "\xEF\xBF\xBD"
            "x\xEF\xBF\xBD");
}

}  // namespace
}  // namespace ctl

namespace ctl {
namespace {

TEST(StatusTest, FailedMailboxesAndTheBacklogAreShown) {
  forum::ServiceHealth health;
  health.mailboxes = {{"help", 5, std::nullopt, "", 0}, {"it", 7200, 3, "IMAP login failed: \x1b[31mno", 7200}};
  health.outbox_due = 4;
  health.outbox_pending = 9;
  health.oldest_due_age = 90;
  health.suppressed_addresses = 2;
  const auto reports = forum::ReportMailboxes(health, {"help", "it", "new"}, std::chrono::seconds(600));
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[1].condition, forum::MailboxCondition::kFailed);
  EXPECT_EQ(reports[2].condition, forum::MailboxCondition::kUnknown);
  const std::string text = StatusText(reports, health, std::chrono::seconds(600));
  EXPECT_NE(text.find("help                 ok       5 s ago"), std::string::npos) << text;
  EXPECT_NE(text.find("it                   failed   2 h 0 min ago  2 h 0 min    IMAP login failed"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << "a server's escape sequence reached the terminal";
  EXPECT_NE(text.find("new                  unknown  never contacted"), std::string::npos) << text;
  EXPECT_NE(text.find("outbox: 4 due now (the oldest for 90 s), 9 pending in all; 2 address(es) suppressed"),
            std::string::npos)
      << text;
  const nlohmann::json doc = nlohmann::json::parse(StatusJson(reports, health, std::chrono::seconds(600)));
  EXPECT_EQ(doc.at("status"), "failing");
  EXPECT_EQ(doc["mailboxes"][1].at("failing_for_seconds"), 7200);
  EXPECT_EQ(doc["mailboxes"][2].at("state"), "unknown");
  EXPECT_EQ(doc["outbox"].at("oldest_due_age_seconds"), 90);
}

TEST(StatusTest, AShortFailureIsFailingNotFailed) {
  forum::ServiceHealth health;
  health.mailboxes = {{"help", 60, 1, "timeout", 60}};
  const auto reports = forum::ReportMailboxes(health, {}, std::chrono::seconds(600));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(reports[0].condition, forum::MailboxCondition::kFailing);
  EXPECT_EQ(nlohmann::json::parse(StatusJson(reports, health, std::chrono::seconds(600))).at("status"), "ok");
}

}  // namespace
}  // namespace ctl
