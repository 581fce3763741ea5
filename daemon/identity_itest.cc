// Issue 8 item 5 on the real Dovecot and PostgreSQL: a thread command needs
// the thread author's From address AND a trusted DMARC pass. A reply with
// `#resolved` and the author's From but no trusted pass leaves the thread
// open (the line stays in the post and the inbound row says why); the same
// reply with our MTA's `Authentication-Results: mx.example.com; dmarc=pass`
// on top resolves it.
#include <gtest/gtest.h>

#include <string>

#include "daemon/mailbox_worker.h"
#include "daemon/worker_itest_support.h"

namespace mailforumd {
namespace {

using itest::Mail;
using itest::UniqueName;

// What our receiving MTA prepends when DMARC passed for example.com.
constexpr char kGenuinePass[] =
    "Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n";

class IdentityTest : public itest::WorkerTest {
 protected:
  IdentityTest() : WorkerTest("identity") {}

  WorkerOptions IdentityOptions(const std::string& user) const {
    WorkerOptions o = Options("identity", user);
    o.pipeline.trusted_authserv_ids = {"mx.example.com"};
    return o;
  }

  std::string Inbound(const std::string& column, const std::string& message_id) const {
    return Scalar("SELECT " + column + " FROM inbound_messages WHERE message_id = '" + message_id + "'");
  }
};

TEST_F(IdentityTest, ResolvedNeedsTheAuthorsFromAndATrustedDmarcPass) {
  const std::string user = UniqueName("identity");
  MailboxWorker worker(IdentityOptions(user));
  Append(user,
         {kGenuinePass + Mail("Alice <alice@example.com>", "Printer on fire", "q@alice.example", "Help!")});
  ASSERT_TRUE(worker.RunOnce().ok());
  const std::string thread = Scalar("SELECT id FROM threads");
  ASSERT_FALSE(thread.empty());
  EXPECT_EQ(Scalar("SELECT status FROM threads"), "open");

  // Alice's From, but no trusted pass: only a sender-written "pass" from a
  // stranger's authserv-id, and a forged trusted one below our MTA's field,
  // which reports no DMARC result.
  const std::string unproven =
      "Authentication-Results: mx.example.com; spf=pass smtp.mailfrom=alice@example.com\r\n" +
      Mail("Alice <alice@example.com>", "Re: Printer on fire", "r1@alice.example", "It is out.\r\n#resolved",
           "In-Reply-To: <q@alice.example>\r\n"
           "Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n"
           "Authentication-Results: relay.evil.test; dmarc=pass header.from=example.com\r\n");
  Append(user, {unproven});
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Inbound("outcome", "r1@alice.example"), "posted");
  EXPECT_EQ(Scalar("SELECT status FROM threads WHERE id = " + thread), "open");
  const std::string reason = Inbound("reason", "r1@alice.example");
  EXPECT_NE(reason.find("#resolved not applied: sender not proven (dmarc=none"), std::string::npos) << reason;
  EXPECT_EQ(Scalar("SELECT p.body FROM posts p JOIN inbound_messages i ON i.post_id = p.id "
                   "WHERE i.message_id = 'r1@alice.example'"),
            "It is out.\n#resolved");

  // The same reply as our MTA delivers it when DMARC passed: resolved.
  Append(user, {kGenuinePass + Mail("Alice <alice@example.com>", "Re: Printer on fire", "r2@alice.example",
                                    "It is out.\r\n#resolved", "In-Reply-To: <q@alice.example>\r\n")});
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT status FROM threads WHERE id = " + thread), "resolved");
  const std::string resolved = Inbound("reason", "r2@alice.example");
  EXPECT_NE(resolved.find("thread " + thread + " resolved by its author"), std::string::npos) << resolved;
  EXPECT_EQ(Count(user, "INBOX"), 0u);
}

TEST_F(IdentityTest, APassForSomeoneElsesAddressResolvesNothing) {
  const std::string user = UniqueName("identity");
  MailboxWorker worker(IdentityOptions(user));
  Append(user, {Mail("Alice <alice@example.com>", "Printer on fire", "q@alice.example", "Help!")});
  ASSERT_TRUE(worker.RunOnce().ok());
  const std::string thread = Scalar("SELECT id FROM threads");
  ASSERT_FALSE(thread.empty());

  // Bob is proven, but he did not open the thread; and a From with two
  // addresses, one of them Alice's, is proof of nobody.
  Append(user, {kGenuinePass + Mail("bob@example.com", "Re: Printer on fire", "b1@bob.example", "#resolved",
                                    "In-Reply-To: <q@alice.example>\r\n"),
                kGenuinePass + Mail("alice@example.com, bob@example.com", "Re: Printer on fire",
                                    "b2@bob.example", "#resolved", "In-Reply-To: <q@alice.example>\r\n")});
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Inbound("outcome", "b1@bob.example"), "posted");
  EXPECT_NE(Inbound("reason", "b1@bob.example").find("not the thread's author"), std::string::npos);
  // Each post records whether its author is proven.
  const std::string verified = "SELECT p.author_verified FROM posts p JOIN inbound_messages i ON i.post_id = p.id "
                               "WHERE i.message_id = ";
  EXPECT_EQ(Scalar(verified + "'b1@bob.example'"), "t");
  EXPECT_EQ(Scalar(verified + "'b2@bob.example'"), "f");
  EXPECT_EQ(Inbound("outcome", "b2@bob.example"), "posted");
  EXPECT_NE(Inbound("reason", "b2@bob.example").find("sender not proven"), std::string::npos);
  EXPECT_NE(Scalar("SELECT status FROM threads WHERE id = " + thread), "resolved");
}

}  // namespace
}  // namespace mailforumd
