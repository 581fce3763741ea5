// Guarantees 1 and 2 of DESIGN.md §2 under crashes: the real mailforumd is
// killed with SIGKILL at random moments during a 2,000-message ingest and
// restarted each time; afterwards every message is posted exactly once and
// nothing is left in the inbox. Real Dovecot, real PostgreSQL.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "forum/scratch_database.h"
#include "forum/store.h"
#include "mail/imap_session.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace {

using mftest::RunCommand;
using mftest::ShellQuote;

constexpr int kMessages = 2000;
constexpr int kKills = 20;

std::string Question(int i) {
  return "From: asker" + std::to_string(i % 97) + "@example.com\r\nTo: help@example.com\r\nSubject: Question " +
         std::to_string(i) + "\r\nMessage-ID: <crash-" + std::to_string(i) +
         "@client>\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\nWhat about number " + std::to_string(i) + "?\r\n";
}

TEST(CrashTest, KilledTwentyTimesDuringIngestPostsEveryMessageExactlyOnce) {
  MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
  MAILFORUM_REQUIRE_SERVER(port, "MAILFORUM_TEST_IMAPS_PORT");
  MAILFORUM_REQUIRE_SERVER(password, "MAILFORUM_TEST_IMAP_PASSWORD");
  MAILFORUM_REQUIRE_SERVER(ca, "MAILFORUM_TEST_CA_FILE");
  MAILFORUM_REQUIRE_SERVER(smtp_port, "MAILFORUM_TEST_SMTP_PORT");
  auto dsn = forum::CreateScratchDatabase(admin, "crash");
  ASSERT_TRUE(dsn) << dsn.error().message;
  std::random_device rd;
  const std::string user = "crash" + std::to_string(rd() % 100000000);

  // The inbox: 2,000 questions.
  mail::ImapOptions imap;
  imap.host = "localhost";
  imap.port = static_cast<uint16_t>(std::stoi(port));
  imap.ca_file = ca;
  imap.username = user;
  imap.password = password;
  {
    auto session = mail::ImapSession::Connect(imap);
    ASSERT_TRUE(session) << session.error().message;
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE((*session)->Append("INBOX", Question(i))) << i;
  }

  const std::string dir = mftest::MakeTempDir("mfcrash");
  mftest::WriteFile(dir + "/db.dsn", *dsn + "\n");
  mftest::WriteFile(dir + "/imap.pass", password + "\n");
  mftest::WriteFile(dir + "/reply.key", "crash-test-reply-key-of-at-least-32-bytes\n");
  const std::string config = dir + "/mailforum.yaml";
  mftest::WriteFile(config,
                    "instance: {name: Crash, base_url: 'http://127.0.0.1:8080', domain: crash.example}\n"
                    "database: {dsn_file: db.dsn}\n"
                    "secrets: {reply_key_file: reply.key}\n"
                    "smtp: {host: localhost, port: " + smtp_port + ", tls: starttls, ca_file: " + ca +
                        ", from: 'Crash <help@crash.example>', reply_to: 'help+{token}@crash.example'}\n"
                        "categories: [{slug: general, name: General}]\n"
                        "mailboxes:\n"
                        "  - name: crash\n"
                        "    imap: {host: localhost, port: " + port + ", tls: implicit, ca_file: " + ca +
                        ", username: " + user + ", password_file: imap.pass, poll_interval: 1s}\n"
                        "    after: {action: move, folder: Processed}\n"
                        "    rules: [{name: all, action: thread, category: general}]\n"
                        "limits: {new_threads_per_sender_per_hour: 100000}\n",
                    0644);
  auto migrated = RunCommand(std::string(MAILFORUMCTL_PATH) + " migrate -c " + ShellQuote(config));
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;

  // Start, let it work for a random while, SIGKILL it by its pid — until it has been killed at least
  // twenty times in the middle of the ingest (with mail still in the inbox).
  std::mt19937 rng(rd());
  std::uniform_int_distribution<int> ms(0, 150);
  const std::string log = ShellQuote(dir + "/daemon.log");
  int kills = 0, mid_ingest_kills = 0, kills_after_progress = 0, posted = 0;
  while (kills_after_progress < kKills && kills < 400) {
    // Wait until this run has started working (its "started" line is in the log), so that the kill lands in
    // the ingest rather than in start-up, however slow the machine is; then kill at a random moment.
    auto r = RunCommand("before=$(grep -c 'mailforumd started' " + log + " 2>/dev/null || true); " +
                        std::string(MAILFORUMD_PATH) + " -c " + ShellQuote(config) + " >>" + log +
                        " 2>&1 & pid=$!; for i in $(seq 1 200); do [ \"$(grep -c 'mailforumd started' " + log +
                        ")\" -gt \"${before:-0}\" ] && break; sleep 0.025; done; sleep " +
                        std::to_string(ms(rng) / 1000.0) + "; kill -KILL $pid; wait $pid; echo rc=$?");
    ASSERT_NE(r.output.find("rc=137"), std::string::npos) << "the daemon was not running when killed: " << r.output;
    ++kills;
    auto count = forum::QueryScalar(*dsn, "SELECT count(*) FROM posts");
    ASSERT_TRUE(count);
    const int now = std::stoi(*count);
    if (now < kMessages) ++mid_ingest_kills;                       // mail was still waiting in the inbox
    if (now > posted && now < kMessages) ++kills_after_progress;  // and it had committed batches in this run
    posted = now;
    if (posted == kMessages) break;
  }
  std::printf("%d kills, %d during the ingest (%d right after committing batches); %d of %d posted before the final pass\n",
              kills, mid_ingest_kills, kills_after_progress, posted, kMessages);
  EXPECT_GE(mid_ingest_kills, kKills) << "the ingest finished before twenty kills landed in it";
  EXPECT_GE(kills_after_progress, kKills / 2) << "too few kills landed while batches were being committed";

  // Let it finish: one clean pass.
  auto finish = RunCommand(std::string(MAILFORUMD_PATH) + " --once -c " + ShellQuote(config));
  ASSERT_EQ(finish.exit_code, 0) << finish.output;

  EXPECT_EQ(*forum::QueryScalar(*dsn, "SELECT count(*) FROM posts"), std::to_string(kMessages));
  EXPECT_EQ(*forum::QueryScalar(*dsn, "SELECT count(DISTINCT message_key) FROM inbound_messages WHERE outcome = 'posted'"),
            std::to_string(kMessages));
  EXPECT_EQ(*forum::QueryScalar(*dsn, "SELECT count(*) FROM inbound_messages WHERE NOT post_action_done"), "0");
  auto session = mail::ImapSession::Connect(imap);
  ASSERT_TRUE(session);
  auto inbox = (*session)->Select("INBOX");
  ASSERT_TRUE(inbox);
  EXPECT_EQ(inbox->exists, 0u) << "messages left unprocessed in the inbox";
  auto processed = (*session)->Select("Processed");
  ASSERT_TRUE(processed);
  // A kill between the server-side MOVE and its bookkeeping can only repeat a move, never copy: exactly 2,000.
  EXPECT_EQ(processed->exists, static_cast<uint32_t>(kMessages));
}

}  // namespace
