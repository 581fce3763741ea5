// MailboxWorker against the real Dovecot and PostgreSQL of scripts/test:
// mixed mail to threads, exactly once, poison quarantined, UIDVALIDITY
// resets, one message in two mailboxes, IDLE latency, two daemons on one
// mailbox, and a certificate that does not match.
#include "daemon/mailbox_worker.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <thread>

#include "forum/scratch_database.h"
#include "forum/store.h"
#include "mail/reply_token.h"
#include "tests/support/test_env.h"

namespace mailforumd {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kKey[] = "worker-itest-reply-key-0123456789abcdef";

std::string UniqueUser(const std::string& prefix) {
  static std::random_device rd;
  return prefix + std::to_string(rd() % 100000000);
}

std::string Mail(const std::string& from, const std::string& subject, const std::string& message_id,
                 const std::string& body, const std::string& extra_headers = "") {
  return "From: " + from + "\r\nTo: help@example.com\r\nSubject: " + subject + "\r\nMessage-ID: <" + message_id +
         ">\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n" + extra_headers +
         "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n";
}

class MailboxWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
    MAILFORUM_REQUIRE_SERVER(port, "MAILFORUM_TEST_IMAPS_PORT");
    MAILFORUM_REQUIRE_SERVER(password, "MAILFORUM_TEST_IMAP_PASSWORD");
    MAILFORUM_REQUIRE_SERVER(ca, "MAILFORUM_TEST_CA_FILE");
    MAILFORUM_REQUIRE_SERVER(home, "MAILFORUM_TEST_IMAP_HOME");
    home_ = home;
    auto dsn = forum::CreateScratchDatabase(admin, "worker");
    ASSERT_TRUE(dsn) << dsn.error().message;
    dsn_ = *dsn;
    auto store = forum::Store::Connect(dsn_);
    ASSERT_TRUE(store && (*store)->Migrate());
    ASSERT_TRUE((*store)->SyncCategories({{"general", "General", ""}, {"it", "IT", ""}}).ok());
    imap_.host = "localhost";
    imap_.port = static_cast<uint16_t>(std::stoi(port));
    imap_.tls = mail::ImapOptions::Tls::kImplicit;
    imap_.ca_file = ca;
    imap_.password = password;
    imap_.timeout = milliseconds(20000);
  }

  WorkerOptions Options(const std::string& mailbox, const std::string& user) {
    WorkerOptions o;
    o.imap = imap_;
    o.imap.username = user;
    o.after = WorkerOptions::After::kMove;
    o.after_folder = "Processed";
    o.poll_interval = milliseconds(30000);
    o.dsn = dsn_;
    o.domain = "help.example";
    o.batch_size = 7;  // several batches even for small tests
    o.pipeline.mailbox = mailbox;
    o.pipeline.reply_to_template = "help+{token}@example.com";
    o.pipeline.reply_key = kKey;
    o.pipeline.own_addresses = {"help@example.com"};
    forum::Rule it;
    it.name = "it";
    it.action = forum::RuleAction::kThread;
    it.category = "it";
    forum::Matcher subject;
    subject.kind = forum::Matcher::Kind::kSubject;
    subject.regex = *base::Regex::Compile("(?i)\\bvpn\\b");
    it.match = subject;
    forum::Rule rest;
    rest.name = "rest";
    rest.action = forum::RuleAction::kThread;
    rest.category = "general";
    o.pipeline.rules = {it, rest};
    return o;
  }

  std::unique_ptr<mail::ImapSession> Imap(const std::string& user) {
    mail::ImapOptions o = imap_;
    o.username = user;
    auto s = mail::ImapSession::Connect(o);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(s).value() : nullptr;
  }

  void Append(const std::string& user, const std::vector<std::string>& messages, const std::string& folder = "INBOX") {
    auto s = Imap(user);
    ASSERT_TRUE(s);
    for (const auto& m : messages) ASSERT_TRUE(s->Append(folder, m)) << "append failed";
  }

  uint32_t Count(const std::string& user, const std::string& folder) {
    auto s = Imap(user);
    if (!s) return 9999;
    auto sel = s->Select(folder);
    return sel ? sel->exists : 9999;
  }

  std::string Scalar(const std::string& sql) {
    auto r = forum::QueryScalar(dsn_, sql);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : "";
  }

  std::string home_, dsn_;
  mail::ImapOptions imap_;
};

TEST_F(MailboxWorkerTest, MixedMailBecomesThreadsExactlyOnce) {
  const std::string user = UniqueUser("mixed");
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

TEST_F(MailboxWorkerTest, ReplyTokenFindsThreadAndForgedTokenDoesNot) {
  const std::string user = UniqueUser("token");
  Append(user, {Mail("asker@example.com", "Printer on fire", "q@client", "Help")});
  MailboxWorker worker(Options("token", user));
  ASSERT_TRUE(worker.RunOnce().ok());
  const int64_t thread = std::stoll(Scalar("SELECT id FROM threads"));
  std::string token = mail::MakeReplyToken(static_cast<uint64_t>(thread), kKey);
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
  const std::string user = UniqueUser("reset");
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
  for (const auto& entry : std::filesystem::directory_iterator(home_ + "/" + user + "/Maildir")) {
    if (entry.path().filename().string().rfind("dovecot", 0) == 0) std::filesystem::remove_all(entry.path());
  }
  ASSERT_TRUE(worker.RunOnce().ok());
  EXPECT_NE(Scalar("SELECT uidvalidity FROM mailbox_state WHERE mailbox = 'reset'"), before);
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "12");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'duplicate'"), "12");

  // The same messages arriving in a second mailbox make no post either.
  const std::string other = UniqueUser("second");
  Append(other, mail);
  MailboxWorker second(Options("second", other));
  ASSERT_TRUE(second.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "12");
}

TEST_F(MailboxWorkerTest, IdleDeliversNewMailWithinTwoSeconds) {
  const std::string user = UniqueUser("idle");
  Append(user, {Mail("a@example.com", "first", "first@c", "body")});
  MailboxWorker worker(Options("idle", user));
  std::thread runner([&] { worker.Run(); });
  // Wait for the first pass, then give the worker time to enter IDLE.
  for (int i = 0; i < 200 && Scalar("SELECT count(*) FROM posts") != "1"; ++i) std::this_thread::sleep_for(milliseconds(50));
  std::this_thread::sleep_for(milliseconds(500));
  Append(user, {Mail("b@example.com", "second", "second@c", "body")});
  const auto appended = steady_clock::now();
  while (Scalar("SELECT count(*) FROM posts") != "2" && steady_clock::now() - appended < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  const auto latency = std::chrono::duration_cast<milliseconds>(steady_clock::now() - appended);
  worker.Stop();
  runner.join();
  std::printf("IDLE latency: %lld ms (bar 2000 ms)\n", static_cast<long long>(latency.count()));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "2");
  EXPECT_LT(latency.count(), 2000);
}

TEST_F(MailboxWorkerTest, TwoDaemonsOneMailboxNoDuplicatesAndTakeover) {
  const std::string user = UniqueUser("pair");
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
  for (int i = 0; i < 200 && Scalar("SELECT count(*) FROM posts") != "30"; ++i) std::this_thread::sleep_for(milliseconds(50));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "30");
  // Whichever owns the mailbox now dies; the other must take over within seconds.
  first->Stop();
  t1.join();
  first.reset();
  Append(user, {Mail("b@example.com", "after takeover", "late@c", "body")});
  for (int i = 0; i < 200 && Scalar("SELECT count(*) FROM posts") != "31"; ++i) std::this_thread::sleep_for(milliseconds(50));
  second.Stop();
  t2.join();
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "31");
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome <> 'duplicate'"), "31");
}

TEST_F(MailboxWorkerTest, CertificateMismatchNamesTheMailboxOthersCarryOn) {
  MAILFORUM_REQUIRE_SERVER(trap, "MAILFORUM_TEST_TRAP_PORT");
  WorkerOptions bad = Options("wrongcert", UniqueUser("wrong"));
  bad.imap.port = static_cast<uint16_t>(std::stoi(trap));
  MailboxWorker broken(bad);
  auto status = broken.RunOnce();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("mailbox wrongcert"), std::string::npos) << status.error().message;
  EXPECT_NE(status.error().message.find("wrong.invalid"), std::string::npos) << status.error().message;

  const std::string user = UniqueUser("fine");
  Append(user, {Mail("a@example.com", "still works", "fine@c", "body")});
  MailboxWorker fine(Options("fine", user));
  EXPECT_TRUE(fine.RunOnce().ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), "1");
}

}  // namespace
}  // namespace mailforumd
