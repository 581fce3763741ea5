// The outbox worker against the real SMTP sink, Dovecot and PostgreSQL of
// scripts/test (issue 5's acceptance): the round trip from a question to the
// watcher's reply and back to the asker, threaded in both mail clients;
// transient and permanent SMTP failures; two workers on one outbox; DSN
// bounces to our VERP address and suppression; auto-replies that must not
// loop; and mailforumd killed with SIGKILL during a burst of 1,000 mails.
//
// What the sink received is read from its spool (MAILFORUM_TEST_SMTP_SPOOL/new:
// each message and its envelope as NAME.json); every test mails addresses of
// its own, so tests never see each other's mail.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "base/ascii.h"
#include "daemon/mailbox_worker.h"
#include "daemon/outbox_worker.h"
#include "daemon/sink_itest_support.h"
#include "daemon/worker_itest_support.h"
#include "forum/store.h"
#include "mail/composer.h"
#include "mail/mime_parser.h"
#include "mail/reply_token.h"
#include "tests/support/subprocess.h"

namespace mailforumd {
namespace {

using itest::kReplyKey;
using itest::kReplyTemplate;
using itest::UniqueName;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

using itest::kBounceTemplate;
using itest::Received;

std::string Lower(const std::string& s) { return base::AsciiLower(s); }

// The header value of `name` in `m`, or "".
std::string HeaderOf(const mail::Message& m, std::string_view name) {
  const std::string* value = m.Header(name);
  return value == nullptr ? "" : *value;
}

std::string Angled(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "<" : " <") + id + ">";
  return out;
}

// A person's reply to `to_what`, as a mail client makes it: to its Reply-To,
// In-Reply-To its Message-ID, References its References and its Message-ID,
// "Re: " its subject, the new text above the quoted original.
std::string ReplyTo(const mail::Message& to_what, const std::string& from, const std::string& message_id,
                    const std::string& text, const std::string& extra_headers = "") {
  std::vector<std::string> references = to_what.references;
  references.push_back(to_what.message_id);
  std::string quoted;
  std::istringstream lines(to_what.text_body);
  for (std::string line; std::getline(lines, line);) quoted += "> " + line + "\r\n";
  const std::string to = to_what.reply_to.empty() ? to_what.from->address : to_what.reply_to.front().address;
  return itest::MailHeaders(
             from, to, mail::ReplySubject(to_what.subject), message_id,
             "In-Reply-To: <" + to_what.message_id + ">\r\nReferences: " + Angled(references) + "\r\n" +
                 extra_headers) +
         "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text +
         "\r\n\r\nOn Wed, 25 Nov 2026, someone wrote:\r\n" + quoted;
}

// A delivery status notification from a remote MTA, sent to `to` (our VERP
// return path), saying that `recipient` does not exist.
std::string HardBounce(const std::string& to, const std::string& recipient, const std::string& message_id) {
  return itest::MailHeaders("Mail Delivery System <MAILER-DAEMON@mx.remote.example>", to,
                            "Undelivered Mail Returned to Sender", message_id) +
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\r\n\r\n"
         "--dsn\r\nContent-Type: text/plain\r\n\r\nI'm sorry, your message could not be delivered.\r\n"
         "--dsn\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.remote.example\r\n\r\n"
         "Final-Recipient: rfc822; " +
         recipient + "\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <" + recipient +
         ">: user unknown\r\n\r\n--dsn--\r\n";
}

class OutboxWorkerTest : public itest::SinkTest {
 protected:
  OutboxWorkerTest() : itest::SinkTest("outbox") {}

  // A configuration for mailforumd and mailforumctl on this test's database,
  // sink and help mailbox (`outbox` is the body of its outbox section).
  // `outbox` is the body of the outbox section; `extra` more top-level YAML.
  std::string WriteConfig(const std::string& outbox, const std::string& extra = "") const {
    const std::string dir = mftest::MakeTempDir("mfoutbox");
    mftest::WriteFile(dir + "/db.dsn", dsn_ + "\n");
    mftest::WriteFile(dir + "/imap.pass", servers_.imap_password + "\n");
    mftest::WriteFile(dir + "/reply.key", std::string(kReplyKey) + "\n");
    const std::string config = dir + "/mailforum.yaml";
    mftest::WriteFile(
        config,
        "instance: {name: Acme Help, base_url: 'https://help.example.com', domain: help.example}\n"
        "database: {dsn_file: db.dsn}\n"
        "secrets: {reply_key_file: reply.key}\n"
        "smtp: {host: localhost, port: " +
            std::to_string(smtp_port_) + ", tls: starttls, ca_file: " + servers_.ca_file +
            ", from: 'Acme Help <help@example.com>', reply_to: 'help+{token}@example.com'}\n"
            "categories: [{slug: general, name: General}, {slug: it, name: IT}]\n"
            "mailboxes:\n"
            "  - name: help\n"
            "    imap: {host: localhost, port: " +
            std::to_string(servers_.imaps_port) + ", tls: implicit, ca_file: " + servers_.ca_file +
            ", username: " + help_user_ +
            ", password_file: imap.pass, poll_interval: 1s}\n"
            "    after: {action: move, folder: Processed}\n"
            "    rules: [{name: all, action: thread, category: general}]\n"
            "outbox: {" +
            outbox + "}\n" + extra,
        0644);
    return config;
  }

  // mailforumctl GROUP -c CONFIG ARGS.
  static mftest::CommandResult Ctl(const std::string& group, const std::string& config,
                                   const std::string& args) {
    return mftest::RunCommand(std::string(MAILFORUMCTL_PATH) + " " + group + " -c " +
                              mftest::ShellQuote(config) + " " + args + " 2>&1");
  }

};

// Issue 5's round trip: question → thread → watcher → the watcher's real
// reply → the asker, threaded under their question → the asker's reply →
// the same thread → the watcher.
TEST_F(OutboxWorkerTest, RoundTripFromQuestionToWatcherAndBackToTheAsker) {
  const std::string asker = "alice@" + domain_;
  const std::string question_id = UniqueName("question") + "@alice.example";
  Append(help_user_, {itest::Mail("Alice <" + asker + ">", "VPN is down again", question_id,
                                  "Since this morning the VPN refuses my password.")});
  Ingest();
  ASSERT_EQ(Scalar("SELECT count(*) FROM threads"), "1");
  const std::string thread = Scalar("SELECT id FROM threads");
  const OutboxPassStats first = Send();
  EXPECT_EQ(first.sent, 2);  // the acknowledgement and the notification

  // The watcher's copy: the question, with the thread's signed Reply-To.
  const auto notified = WaitForMail(watcher_, 1);
  ASSERT_EQ(notified.size(), 1u);
  const mail::Message& notification = notified[0].message;
  EXPECT_EQ(notification.subject, "VPN is down again");
  EXPECT_NE(notification.text_body.find("refuses my password"), std::string::npos);
  ASSERT_EQ(notification.reply_to.size(), 1u);
  EXPECT_EQ(notification.reply_to[0].address,
            mail::ReplyAddress(kReplyTemplate, std::stoull(thread), kReplyKey));
  EXPECT_EQ(HeaderOf(notification, "Auto-Submitted"), "auto-generated");
  EXPECT_NE(HeaderOf(notification, "List-Id").find("<it.help.example>"), std::string::npos);
  EXPECT_EQ(mail::ParseVerpAddress(kBounceTemplate, notified[0].mail_from, kReplyKey),
            std::stoll(Scalar("SELECT id FROM outbox WHERE kind = 'notification'")));
  // The asker's acknowledgement answers their question.
  const auto acknowledged = WaitForMail(asker, 1);
  ASSERT_EQ(acknowledged.size(), 1u);
  EXPECT_EQ(acknowledged[0].message.in_reply_to, std::vector<std::string>{question_id});
  EXPECT_EQ(HeaderOf(acknowledged[0].message, "Auto-Submitted"), "auto-replied");

  // The watcher replies from their copy.
  Append(help_user_, {ReplyTo(notification, "IT Team <" + watcher_ + ">", "answer1@it.example",
                              "Your password expired; reset it at https://id.example.com and reconnect.")});
  Ingest();
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE thread_id = " + thread), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), "1");
  EXPECT_EQ(Send().sent, 1);  // the answer to the asker; the watcher wrote it

  // The asker receives it under the question they sent.
  const auto answers = WaitForMail(asker, 2);
  ASSERT_EQ(answers.size(), 2u);
  const mail::Message& answer = answers[1].message;
  EXPECT_EQ(answer.in_reply_to, std::vector<std::string>{question_id});
  EXPECT_EQ(answer.references, std::vector<std::string>{question_id});
  EXPECT_EQ(answer.message_id, Scalar("SELECT message_id FROM posts WHERE thread_id = " + thread +
                                      " ORDER BY id OFFSET 1 LIMIT 1"));
  EXPECT_EQ(answer.subject, "Re: VPN is down again");
  ASSERT_TRUE(answer.from.has_value());
  EXPECT_EQ(answer.from->name, "IT Team via Acme Help");
  EXPECT_NE(answer.text_body.find("Your password expired"), std::string::npos);
  EXPECT_EQ(answer.text_body.find("refuses my password"), std::string::npos)
      << "the quoted history was re-sent";

  // The asker replies to the answer: it joins the thread and reaches the watcher.
  Append(help_user_,
         {ReplyTo(answer, "Alice <" + asker + ">", "thanks@alice.example", "That worked, thank you!")});
  Ingest();
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE thread_id = " + thread), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), "1");
  EXPECT_EQ(Send().sent, 1);
  const auto to_watcher = WaitForMail(watcher_, 2);
  ASSERT_EQ(to_watcher.size(), 2u);
  const mail::Message& followup = to_watcher[1].message;
  EXPECT_NE(followup.text_body.find("That worked"), std::string::npos);
  EXPECT_EQ(followup.in_reply_to, std::vector<std::string>{notification.message_id});
  EXPECT_EQ(followup.subject, "Re: VPN is down again");
  // Nobody got their own words back.
  EXPECT_EQ(Mailed()[Lower(asker)].size(), 2u);
}

TEST_F(OutboxWorkerTest, TransientFailuresRetryUntilAcceptedWithTheSameMessage) {
  // The sink refuses this recipient with 451 twice, then accepts.
  const std::string asker = "flaky2-" + UniqueName("bob") + "@" + domain_;
  Append(help_user_,
         {itest::Mail(asker, "Printer jammed", UniqueName("q") + "@bob.example", "Paper stuck.")});
  Ingest();
  const std::string row = " FROM outbox WHERE kind = 'acknowledgement'";

  OutboxPassStats stats = Send();
  EXPECT_EQ(stats.retried, 1);
  EXPECT_EQ(Scalar("SELECT status || ' ' || attempts || ' ' || last_reply_code" + row), "pending 1 451");
  const std::string payload = Scalar("SELECT encode(payload, 'hex')" + row);
  ASSERT_FALSE(payload.empty()) << "the composed message was not saved at the first attempt";

  const auto deadline = steady_clock::now() + std::chrono::seconds(15);
  while (Scalar("SELECT status" + row) == "pending" && steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    Send();
  }
  EXPECT_EQ(Scalar("SELECT status || ' ' || attempts" + row), "sent 3");
  const auto got = WaitForMail(asker, 1);
  ASSERT_EQ(got.size(), 1u) << "delivered once";
  EXPECT_EQ(got[0].message.message_id, Scalar("SELECT message_id" + row));
  // Byte for byte what the first attempt composed and saved.
  std::string hex;
  for (unsigned char c : got[0].raw) {
    static const char kHex[] = "0123456789abcdef";
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  EXPECT_EQ(hex, payload);
  EXPECT_EQ(Scalar("SELECT encode(payload, 'hex')" + row), payload);
}

TEST_F(OutboxWorkerTest, TransientFailuresPastTheMaxAgeFailForGood) {
  const std::string asker = "defer451-" + UniqueName("erin") + "@" + domain_;  // always 451
  Append(help_user_, {itest::Mail(asker, "Hello", UniqueName("q") + "@erin.example", "Anyone there?")});
  Ingest();
  OutboxOptions options = Outbox();
  options.max_age = milliseconds(1500);
  const std::string row = " FROM outbox WHERE kind = 'acknowledgement'";
  const auto deadline = steady_clock::now() + std::chrono::seconds(15);
  while (Scalar("SELECT status" + row) == "pending" && steady_clock::now() < deadline) {
    auto stats = OutboxWorker(options).RunOnce();
    ASSERT_TRUE(stats.ok()) << stats.error().message;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(Scalar("SELECT status || ' ' || last_reply_code" + row), "failed 451");
  EXPECT_GE(std::stoi(Scalar("SELECT attempts" + row)), 2);
  EXPECT_NE(Scalar("SELECT last_error" + row).find("over max_age"), std::string::npos);
}

TEST_F(OutboxWorkerTest, PermanentFailureIsNotRetriedAndIsListed) {
  const std::string asker = "reject550-" + UniqueName("carol") + "@" + domain_;
  Append(help_user_, {itest::Mail(asker, "Hello", UniqueName("q") + "@carol.example", "Anyone there?")});
  Ingest();
  EXPECT_EQ(Send().failed, 1);
  const std::string row = " FROM outbox WHERE kind = 'acknowledgement'";
  EXPECT_EQ(Scalar("SELECT status || ' ' || attempts || ' ' || last_reply_code" + row), "failed 1 550");
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(Send().failed, 0);
  EXPECT_EQ(Scalar("SELECT attempts" + row), "1");

  auto store = forum::Store::Connect(dsn_);
  ASSERT_TRUE(store);
  auto failed = (*store)->ListOutbox({"failed"}, 100);
  ASSERT_TRUE(failed);
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].recipient, Lower(asker));
  EXPECT_EQ((*failed)[0].last_reply_code, 550);
  EXPECT_NE((*failed)[0].last_error.find("recipient rejected"), std::string::npos) << (*failed)[0].last_error;

  // What the admin sees.
  const std::string config = WriteConfig("");
  const std::string id = std::to_string((*failed)[0].id);
  auto listed = Ctl("outbox", config, "list --status failed");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("#" + id + " acknowledgement to " + Lower(asker)), std::string::npos)
      << listed.output;
  EXPECT_NE(listed.output.find("failed, 1 attempt"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("last error: 550 "), std::string::npos) << listed.output;
  auto unsent = Ctl("outbox", config, "list --json");
  EXPECT_EQ(unsent.exit_code, 0);
  EXPECT_NE(unsent.output.find("\"last_reply_code\": 550"), std::string::npos) << unsent.output;
  EXPECT_EQ(Ctl("outbox", config, "list --status lost").exit_code, 64);

  // `outbox retry` requeues it with its Message-ID; the sink refuses it again.
  const std::string message_id = Scalar("SELECT message_id" + row);
  auto retried = Ctl("outbox", config, "retry " + id);
  EXPECT_EQ(retried.exit_code, 0) << retried.output;
  EXPECT_EQ(Scalar("SELECT status || ' ' || attempts" + row), "pending 0");
  auto again = Ctl("outbox", config, "retry " + id);
  EXPECT_EQ(again.exit_code, 1) << "a pending row cannot be requeued: " << again.output;
  EXPECT_NE(again.output.find("still pending"), std::string::npos) << again.output;
  EXPECT_EQ(Ctl("outbox", config, "retry 999999").exit_code, 1);
  EXPECT_EQ(Send().failed, 1);
  EXPECT_EQ(Scalar("SELECT status || ' ' || attempts || ' ' || message_id" + row), "failed 1 " + message_id);
}

TEST_F(OutboxWorkerTest, TwoWorkersShareOneOutboxAndSendEachMailOnce) {
  constexpr int kMails = 300;
  ASSERT_EQ(Scalar("INSERT INTO outbox (kind, recipient, message_id) SELECT 'rejection', 'r' || i || '@" +
                   domain_ + "', 'reject.' || i || '.x@help.example' FROM generate_series(1, " +
                   std::to_string(kMails) + ") i"),
            "");
  OutboxOptions options = Outbox();
  options.batch = 10;
  OutboxWorker a(options), b(options);
  std::thread ta([&] { a.Run(); });
  std::thread tb([&] { b.Run(); });
  const bool done = WaitForScalar("SELECT count(*) FROM outbox WHERE status = 'sent'", std::to_string(kMails),
                                  std::chrono::seconds(60));
  a.Stop();
  b.Stop();
  ta.join();
  tb.join();
  ASSERT_TRUE(done);
  const auto mailed = Mailed();
  size_t total = 0;
  for (const auto& [address, got] : mailed) total += got.size();
  EXPECT_EQ(mailed.size(), static_cast<size_t>(kMails));
  EXPECT_EQ(total, static_cast<size_t>(kMails)) << "some mail was sent twice";
  EXPECT_EQ(Scalar("SELECT max(attempts) FROM outbox"), "1");
}

TEST_F(OutboxWorkerTest, BouncesToOurReturnPathRaiseTheScoreAndSuppressTheAddress) {
  // Three questions from an address that turns out not to exist: three acknowledgements, three DSNs.
  const std::string asker = "gone@" + domain_;
  for (int i = 0; i < 3; ++i) {
    Append(help_user_, {itest::Mail(asker, "Question " + std::to_string(i), UniqueName("q") + "@gone.example",
                                    "Text " + std::to_string(i))});
  }
  Ingest();
  EXPECT_EQ(Send().sent, 6);  // three acknowledgements, three notifications
  const auto acks = WaitForMail(asker, 3);
  ASSERT_EQ(acks.size(), 3u);
  std::vector<std::string> bounces;
  for (const Received& ack : acks) {
    ASSERT_TRUE(mail::ParseVerpAddress(kBounceTemplate, ack.mail_from, kReplyKey).has_value())
        << ack.mail_from;
    bounces.push_back(HardBounce(ack.mail_from, asker, UniqueName("dsn") + "@mx.remote.example"));
  }
  // A DSN to a forged return path marks nothing.
  std::string forged = acks[0].mail_from;
  forged[forged.find('-') + 1] = forged[forged.find('-') + 1] == 'a' ? 'b' : 'a';
  Append(help_user_, {HardBounce(forged, asker, UniqueName("dsn") + "@mx.remote.example")});
  Append(help_user_, {bounces[0]});
  Ingest();
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE status = 'bounced'"), "1");
  // One hard bounce: the forged one names no row of ours, so it scores nobody (issue 8 item 4).
  EXPECT_EQ(Scalar("SELECT bounce_score FROM suppressions WHERE address = '" + asker + "'"), "1");
  EXPECT_NE(Scalar("SELECT last_error FROM outbox WHERE status = 'bounced'").find("hard bounce"),
            std::string::npos);

  Append(help_user_, {bounces[1], bounces[2]});
  Ingest();
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE status = 'bounced'"), "3");
  EXPECT_EQ(Scalar("SELECT bounce_score >= 3 FROM suppressions WHERE address = '" + asker + "'"), "t");
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), "3") << "a bounce became a thread";

  // Past the threshold: the next acknowledgement is suppressed, not sent.
  Append(help_user_, {itest::Mail(asker, "Question 4", UniqueName("q") + "@gone.example", "Text 4")});
  Ingest();
  const OutboxPassStats stats = Send();
  EXPECT_EQ(stats.suppressed, 1);
  EXPECT_EQ(stats.sent, 1);  // the watcher's notification
  EXPECT_EQ(Scalar("SELECT status FROM outbox WHERE kind = 'acknowledgement' ORDER BY id DESC LIMIT 1"),
            "suppressed");
  EXPECT_EQ(Scalar("SELECT suppressed_at IS NOT NULL FROM suppressions WHERE address = '" + asker + "'"),
            "t");
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(Mailed()[asker].size(), 3u);

  // The admin sees the score, clears it, and requeues the suppressed mail.
  auto store = forum::Store::Connect(dsn_);
  ASSERT_TRUE(store);
  auto suppressed = (*store)->IsSuppressed(asker, 3.0);
  ASSERT_TRUE(suppressed);
  EXPECT_TRUE(*suppressed);
  const std::string config = WriteConfig("");
  auto listed = Ctl("suppressions", config, "list");
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("* " + asker + "  3 (3 hard, 0 soft)"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("suppressed since"), std::string::npos) << listed.output;
  auto cleared = Ctl("suppressions", config, "clear " + asker);
  EXPECT_EQ(cleared.exit_code, 0) << cleared.output;
  EXPECT_EQ(Ctl("suppressions", config, "clear " + asker).exit_code, 1);
  suppressed = (*store)->IsSuppressed(asker, 3.0);
  ASSERT_TRUE(suppressed);
  EXPECT_FALSE(*suppressed);
  EXPECT_EQ(
      Ctl("outbox", config, "retry " + Scalar("SELECT id FROM outbox WHERE status = 'suppressed'")).exit_code,
      0);
  EXPECT_EQ(Send().sent, 1);
  EXPECT_EQ(WaitForMail(asker, 4).size(), 4u);
}

TEST_F(OutboxWorkerTest, AnAutoReplyToANotificationIsNeitherPostedNorAnswered) {
  Append(help_user_, {itest::Mail("dave@" + domain_, "Laptop fan noise", UniqueName("q") + "@dave.example",
                                  "It sounds like a jet.")});
  Ingest();
  EXPECT_EQ(Send().sent, 2);
  const auto notified = WaitForMail(watcher_, 1);
  ASSERT_EQ(notified.size(), 1u);
  const mail::Message& notification = notified[0].message;

  // Out-of-office replies: Outlook's to the Reply-To, a vacation program's to the return path.
  std::string to_reply_to = ReplyTo(notification, watcher_, UniqueName("ooo") + "@it.example",
                                    "I am out of the office until Monday.");
  to_reply_to.insert(0, "Auto-Submitted: auto-replied\r\n");
  std::string to_return_path =
      itest::MailHeaders(watcher_, notified[0].mail_from, "Out of office: " + notification.subject,
                         UniqueName("vacation") + "@it.example", "Auto-Submitted: auto-replied\r\n") +
      "Content-Type: text/plain\r\n\r\nAway until Monday.\r\n";
  Append(help_user_, {to_reply_to, to_return_path});
  const std::string outbox_before = Scalar("SELECT count(*) FROM outbox");
  Ingest();
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox"), outbox_before);
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'machine'"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE status = 'bounced'"), "0");
  EXPECT_EQ(Send().sent, 0);
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(Mailed()[watcher_].size(), 1u);
}

// Issue 5 item 6: five auto-replies from the asker to the reply address of
// its thread (tied to our mail, issue 8 item 7) trip the loop circuit
// breaker; its acknowledgement is held back (pending, due after the
// cool-down, counted), while the answer a person wrote to them is sent.
TEST_F(OutboxWorkerTest, ALoopingAddressGetsNoAutomaticMailButStillGetsAnswers) {
  const std::string asker = "loopy@" + domain_;
  const std::string question_id = UniqueName("q") + "@loopy.example";
  Append(help_user_, {itest::Mail(asker, "Printer jam", question_id, "Paper everywhere.")});
  Ingest();
  const std::string thread = Scalar("SELECT id FROM threads");
  ASSERT_FALSE(thread.empty());
  const std::string reply_address =
      mail::ReplyAddress(kReplyTemplate, static_cast<uint64_t>(std::stoll(thread)), kReplyKey);
  std::vector<std::string> replies;
  for (int i = 0; i < 5; ++i) {
    replies.push_back(itest::MailHeaders(asker, reply_address, "Automatic reply",
                                         UniqueName("ooo") + "@loopy.example",
                                         "Auto-Submitted: auto-replied\r\n") +
                      "Content-Type: text/plain\r\n\r\nAway.\r\n");
  }
  Append(help_user_, replies);
  Ingest();
  ASSERT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'machine' AND tied_to_ours"), "5");
  Append(help_user_, {itest::Mail(watcher_, "Re: Printer jam", UniqueName("a") + "@it.example",
                                  "Open tray 2 and pull gently.", "In-Reply-To: <" + question_id + ">\r\n")});
  Ingest();
  ASSERT_EQ(Scalar("SELECT count(*) FROM outbox WHERE recipient = '" + asker + "'"), "2");

  OutboxWorker worker(Outbox());
  auto stats = worker.RunOnce();
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->held, 1);
  EXPECT_EQ(stats->sent, 2);  // the notification to the watcher and the answer to the asker
  EXPECT_EQ(worker.held_by_loop_breaker(), 1u);
  EXPECT_EQ(Scalar("SELECT status || ' ' || (next_attempt_at > now() + interval '50 minutes') || ' ' || attempts "
                   "FROM outbox WHERE kind = 'acknowledgement'"),
            "pending true 0");
  const auto got = WaitForMail(asker, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].message.text_body.find("pull gently"), std::string::npos);
}

// Issue 5 item 5: the asker's reply to an answer with `#accept` and
// `#resolved` lines only accepts that answer and resolves the thread, and
// makes no post; the same lines from someone else are an ordinary post.
TEST_F(OutboxWorkerTest, TheAskerAcceptsAnAnswerAndResolvesTheThreadByEmail) {
  const std::string asker = "erin@" + domain_;
  const std::string question_id = UniqueName("q") + "@erin.example";
  Append(help_user_, {itest::Mail(asker, "Disk full", question_id, "My disk is full.")});
  Ingest();
  Append(help_user_, {itest::Mail(watcher_, "Re: Disk full", UniqueName("a") + "@it.example",
                                  "Empty the trash.", "In-Reply-To: <" + question_id + ">\r\n")});
  Ingest();
  EXPECT_EQ(Send().sent, 3);
  const std::string thread = Scalar("SELECT id FROM threads");
  const std::string answer_post = Scalar("SELECT max(id) FROM posts");
  const auto got = WaitForMail(asker, 2);
  ASSERT_EQ(got.size(), 2u);
  const mail::Message& answer = got[1].message;

  Append(help_user_, {ReplyTo(answer, watcher_, UniqueName("w") + "@it.example", "#resolved")});
  Ingest();
  EXPECT_EQ(Scalar("SELECT status FROM threads"), "answered");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE body = '#resolved'"), "1");

  const std::string outbox_before = Scalar("SELECT count(*) FROM outbox");
  // The asker's own mail, with our MTA's DMARC pass for its domain: the commands act.
  const std::string pass = "Authentication-Results: mx.example.com; dmarc=pass header.from=" + domain_ + "\r\n";
  Append(help_user_, {ReplyTo(answer, "Erin <" + asker + ">", UniqueName("r") + "@erin.example",
                              "  #Accept\r\n#resolved", pass)});
  Ingest();
  EXPECT_EQ(Scalar("SELECT status || ' ' || coalesce(accepted_post_id::text, '-') FROM threads"),
            "resolved " + answer_post);
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE thread_id = " + thread), "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox"), outbox_before);
  EXPECT_EQ(Scalar("SELECT outcome FROM inbound_messages ORDER BY id DESC LIMIT 1"), "ignored");

  Append(help_user_,
         {ReplyTo(answer, asker, UniqueName("r") + "@erin.example", "It is full again.\r\n#reopen", pass)});
  Ingest();
  EXPECT_EQ(Scalar("SELECT status FROM threads"), "answered");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE body = 'It is full again.'"), "1");
}

// The real mailforumd, killed with SIGKILL at random moments while it sends
// 1,000 acknowledgements, then restarted at once: every mail arrives at least
// once, and a mail that arrives twice carries the same Message-ID both times.
// The lease is an hour: that the next run sends what a killed one had claimed
// is the claim owner's liveness (issue 13 item 3), never an expired lease.
TEST_F(OutboxWorkerTest, KilledDuringABurstOfAThousandMailsDeliversEveryOneAtLeastOnce) {
  constexpr int kMails = 1000;
  constexpr int kKills = 10;
  std::vector<std::string> questions;
  for (int i = 0; i < kMails; ++i) {
    questions.push_back(
        itest::Mail("asker" + std::to_string(i) + "@" + domain_, "Question " + std::to_string(i),
                    "burst-" + std::to_string(i) + "@" + domain_, "Number " + std::to_string(i)));
  }
  Append(help_user_, questions);
  {
    WorkerOptions o = Options("help", help_user_);  // no watchers: one acknowledgement per question
    o.batch_size = 200;
    MailboxWorker worker(o);
    ASSERT_TRUE(worker.RunOnce().ok());
  }
  ASSERT_EQ(Scalar("SELECT count(*) FROM outbox WHERE status = 'pending'"), std::to_string(kMails));

  // At debug level the worker logs each mail it has handed to the server ("…: sent <id>").
  const std::string config = WriteConfig("lease: 1h, batch: 20", "log: {level: debug}\n");
  const std::string sent_sql = "SELECT count(*) FROM outbox WHERE status = 'sent'";
  // Each run: start the daemon, wait until this run has handed its k-th mail to the server (k random, up
  // to two batches: k new "sent <" lines in the log), then kill it with SIGKILL. Events, however slow or
  // fast the machine: a fixed delay after the start killed it, on a loaded machine, before it had
  // connected, and a fixed delay after its first mail let a slow machine's run never commit a batch. A run
  // killed after more than one batch has committed that batch's fates first; one killed earlier leaves
  // its claims to the next run. k is at most what is left, so every run reaches its k-th mail.
  constexpr int kBatch = 20;
  std::mt19937 rng(std::random_device{}());
  const std::string log = mftest::ShellQuote(config + ".log");
  const std::string sent_lines = "grep -c ': sent <' " + log + " 2>/dev/null || true";
  int kills = 0, mid_burst_kills = 0, progressed = 0, sent = 0;
  while (mid_burst_kills < kKills && kills < 100) {
    const int k = std::uniform_int_distribution<int>(1, std::min(2 * kBatch, kMails - sent))(rng);
    auto r = mftest::RunCommand("before=$(" + sent_lines + "); target=$(( ${before:-0} + " +
                                std::to_string(k) + " )); " + std::string(MAILFORUMD_PATH) + " -c " +
                                mftest::ShellQuote(config) + " >>" + log +
                                " 2>&1 </dev/null & pid=$!; "
                                "while kill -0 $pid 2>/dev/null && [ \"$(" +
                                sent_lines +
                                ")\" -lt \"$target\" ]; "
                                "do sleep 0.005; done; kill -KILL $pid; wait $pid; echo rc=$?");
    ASSERT_NE(r.output.find("rc=137"), std::string::npos)
        << "the daemon was not running when killed: " << r.output;
    ++kills;
    const int now = std::stoi(Scalar(sent_sql));
    if (now < kMails) ++mid_burst_kills;  // it had sent k mails, and mail was left: it died in the burst
    if (now > sent) ++progressed;
    sent = now;
    if (sent == kMails) break;
  }
  std::printf(
      "%d kills, %d in the middle of the burst (%d after committing fates); %d of %d marked sent "
      "before the final run\n",
      kills, mid_burst_kills, progressed, sent, kMails);
  EXPECT_GE(mid_burst_kills, kKills) << "the burst ended before ten kills landed in it";

  // One clean run at once sends the rest, the last killed run's claims among them.
  const auto restarted = steady_clock::now();
  auto finish = mftest::RunCommand(std::string(MAILFORUMD_PATH) + " --once -c " + mftest::ShellQuote(config) +
                                   " >>" + log + " 2>&1; echo rc=$?");
  ASSERT_NE(finish.output.find("rc=0"), std::string::npos) << finish.output;
  const auto finished_in = std::chrono::duration_cast<milliseconds>(steady_clock::now() - restarted);
  EXPECT_EQ(Scalar(sent_sql), std::to_string(kMails));
  std::printf("the final run sent the %d mails left, the killed run's claims among them, in %lld ms\n",
              kMails - sent, static_cast<long long>(finished_in.count()));

  // Every mail arrived; duplicates carry their row's one Message-ID.
  std::map<std::string, std::string> message_ids;  // recipient -> the row's Message-ID
  {
    auto store = forum::Store::Connect(dsn_);
    ASSERT_TRUE(store);
    auto rows = (*store)->ListOutbox({}, 2 * kMails);
    ASSERT_TRUE(rows);
    for (const auto& row : *rows) message_ids[row.recipient] = row.message_id;
  }
  const auto mailed = Mailed();
  size_t total = 0, missing = 0, duplicated = 0, wrong_id = 0;
  for (const auto& [recipient, message_id] : message_ids) {
    auto it = mailed.find(recipient);
    if (it == mailed.end()) {
      ++missing;
      continue;
    }
    total += it->second.size();
    if (it->second.size() > 1) ++duplicated;
    for (const Received& r : it->second) wrong_id += r.message.message_id != message_id;
  }
  std::printf(
      "burst of %d mails, %d kills: %zu delivered, %zu duplicate deliveries (%zu mails arrived more than "
      "once), %zu missing, %zu with another Message-ID; %s mails were claimed by a killed daemon and taken "
      "over by the next run (lease 1 h)\n",
      kMails, kills, total, total - (message_ids.size() - missing), duplicated, missing, wrong_id,
      Scalar("SELECT count(*) FROM outbox WHERE attempts > 1").c_str());
  EXPECT_EQ(message_ids.size(), static_cast<size_t>(kMails));
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(wrong_id, 0u);
}

}  // namespace
}  // namespace mailforumd
