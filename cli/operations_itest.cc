// mailforumctl route, trace and quarantine as an operator runs them: the real
// binary, the example configuration, and a scratch database on the real
// PostgreSQL of scripts/test, seeded through Store::RecordBatch.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/test_config.h"
#include "forum/scratch_database.h"
#include "forum/store.h"
#include "mail/reply_token.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace {

using mftest::RunCommand;
using mftest::ShellQuote;
using nlohmann::json;

constexpr char kDomain[] = "example.com";

// A message that is not an email at all, with NUL and 8-bit bytes: show must give it back exactly.
constexpr char kPoisonBytes[] = "\x00\x01 not mail \xff\xfe\xc3(\r\n\r\n\x80\x81 tail\x00";
const std::string kPoison(kPoisonBytes, sizeof kPoisonBytes - 1);

// Quarantined by the example's `spoofed` rule (DMARC fail from the trusted mx.example.com).
constexpr char kSpoofed[] =
    "Authentication-Results: mx.example.com; dmarc=fail header.from=example.com\r\n"
    "From: Carol <carol@example.com>\r\n"
    "To: help@example.com\r\n"
    "Subject: Laptop broken\r\n"
    "Message-ID: <spoof1@client.example>\r\n"
    "Date: Mon, 06 May 2024 09:00:00 +0000\r\n"
    "\r\n"
    "My laptop does not boot.\r\n";

std::string Ctl(const std::string& args) { return std::string(MAILFORUMCTL_PATH) + " " + args; }

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Expects `r` to have exited with `exit_code` after printing every one of `expected`.
void ExpectRun(const mftest::CommandResult& r, int exit_code, const std::vector<std::string>& expected) {
  EXPECT_EQ(r.exit_code, exit_code) << r.output;
  for (const std::string& text : expected)
    EXPECT_TRUE(Contains(r.output, text)) << "missing: " << text << "\n" << r.output;
}

forum::InboundItem Item(uint32_t uid, const std::string& message_id, const std::string& from,
                        const std::string& subject, forum::Outcome outcome) {
  forum::InboundItem item;
  item.mailbox = "help";
  item.uidvalidity = 7;
  item.uid = uid;
  item.message_id = message_id;
  item.from_address = from;
  item.message_key = message_id + " " + from;
  item.subject = subject;
  item.size = 500;
  item.classification = forum::Classification::kNormal;
  item.outcome = outcome;
  return item;
}

forum::InboundItem Quarantined(forum::InboundItem item, const std::string& raw, const std::string& rule,
                               const std::string& reason) {
  if (item.message_id.empty()) item.message_key = "sha256:seed" + std::to_string(item.uid);
  item.rule = rule;
  item.reason = reason;
  item.raw = raw;
  item.size = raw.size();
  return item;
}

class OperationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
    auto dsn = forum::CreateScratchDatabase(admin, "ops");
    ASSERT_TRUE(dsn) << dsn.error().message;
    dsn_ = *dsn;
    dir_ = mftest::MakeTempDir("mfops");
    config_ = mftest::InstallExampleConfig(dir_, dsn_);
    reply_key_ = mftest::ReadFile(dir_ + "/reply.key");
    while (!reply_key_.empty() && reply_key_.back() == '\n') reply_key_.pop_back();

    auto store = forum::Store::Connect(dsn_);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE((*store)->Migrate());
    ASSERT_TRUE((*store)->SyncCategories(
        {{"actions", "Action items", ""}, {"it", "IT questions", ""}, {"general", "General", ""}}));
    // A question, then an answer in its thread.
    forum::InboundItem question =
        Item(1, "q1@client.example", "alice@example.com", "VPN drops", forum::Outcome::kPosted);
    question.rule = "it";
    question.reason = "new thread";
    forum::PostDraft post;
    post.category = "it";
    post.subject = "VPN drops";
    post.author_address = "alice@example.com";
    post.body = "My VPN drops every hour.";
    question.post = post;
    question.outbox = {{forum::OutboxKind::kAcknowledgement, "alice@example.com"},
                       {forum::OutboxKind::kNotification, "it-team@example.com"}};
    thread_id_ = *Record(**store, question).thread_id;

    forum::InboundItem answer =
        Item(2, "a1@client.example", "bob@example.com", "Re: VPN drops", forum::Outcome::kPosted);
    answer.rule = "it";
    answer.reason = "answer in thread " + std::to_string(thread_id_);
    post.thread_id = thread_id_;
    post.author_address = "bob@example.com";
    post.body = "Update the client.";
    answer.post = post;
    Record(**store, answer);

    Record(**store, Quarantined(Item(3, "", "", "", forum::Outcome::kQuarantined), kPoison, "",
                                "not an email: no header fields before the body"));
    Record(**store, Quarantined(Item(4, "spoof1@client.example", "carol@example.com", "Laptop broken",
                                     forum::Outcome::kQuarantined),
                                kSpoofed, "spoofed", "rule spoofed"));

    forum::InboundItem rejected =
        Item(5, "r1@outside.example", "mallory@outside.example", "Buy now", forum::Outcome::kRejected);
    rejected.rule = "outsiders";
    rejected.reason = "This address only accepts mail from example.com.";
    rejected.outbox = {{forum::OutboxKind::kRejection, "mallory@outside.example"}};
    Record(**store, rejected);

    forum::InboundItem bounce =
        Item(6, "b1@mx.example", "mailer-daemon@mx.example", "Undelivered Mail", forum::Outcome::kMachine);
    bounce.classification = forum::Classification::kBounce;
    bounce.reason = "delivery status notification";
    bounce.bounces = {{"alice@example.com", false, "mailboxfull"}};
    // Sent to the return path of the acknowledgement: only such a bounce scores (issue 8 item 4).
    bounce.bounced_outbox_id = std::stoll(Scalar("SELECT id FROM outbox WHERE kind = 'acknowledgement'"));
    Record(**store, bounce);
  }

  forum::RecordResult Record(forum::Store& store, const forum::InboundItem& item) {
    auto batch = store.RecordBatch({item}, kDomain);
    EXPECT_TRUE(batch) << batch.error().message;
    if (!batch) return {};
    EXPECT_TRUE((*batch)[0]) << (*batch)[0].error().message;
    return (*batch)[0] ? *(*batch)[0] : forum::RecordResult{};
  }

  std::string Scalar(const std::string& sql) {
    auto r = forum::QueryScalar(dsn_, sql);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : "";
  }

  // Every table's rows, summarised: equal summaries mean nothing changed.
  std::string DatabaseState() {
    std::string state;
    for (const char* table : {"categories", "threads", "posts", "message_ids", "inbound_messages", "outbox",
                              "suppressions", "rejection_notices", "mailbox_state", "attachments"}) {
      state +=
          std::string(table) + "=" +
          Scalar(std::string(
                     "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                     "FROM ") +
                 table + " t") +
          "\n";
    }
    return state;
  }

  std::string InboundId(uint32_t uid) {
    return Scalar("SELECT id FROM inbound_messages WHERE uid = " + std::to_string(uid));
  }

  std::string WriteMessage(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name + ".eml";
    mftest::WriteFile(path, text, 0644);
    return path;
  }

  // Runs `mailforumctl COMMAND -c CONFIG ARGS` (the test's configuration unless `config` is given).
  mftest::CommandResult Ops(const std::string& command, const std::string& args,
                            const std::string& config = "") {
    return RunCommand(Ctl(command + " -c " + ShellQuote(config.empty() ? config_ : config) + " " + args));
  }

  mftest::CommandResult Route(const std::string& eml, const std::string& extra = "") {
    return Ops("route", "--mailbox help " + extra + " " + ShellQuote(eml));
  }

  std::string dsn_, dir_, config_, reply_key_;
  int64_t thread_id_ = 0;
};

// As our MTA delivers it: with its DMARC pass on top, which the example's
// `spoofed` rule requires of mail from example.com.
std::string Mail(const std::string& headers, const std::string& body = "Please help.\r\n") {
  return "Authentication-Results: mx.example.com; dmarc=pass\r\n" + headers +
         "Date: Mon, 06 May 2024 10:00:00 +0000\r\n\r\n" + body;
}

TEST_F(OperationsTest, RouteExplainsEveryKindOfMessageAndChangesNothing) {
  const std::string before = DatabaseState();
  const std::string thread = "thread #" + std::to_string(thread_id_);

  // A new question: rules tried in order, the IT rule matches, acknowledgement and watchers.
  auto question =
      Route(WriteMessage("question", Mail("From: Alice <alice@example.com>\r\nTo: help@example.com\r\n"
                                          "Subject: VPN is down again\r\n"
                                          "Message-ID: <q2@client.example>\r\n")));
  ExpectRun(question, 0,
            {"     rule 'outsiders' (line ", "  => rule 'it' (line ", "subject matches", "action thread",
             "posted: new thread", "new thread in category 'it'", "acknowledgement to alice@example.com",
             "notification to it-team@example.com", "(dry run: nothing was changed)"});
  EXPECT_FALSE(Contains(question.output, "rule 'rest'")) << question.output;  // never reached

  // A reply found by References only.
  ExpectRun(Route(WriteMessage("reply", Mail("From: dave@example.com\r\nTo: help@example.com\r\n"
                                             "Subject: Re: VPN drops\r\nMessage-ID: <d1@client.example>\r\n"
                                             "In-Reply-To: <unknown@elsewhere>\r\n"
                                             "References: <q1@client.example> <unknown@elsewhere>\r\n",
                                             "Try rebooting.\r\n"))),
            0,
            {"In-Reply-To/References <q1@client.example> -> " + thread + " [it] \"VPN drops\"",
             "would send:      answer to alice@example.com\n                 answer to bob@example.com\n"
             "                 notification to it-team@example.com"});

  // An auto-reply: machine mail, the rules are not consulted, nothing is sent.
  ExpectRun(Route(WriteMessage("auto", Mail("From: alice@example.com\r\nTo: help@example.com\r\n"
                                            "Subject: Out of office\r\nAuto-Submitted: auto-replied\r\n"
                                            "Message-ID: <ooo@client.example>\r\n"))),
            0,
            {"classification:  auto_reply", "rules:           not consulted", "outcome:         machine",
             "would send:      nothing"});

  // A forged reply token is never trusted: a new thread.
  ExpectRun(
      Route(WriteMessage("forged", Mail("From: alice@example.com\r\n"
                                        "To: help+aaaaaaaaaaaaaaaaaaaaaaaaaa@example.com\r\n"
                                        "Subject: Password reset\r\nMessage-ID: <f1@client.example>\r\n"))),
      0, {"does not verify", "new thread in category 'it'"});

  // A genuine token finds its thread.
  const std::string token = mail::MakeReplyToken(static_cast<uint64_t>(thread_id_), reply_key_);
  ExpectRun(
      Route(WriteMessage("token", Mail("From: erin@example.com\r\nTo: help+" + token +
                                           "@example.com\r\n"
                                           "Subject: Re: VPN drops\r\nMessage-ID: <t1@client.example>\r\n",
                                       "Fixed on my side.\r\n"))),
      0, {"reply token -> " + thread});

  // The question again: a duplicate of what is recorded.
  ExpectRun(Route(WriteMessage("again", Mail("From: alice@example.com\r\nTo: help@example.com\r\n"
                                             "Subject: VPN drops\r\nMessage-ID: <q1@client.example>\r\n"))),
            0, {"already recorded as inbound #" + InboundId(1), "outcome:         duplicate"});

  // An outsider: rejected, at most once a day, and mallory had a notice today.
  ExpectRun(
      Route(WriteMessage("outsider", Mail("From: mallory@outside.example\r\nTo: help@example.com\r\n"
                                          "Subject: Buy more\r\nMessage-ID: <r2@outside.example>\r\n"))),
      0,
      {"=> rule 'outsiders'",
       "rejection to mallory@outside.example (not queued: a rejection notice already "
       "went to this address today)"});

  // --json for machines.
  auto as_json = Route(dir_ + "/question.eml", "--json");
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  const json j = json::parse(as_json.output);
  EXPECT_EQ(j["outcome"], "posted");
  EXPECT_EQ(j["rule"], "it");
  EXPECT_EQ(j["thread"]["match"], "new_thread");
  EXPECT_EQ(j["thread"]["category"], "it");
  EXPECT_EQ(j["sends"].size(), 2u);
  EXPECT_EQ(j["rules"].back()["matched"], true);
  EXPECT_GT(j["rules"].back()["line"].get<int>(), 0);
  EXPECT_EQ(j["database"]["ok"], true);

  EXPECT_EQ(DatabaseState(), before);
}

TEST_F(OperationsTest, StatusShowsEachMailboxAndTheBacklogAndExits1WhenAMailboxFailed) {
  // The seeded mail made the example's mailbox known; its last pass succeeded a minute ago.
  Scalar("INSERT INTO mailbox_state (mailbox, last_success_at) VALUES ('help', now() - interval '1 minute') "
         "ON CONFLICT (mailbox) DO UPDATE SET last_success_at = now() - interval '1 minute', last_error = NULL, "
         "last_error_at = NULL RETURNING 1");
  ExpectRun(Ops("status", ""), 0,
            {"help                 ok       60 s ago", "outbox: 2 due now", "0 address(es) suppressed"});
  Scalar("UPDATE mailbox_state SET last_success_at = now() - interval '2 hours', last_error_at = now(), "
         "last_error = 'IMAP login failed: AUTHENTICATIONFAILED' WHERE mailbox = 'help' RETURNING 1");
  ExpectRun(Ops("status", ""), 1, {"help                 failed   2 h 0 min ago  2 h 0 min    IMAP login failed"});
  const mftest::CommandResult as_json = Ops("status", "--json");
  EXPECT_EQ(json::parse(as_json.output).at("mailboxes")[0].at("state"), "failed") << as_json.output;
}

TEST_F(OperationsTest, RouteWithoutDatabaseStillShowsTheRuleDecisionAndExits75) {
  const std::string other = mftest::MakeTempDir("mfops");
  const std::string config =
      mftest::InstallExampleConfig(other, "host=127.0.0.1 port=1 dbname=x connect_timeout=3");
  const std::string eml = WriteMessage("question", Mail("From: alice@example.com\r\nTo: help@example.com\r\n"
                                                        "Subject: Laptop is slow\r\n"
                                                        "Message-ID: <q3@client.example>\r\n"));
  ExpectRun(Ops("route", "--mailbox help " + ShellQuote(eml), config), 75,
            {"=> rule 'it'", "database:", "cannot connect to PostgreSQL"});
}

TEST_F(OperationsTest, RouteUsageErrors) {
  EXPECT_EQ(Route(dir_ + "/missing.eml").exit_code, 65);
  const std::string eml = WriteMessage("x", Mail("From: alice@example.com\r\nSubject: x\r\n"));
  ExpectRun(Ops("route", "--mailbox nope " + ShellQuote(eml)), 64, {"it has: help"});
}

TEST_F(OperationsTest, TraceByMessageIdShowsInboundPostThreadAndOutbox) {
  for (const char* target : {"<q1@client.example>", "q1@client.example"}) {
    ExpectRun(Ops("trace", ShellQuote(target)), 0,
              {"inbound #" + InboundId(1) + ": mailbox help, UIDVALIDITY 7, UID 1", "outcome:         posted",
               "rule:            it", "in thread #" + std::to_string(thread_id_) + " [it] \"VPN drops\"",
               "acknowledgement to alice@example.com <ack.", "notification to it-team@example.com <post.",
               "pending, 0 attempts"});
  }
  // A rejected message's notice is found through its own Message-ID.
  auto rejected = Ops("trace", "'<r1@outside.example>' --json");
  ASSERT_EQ(rejected.exit_code, 0) << rejected.output;
  const json j = json::parse(rejected.output);
  ASSERT_EQ(j["inbound"].size(), 1u);
  EXPECT_EQ(j["inbound"][0]["outcome"], "rejected");
  EXPECT_EQ(j["inbound"][0]["rule"], "outsiders");
  ASSERT_EQ(j["inbound"][0]["outbox"].size(), 1u);
  EXPECT_EQ(j["inbound"][0]["outbox"][0]["kind"], "rejection");
  EXPECT_EQ(j["inbound"][0]["outbox"][0]["recipient"], "mallory@outside.example");

  // Our own outbound Message-ID leads back to its post.
  const std::string ours = Scalar("SELECT message_id FROM posts ORDER BY id LIMIT 1");
  ExpectRun(Ops("trace", ShellQuote("<" + ours + ">")), 0, {"our Message-ID of post #"});
  EXPECT_EQ(Ops("trace", "'<nobody@nowhere>'").exit_code, 1);
}

TEST_F(OperationsTest, TraceByAddressShowsInboundBounceScoreAndOutbox) {
  ExpectRun(Ops("trace", "Alice@Example.com"), 0,
            {"address alice@example.com", "bounce score:    0.25 (0 hard, 1 soft)", "mailboxfull",
             "inbound #" + InboundId(1), "acknowledgement to alice@example.com"});

  auto as_json = Ops("trace", "alice@example.com --json");
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  const json trace = json::parse(as_json.output);
  EXPECT_EQ(trace["inbound"].size(), 1u);
  EXPECT_DOUBLE_EQ(trace["suppression"]["bounce_score"].get<double>(), 0.25);
  EXPECT_EQ(trace["outbox"].size(), 1u);

  ExpectRun(Ops("trace", "nobody@example.com"), 1, {"nothing is recorded"});
}

TEST_F(OperationsTest, QuarantineListAndShowGiveTheRawBytesBack) {
  ExpectRun(Ops("quarantine", "list"), 0,
            {"2 quarantined message(s)", "#" + InboundId(3) + "  help UID 3", "reason: not an email",
             "carol@example.com", "reason: rule spoofed"});

  // Options after the subcommand work too.
  auto as_json = RunCommand(Ctl("quarantine list --json -c " + ShellQuote(config_)));
  ASSERT_EQ(as_json.exit_code, 0) << as_json.output;
  const json j = json::parse(as_json.output);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["from"], "carol@example.com");
  EXPECT_EQ(j[1]["size"], std::string(kSpoofed).size());

  // The description goes to stderr, the raw bytes alone to stdout.
  const std::string out = dir_ + "/shown.eml";
  ExpectRun(Ops("quarantine", "show " + InboundId(3) + " >" + ShellQuote(out)), 0, {"not an email"});
  EXPECT_EQ(mftest::ReadFile(out), kPoison);

  ExpectRun(Ops("quarantine", "show " + InboundId(1)), 1, {"not quarantined (posted)"});
  EXPECT_EQ(Ops("quarantine", "show 999999").exit_code, 1);
}

TEST_F(OperationsTest, QuarantineRetryPostsOnceTheRuleIsGone) {
  const std::string spoofed = InboundId(4);
  const std::string before = DatabaseState();

  // Poison stays poison; with the rule still configured the message stays too. Nothing changes.
  ExpectRun(Ops("quarantine", "retry " + InboundId(3)), 0, {"still quarantined (not an email"});
  ExpectRun(Ops("quarantine", "retry " + spoofed), 0, {"still quarantined (rule spoofed)"});
  EXPECT_EQ(DatabaseState(), before);

  // The operator removes the rule; the message is posted as ingestion would post it.
  std::string text = mftest::ReadFile(config_);
  const size_t from = text.find("      - name: spoofed");
  const size_t to = text.find("      - name: action-items");
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  text.erase(from, to - from);
  const std::string relaxed = dir_ + "/relaxed.yaml";
  mftest::WriteFile(relaxed, text, 0644);

  auto retried = Ops("quarantine", "retry " + spoofed + " --json", relaxed);
  ASSERT_EQ(retried.exit_code, 0) << retried.output;
  const json j = json::parse(retried.output);
  EXPECT_EQ(j["changed"], true);
  EXPECT_EQ(j["outcome"], "posted");
  EXPECT_EQ(j["rule"], "it");
  ASSERT_TRUE(j["post_id"].is_number()) << retried.output;
  const std::string post_id = std::to_string(j["post_id"].get<int64_t>());

  const std::string row = " FROM inbound_messages WHERE id = " + spoofed;
  EXPECT_EQ(Scalar("SELECT outcome || ' ' || rule || ' ' || uidvalidity || ' ' || uid" + row),
            "posted it 7 4");
  EXPECT_EQ(Scalar("SELECT post_id" + row), post_id);
  EXPECT_EQ(Scalar("SELECT raw IS NULL" + row), "t");
  EXPECT_EQ(Scalar("SELECT message_key" + row), "spoof1@client.example carol@example.com");
  EXPECT_TRUE(Contains(Scalar("SELECT reason" + row), "(retried from quarantine; was: rule spoofed)"));
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages"), "6");  // the same row, not a new one
  EXPECT_EQ(Scalar("SELECT c.slug || ' ' || t.subject FROM posts p JOIN threads t ON t.id = p.thread_id "
                   "JOIN categories c ON c.id = t.category_id WHERE p.id = " +
                   post_id),
            "it Laptop broken");
  EXPECT_EQ(
      Scalar("SELECT string_agg(kind || ' ' || recipient, ', ' ORDER BY kind) FROM outbox WHERE post_id = " +
             post_id),
      // Carol has no trusted DMARC pass: no acknowledgement to a From anyone could write (issue 8 item 8).
      "notification it-team@example.com");
  // Replies to the message now find its thread.
  EXPECT_EQ(Scalar("SELECT count(*) FROM message_ids WHERE message_id = 'spoof1@client.example'"), "1");

  EXPECT_FALSE(Contains(Ops("quarantine", "list", relaxed).output, "carol@example.com"));
  ExpectRun(Ops("quarantine", "retry " + spoofed, relaxed), 1, {"not quarantined (posted)"});
}

}  // namespace
