// MailboxWorker against the real Dovecot and PostgreSQL of scripts/test:
// mixed mail to threads, exactly once, poison quarantined, UIDVALIDITY
// resets, one message in two mailboxes, IDLE latency, two daemons on one
// mailbox, and a certificate that does not match.
#include "daemon/mailbox_worker.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "daemon/worker_itest_support.h"
#include "mail/reply_token.h"

namespace mailforumd {
namespace {

using itest::kReplyKey;
using itest::Mail;
using itest::UniqueName;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

class MailboxWorkerTest : public itest::WorkerTest {
 protected:
  MailboxWorkerTest() : WorkerTest("worker") {}
};

TEST_F(MailboxWorkerTest, MixedMailBecomesThreadsExactlyOnce) {
  const std::string user = UniqueName("mixed");
  std::vector<std::string> mail;
  for (int i = 0; i < 10; ++i) {
    mail.push_back(Mail("asker" + std::to_string(i) + "@example.com", i % 2 ? "VPN broken " + std::to_string(i)
                                                                           : "Printer " + std::to_string(i),
                        "q" + std::to_string(i) + "@client", "Question number " + std::to_string(i)));
  }
  // Replies that find their thread by References only.
  for (int i = 0; i < 5; ++i) {
    mail.push_back(Mail("helper@example.com", "Re: whatever", "r" + std::to_string(i) + "@client",
                        "Answer " + std::to_string(i) + "\r\n\r\nOn Wed, asker wrote:\r\n> Question",
                        "In-Reply-To: <q" + std::to_string(i) + "@client>\r\nReferences: <q" + std::to_string(i) +
                            "@client>\r\n"));
  }
  mail.push_back(Mail("asker1@example.com", "Automatic reply: out of office", "auto1@client", "I am away.",
                      "Auto-Submitted: auto-replied\r\n"));
  mail.push_back("this is not an email at all, just some bytes\r\n\x01\x02\x03\r\n");
  Append(user, mail);

  MailboxWorker worker(Options("mixed", user));
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), "10");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "15");
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads t JOIN categories c ON c.id = t.category_id WHERE c.slug = 'it'"),
            "5");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'machine'"), "1");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'quarantined' AND raw IS NOT NULL"), "1");
  // Each reply joined the thread of the question it references, trimmed of the quote.
  EXPECT_EQ(Scalar("SELECT count(DISTINCT thread_id) FROM posts WHERE author_address = 'helper@example.com'"), "5");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE body LIKE '%> Question%'"), "0");
  // Post-actions happened after the commit: the inbox is empty.
  EXPECT_EQ(Count(user, "INBOX"), 0u);
  EXPECT_EQ(Count(user, "Processed"), 16u);
  EXPECT_EQ(Count(user, "Quarantine"), 1u);

  // A second pass changes nothing.
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "15");
}

TEST_F(MailboxWorkerTest, ReplyFetchedInTheSameBatchAsItsQuestionJoinsItsThread) {
  // Regression: every message of a batch used to be decided before the batch was recorded, so a reply
  // fetched together with its question found no thread and opened one of its own.
  const std::string user = UniqueName("samebatch");
  Append(user, {Mail("a@example.com", "Printer", "sb-q1@client", "Question one"),
                Mail("helper@example.com", "Re: Printer", "sb-r1@client", "Answer one",
                     "In-Reply-To: <sb-q1@client>\r\nReferences: <sb-q1@client>\r\n"),
                Mail("b@example.com", "Scanner", "sb-q2@client", "Question two"),
                Mail("helper@example.com", "Re: Scanner", "sb-r2@client", "Answer two",
                     "References: <elsewhere@client> <sb-q2@client>\r\n")});
  MailboxWorker worker(Options("samebatch", user));  // batches of 7: all four in one
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM threads"), "2");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "4");
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts p JOIN threads t ON t.id = p.thread_id "
                   "WHERE p.author_address = 'helper@example.com' AND t.author_address <> 'helper@example.com'"),
            "2");
  EXPECT_EQ(Count(user, "INBOX"), 0u);
}

TEST_F(MailboxWorkerTest, ReplyTokenFindsThreadAndForgedTokenDoesNot) {
  const std::string user = UniqueName("token");
  Append(user, {Mail("asker@example.com", "Printer on fire", "q@client", "Help")});
  MailboxWorker worker(Options("token", user));
  ASSERT_TRUE(worker.RunOnce().ok());
  const int64_t thread = std::stoll(Scalar("SELECT id FROM threads"));
  std::string token = mail::MakeReplyToken(static_cast<uint64_t>(thread), kReplyKey);
  std::string forged = token;
  forged[3] = forged[3] == 'a' ? 'b' : 'a';
  // No References at all: only the token in To can place them.
  auto by_token = Mail("helper@example.com", "Re: Printer", "a1@client", "Use the extinguisher");
  by_token.replace(by_token.find("To: help@example.com"), 20, "To: help+" + token + "@example.com");
  auto by_forged = Mail("mallory@example.com", "Re: Printer", "a2@client", "Spam into the thread");
  by_forged.replace(by_forged.find("To: help@example.com"), 20, "To: help+" + forged + "@example.com");
  Append(user, {by_token, by_forged});
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts WHERE thread_id = " + std::to_string(thread)), "2");
  EXPECT_EQ(Scalar("SELECT thread_id FROM posts WHERE author_address = 'mallory@example.com'") ==
                std::to_string(thread),
            false);
}

TEST_F(MailboxWorkerTest, UidValidityResetAndSecondMailboxMakeNoDuplicates) {
  const std::string user = UniqueName("reset");
  std::vector<std::string> mail;
  for (int i = 0; i < 12; ++i) mail.push_back(Mail("a@example.com", "Q" + std::to_string(i), "m" + std::to_string(i) + "@c", "body"));
  Append(user, mail);
  WorkerOptions options = Options("reset", user);
  options.after = WorkerOptions::After::kSeen;  // mail stays in the inbox
  options.after_folder.clear();
  MailboxWorker worker(options);
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "12");
  const std::string before = Scalar("SELECT uidvalidity FROM mailbox_state WHERE mailbox = 'reset'");

  // Recreate the mailbox with the same mail: without its uid list and indexes Dovecot renumbers
  // it under a new UIDVALIDITY (a time in seconds, so let one pass).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  for (const auto& entry : std::filesystem::directory_iterator(servers_.imap_home + "/" + user + "/Maildir")) {
    if (entry.path().filename().string().rfind("dovecot", 0) == 0) std::filesystem::remove_all(entry.path());
  }
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_NE(Scalar("SELECT uidvalidity FROM mailbox_state WHERE mailbox = 'reset'"), before);
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "12");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'duplicate'"), "12");

  // The same messages arriving in a second mailbox make no post either.
  const std::string other = UniqueName("second");
  Append(other, mail);
  MailboxWorker second(Options("second", other));
  ASSERT_TRUE(second.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "12");
}

TEST_F(MailboxWorkerTest, FirstContactImportsOnlyRecentMail) {
  const std::string user = UniqueName("first");
  Append(user, {Mail("a@example.com", "Ancient question", "old@c", "from last month"),
                Mail("b@example.com", "Fresh question", "new@c", "from today")});
  // Dovecot's received date of a Maildir message is its file's mtime: make one 30 days old, and drop the
  // indexes that cached the date (the uid list stays, so UIDs do not change).
  const std::string maildir = servers_.imap_home + "/" + user + "/Maildir";
  int aged = 0;
  for (const char* sub : {"/new", "/cur"}) {
    for (const auto& entry : std::filesystem::directory_iterator(maildir + sub)) {
      std::ifstream in(entry.path());
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find("<old@c>") == std::string::npos) continue;
      std::filesystem::last_write_time(entry.path(),
                                       std::filesystem::file_time_type::clock::now() - std::chrono::hours(24 * 30));
      ++aged;
    }
  }
  ASSERT_EQ(aged, 1);
  for (const auto& entry : std::filesystem::directory_iterator(maildir)) {
    if (entry.path().filename().string().rfind("dovecot.index", 0) == 0) std::filesystem::remove_all(entry.path());
  }
  MailboxWorker worker(Options("first", user));  // import_max_age: the default 7 days
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "1");
  EXPECT_EQ(Scalar("SELECT subject FROM threads"), "Fresh question");
  EXPECT_EQ(Scalar("SELECT outcome FROM inbound_messages WHERE subject = ''"), "too_old");
  // Old mail is left alone where it was; only the imported message was moved.
  EXPECT_EQ(Count(user, "INBOX"), 1u);
  EXPECT_EQ(Count(user, "Processed"), 1u);
}

TEST_F(MailboxWorkerTest, IdleDeliversNewMailWithinTwoSeconds) {
  const std::string user = UniqueName("idle");
  Append(user, {Mail("a@example.com", "first", "first@c", "body")});
  MailboxWorker worker(Options("idle", user));
  std::thread runner([&] { worker.Run(); });
  // Wait for the first pass, then give the worker time to enter IDLE.
  WaitForScalar("SELECT count(*) FROM posts", "1", milliseconds(10000));
  std::this_thread::sleep_for(milliseconds(500));
  Append(user, {Mail("b@example.com", "second", "second@c", "body")});
  const auto appended = steady_clock::now();
  WaitForScalar("SELECT count(*) FROM posts", "2", milliseconds(10000));
  const auto latency = std::chrono::duration_cast<milliseconds>(steady_clock::now() - appended);
  worker.Stop();
  runner.join();
  std::printf("IDLE latency: %lld ms (bar 2000 ms)\n", static_cast<long long>(latency.count()));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "2");
  EXPECT_LT(latency.count(), 2000);
}

TEST_F(MailboxWorkerTest, TwoDaemonsOneMailboxNoDuplicatesAndTakeover) {
  const std::string user = UniqueName("pair");
  std::vector<std::string> mail;
  for (int i = 0; i < 30; ++i) {
    mail.push_back(Mail("a" + std::to_string(i) + "@example.com", "Q" + std::to_string(i), "p" + std::to_string(i) + "@c",
                        "body"));
  }
  Append(user, mail);
  auto first = std::make_unique<MailboxWorker>(Options("pair", user));
  MailboxWorker second(Options("pair", user));
  std::thread t1([&] { first->Run(); });
  std::thread t2([&] { second.Run(); });
  WaitForScalar("SELECT count(*) FROM posts", "30", milliseconds(10000));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "30");
  // Whichever owns the mailbox now dies; the other must take over within seconds.
  first->Stop();
  t1.join();
  first.reset();
  Append(user, {Mail("b@example.com", "after takeover", "late@c", "body")});
  WaitForScalar("SELECT count(*) FROM posts", "31", milliseconds(10000));
  second.Stop();
  t2.join();
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "31");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome <> 'duplicate'"), "31");
}

TEST_F(MailboxWorkerTest, CertificateMismatchNamesTheMailboxOthersCarryOn) {
  MAILFORUM_REQUIRE_SERVER(trap, "MAILFORUM_TEST_TRAP_PORT");
  WorkerOptions bad = Options("wrongcert", UniqueName("wrong"));
  bad.imap.port = static_cast<uint16_t>(std::stoi(trap));
  MailboxWorker broken(bad);
  auto status = broken.RunOnce();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("mailbox wrongcert"), std::string::npos) << status.error().message;
  EXPECT_NE(status.error().message.find("wrong.invalid"), std::string::npos) << status.error().message;

  const std::string user = UniqueName("fine");
  Append(user, {Mail("a@example.com", "still works", "fine@c", "body")});
  MailboxWorker fine(Options("fine", user));
  EXPECT_TRUE(fine.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "1");
}

}  // namespace
}  // namespace mailforumd
