// Issue 8's acceptance for forged mail, on the real Dovecot, PostgreSQL and
// SMTP sink of scripts/test: forged bounces score nobody and the next answer
// still reaches the address they named, while a real bounce to our VERP
// return path still scores its recipient; forged auto-replies from one domain
// do not pause our mail to it; and a rejected stranger without a DMARC pass
// gets no rejection notice (no backscatter).
//
// What the sink received is read from its spool (MAILFORUM_TEST_SMTP_SPOOL/new:
// each message and its envelope as NAME.json); every test mails addresses of
// a domain of its own, so tests never see each other's mail.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "base/ascii.h"
#include "daemon/mailbox_worker.h"
#include "daemon/outbox_worker.h"
#include "daemon/sink_itest_support.h"
#include "daemon/worker_itest_support.h"
#include "forum/store.h"
#include "mail/mime_parser.h"
#include "mail/reply_token.h"
#include "tests/support/subprocess.h"

namespace mailforumd {
namespace {

using itest::kReplyKey;
using itest::kReplyTemplate;
using itest::UniqueName;
using std::chrono::milliseconds;

using itest::kBounceTemplate;

// A delivery status notification from a remote MTA, sent to `to`, saying
// that each of `failed` does not exist (a hard failure).
std::string HardBounce(const std::string& to, const std::vector<std::string>& failed, const std::string& id) {
  std::string report = "Reporting-MTA: dns; mx.remote.example\r\n";
  for (const std::string& address : failed) {
    report += "\r\nFinal-Recipient: rfc822; " + address +
              "\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <" + address +
              ">: user unknown\r\n";
  }
  return itest::MailHeaders("Mail Delivery System <MAILER-DAEMON@mx.remote.example>", to,
                            "Undelivered Mail Returned to Sender", id) +
         "Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"\r\n\r\n"
         "--dsn\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
         "--dsn\r\nContent-Type: message/delivery-status\r\n\r\n" +
         report + "\r\n--dsn--\r\n";
}

class ForgedMailTest : public itest::SinkTest {
 protected:
  ForgedMailTest() : itest::SinkTest("forged") {}
};

// Three forged DSNs (to help@, not to a return path of ours) list the
// watcher as a hard failure: before issue 8 they reached suppress_score and
// silenced the watcher. Now the watcher's score stays unset and the next
// answer reaches them; a real DSN to our VERP return path still scores its
// recipient, and only that one.
TEST_F(ForgedMailTest, ForgedBouncesSilenceNobodyAndARealOneStillCounts) {
  const std::string asker = "alice@" + domain_;
  const std::string question_id = UniqueName("q") + "@alice.example";
  Append(help_user_, {itest::Mail(asker, "VPN drops", question_id, "The VPN drops every hour.")});
  Ingest();
  EXPECT_EQ(Send().sent, 2);  // the acknowledgement and the watcher's notification
  const auto notified = WaitForMail(watcher_, 1);
  ASSERT_EQ(notified.size(), 1u);

  // The watcher answers: a participant now, so the asker's next post is an answer to them.
  Append(help_user_, {itest::MailHeaders(watcher_, notified[0].message.reply_to.at(0).address,
                                         "Re: VPN drops", UniqueName("a") + "@it.example") +
                      "Content-Type: text/plain\r\n\r\nUpdate the client to 5.2.\r\n"});
  Ingest();
  EXPECT_EQ(Send().sent, 1);

  std::vector<std::string> forged;
  for (int i = 0; i < 3; ++i) {
    forged.push_back(HardBounce("help@example.com", {watcher_, "helpdesk@" + domain_},
                                UniqueName("forged") + "@mx.remote.example"));
  }
  Append(help_user_, forged);
  Ingest();
  EXPECT_EQ(
      Scalar("SELECT count(*) FROM inbound_messages WHERE classification = 'bounce' AND outcome = 'machine' "
             "AND reason LIKE '%no score changed%" +
             watcher_ + " hard%'"),
      "3");
  EXPECT_EQ(Scalar("SELECT count(*) FROM suppressions"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE status = 'bounced'"), "0");

  // The asker's follow-up is an answer to the watcher, and it arrives.
  const std::string thread = Scalar("SELECT id FROM threads");
  Append(help_user_,
         {itest::MailHeaders(asker, mail::ReplyAddress(kReplyTemplate, std::stoull(thread), kReplyKey),
                             "Re: VPN drops", UniqueName("f") + "@alice.example") +
          "Content-Type: text/plain\r\n\r\nStill drops after the update.\r\n"});
  Ingest();
  const OutboxPassStats stats = Send();
  EXPECT_EQ(stats.sent, 1);
  EXPECT_EQ(stats.suppressed, 0);
  const auto to_watcher = WaitForMail(watcher_, 2);
  ASSERT_EQ(to_watcher.size(), 2u);
  EXPECT_NE(to_watcher[1].message.text_body.find("Still drops"), std::string::npos);
  EXPECT_EQ(Scalar("SELECT kind || ' ' || status FROM outbox WHERE recipient = '" + watcher_ +
                   "' ORDER BY id DESC LIMIT 1"),
            "answer sent");

  // A real DSN to the return path of that answer, naming the watcher and
  // (as some reports do) another address: the row is bounced and the
  // watcher alone scored.
  const std::string verp = to_watcher[1].mail_from;
  ASSERT_TRUE(mail::ParseVerpAddress(kBounceTemplate, verp, kReplyKey).has_value()) << verp;
  Append(help_user_,
         {HardBounce(verp, {watcher_, "ceo@" + domain_}, UniqueName("dsn") + "@mx.remote.example")});
  Ingest();
  EXPECT_EQ(Scalar("SELECT status FROM outbox WHERE id = " +
                   std::to_string(*mail::ParseVerpAddress(kBounceTemplate, verp, kReplyKey))),
            "bounced");
  EXPECT_EQ(
      Scalar(
          "SELECT string_agg(address || ' ' || bounce_score || ' ' || hard_bounces, ',') FROM suppressions"),
      watcher_ + " 1 1");
  // From the reporting MTA's domain: it counts for the loop breaker through the bounced row, by its
  // recipient.
  EXPECT_EQ(Scalar("SELECT tied_to_ours FROM inbound_messages ORDER BY id DESC LIMIT 1"), "f");
}

// 25 forged auto-replies "from" one domain used to pause automatic mail to
// the whole domain for an hour (the breaker trips at 20). The attacker here
// even sends them to the reply address and return path of an
// acknowledgement it got for its own question, In-Reply-To that
// acknowledgement: valid, but of mail that never went to the victim's
// domain. They are recorded as machine mail and ignored: a new question
// from that domain is acknowledged, and its watcher notified, at once.
TEST_F(ForgedMailTest, ForgedAutoRepliesFromADomainPauseNothing) {
  const std::string attacker = "mallory@" + domain_;
  Append(help_user_, {itest::Mail(attacker, "Hello", UniqueName("q") + "@mallory.example", "A question.")});
  Ingest();
  EXPECT_EQ(Send().sent, 2);
  const auto acks = WaitForMail(attacker, 1);
  ASSERT_EQ(acks.size(), 1u);
  const mail::Message& ack = acks[0].message;
  ASSERT_EQ(ack.reply_to.size(), 1u);

  const std::string victim_domain = UniqueName("corp") + ".example";
  std::vector<std::string> replies;
  for (int i = 0; i < 25; ++i) {
    const std::string to = i % 2 == 0 ? ack.reply_to[0].address : acks[0].mail_from;
    replies.push_back(
        itest::MailHeaders("person" + std::to_string(i % 4) + "@" + victim_domain, to,
                           "Automatic reply: out of office", UniqueName("ooo") + "@" + victim_domain,
                           "Auto-Submitted: auto-replied\r\nIn-Reply-To: <" + ack.message_id + ">\r\n") +
        "Content-Type: text/plain\r\n\r\nAway.\r\n");
  }
  Append(help_user_, replies);
  Ingest();
  ASSERT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'machine' AND NOT tied_to_ours"),
            "25");

  const std::string asker = "person0@" + victim_domain;
  auto store = forum::Store::Connect(dsn_);
  ASSERT_TRUE(store);
  for (const std::string& address : {asker, "boss@" + victim_domain}) {
    auto pause = (*store)->LoopPause(address, forum::LoopBreakerLimits{});
    ASSERT_TRUE(pause) << pause.error().message;
    EXPECT_FALSE(pause->has_value()) << address;
  }

  Append(help_user_,
         {itest::Mail(asker, "Printer jam", UniqueName("q") + "@" + victim_domain, "Paper everywhere.")});
  Ingest();
  const OutboxPassStats stats = Send();
  EXPECT_EQ(stats.held, 0);
  EXPECT_EQ(stats.sent, 2);  // the acknowledgement and the watcher's notification
  EXPECT_EQ(WaitForMail(asker, 1).size(), 1u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'"), "0");
}

// A stranger's message that a rule rejects gets a rejection notice only when
// its sender has a trusted DMARC pass: the From of an unverified message may
// be anyone's, and a notice to it would be backscatter.
TEST_F(ForgedMailTest, RejectedStrangersWithoutDmarcPassGetNoNotice) {
  WorkerOptions strict = Mailbox();
  strict.pipeline.notify_unverified_senders = false;
  forum::Rule reject_all;
  reject_all.name = "closed";
  reject_all.action = forum::RuleAction::kReject;
  reject_all.reason = "This address is closed.";
  strict.pipeline.rules = {reject_all};
  const std::string victim = "victim@" + domain_;
  const std::string verified = "real@" + domain_;
  Append(help_user_,
         {itest::Mail(victim, "You won", UniqueName("s") + "@spam.example", "Claim it."),
          itest::Mail(verified, "A question", UniqueName("r") + "@real.example", "Hello.",
                      "Authentication-Results: mx.example.com; dmarc=pass header.from=" + domain_ + "\r\n")});
  Ingest(strict);
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'rejected'"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE from_address = '" + victim +
                   "' AND reason LIKE '%no rejection sent: the sender is not verified (dmarc=none)%'"),
            "1");
  EXPECT_EQ(Scalar("SELECT string_agg(kind || ' ' || recipient, ',') FROM outbox"), "rejection " + verified);
  EXPECT_EQ(Send().sent, 1);
  // The sink had accepted everything when Send() returned: the victim's mail would be there.
  EXPECT_EQ(WaitForMail(verified, 1).size(), 1u);
  EXPECT_TRUE(MailedTo(victim).empty());
}

}  // namespace
}  // namespace mailforumd
