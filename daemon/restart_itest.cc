// Acceptance of issue 4: a running MailboxWorker recovers by itself — backoff
// and reconnect, nothing lost, nothing posted twice — when PostgreSQL is
// restarted in the middle of an ingest (and again while the worker idles),
// and when Dovecot is restarted while the worker waits in IDLE.
//
// These tests restart servers, so they never use the shared ones that other
// tests run against in parallel: each starts a private set with
// scripts/testenv/start in a directory of its own, and always stops it
// (scripts/testenv/stop), also when the test fails. They run where the shared
// test servers run (MAILFORUM_TEST_DIR is set), which proves that the server
// programs are installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/worker_itest_support.h"
#include "forum/scratch_database.h"
#include "tests/support/subprocess.h"

namespace mailforumd {
namespace {

using itest::Mail;
using mftest::RunCommand;
using mftest::ShellQuote;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kMessages = 1000;

long long MillisecondsSince(Clock::time_point t) {
  return static_cast<long long>(std::chrono::duration_cast<milliseconds>(Clock::now() - t).count());
}

// PostgreSQL, Dovecot and the rest of scripts/testenv/start in a private
// directory; stopped (and the directory removed) on destruction.
class PrivateServers {
 public:
  // Errors carry the start script's output; whatever it started is stopped again.
  static base::Result<std::unique_ptr<PrivateServers>> Start() {
    // Short, as unix socket paths must be; not under $TMPDIR, which may be long.
    char pattern[] = "/tmp/mfr.XXXXXX";
    if (mkdtemp(pattern) == nullptr) return base::Error{base::ErrorKind::kInternal, "mkdtemp failed"};
    std::unique_ptr<PrivateServers> servers(new PrivateServers(pattern));
    auto started = RunCommand(servers->Script("start") + " " + ShellQuote(servers->dir_));
    if (started.exit_code != 0) {
      return base::Error{base::ErrorKind::kTransient, "scripts/testenv/start failed:\n" + started.output};
    }
    return servers;
  }

  ~PrivateServers() { RunCommand(Script("stop") + " " + ShellQuote(dir_)); }
  PrivateServers(const PrivateServers&) = delete;
  PrivateServers& operator=(const PrivateServers&) = delete;

  const std::string& dir() const { return dir_; }

  // pg_ctl restart in fast mode (every connection is cut), as the user that runs the server.
  base::Status RestartPostgres() const {
    const std::string pg_ctl = "/usr/lib/postgresql/15/bin/pg_ctl -D " + ShellQuote(dir_ + "/pg/data") +
                               " -m fast -w restart -l " + ShellQuote(dir_ + "/pg/log");
    return Run("cd " + ShellQuote(dir_) + " && " + (getuid() == 0 ? "runuser -u postgres -- " : "") + pg_ctl);
  }

  // Dovecot stopped by its pid and started again with the same configuration.
  base::Status RestartDovecot() const { return Run(Script("restart-dovecot") + " " + ShellQuote(dir_)); }

 private:
  explicit PrivateServers(std::string dir) : dir_(std::move(dir)) {}

  static std::string Script(const std::string& name) {
    return ShellQuote(mftest::SourceDir() + "/scripts/testenv/" + name);
  }

  static base::Status Run(const std::string& command) {
    auto r = RunCommand(command);
    if (r.exit_code == 0) return {};
    return base::Error{base::ErrorKind::kTransient,
                       command + " failed (" + std::to_string(r.exit_code) + "):\n" + r.output};
  }

  std::string dir_;
};

// A worker running Run() on a thread of its own until destroyed.
class RunningWorker {
 public:
  explicit RunningWorker(WorkerOptions options)
      : worker_(std::move(options)), thread_([this] { worker_.Run(); }) {}
  ~RunningWorker() {
    worker_.Stop();
    thread_.join();
  }
  RunningWorker(const RunningWorker&) = delete;
  RunningWorker& operator=(const RunningWorker&) = delete;

 private:
  MailboxWorker worker_;
  std::thread thread_;
};

class RestartTest : public itest::WorkerTest {
 protected:
  RestartTest() : WorkerTest("restart") {}

  // Not the shared servers: a private set (see the top of this file).
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(shared_servers, "MAILFORUM_TEST_DIR");
    auto started = PrivateServers::Start();
    ASSERT_TRUE(started) << started.error().message;
    private_servers_ = std::move(started).value();
    auto servers = itest::ServersFromEnvFile(private_servers_->dir() + "/env");
    ASSERT_TRUE(servers) << servers.error().message;
    auto ready = Init(*servers, db_prefix_);
    ASSERT_TRUE(ready.ok()) << ready.error().message;
  }

  // Posts in the scratch database, or -1 while it cannot be reached.
  int Posts() const {
    auto r = forum::QueryScalar(dsn_, "SELECT count(*) FROM posts");
    return r ? std::stoi(*r) : -1;
  }

  // Waits until there are at least `n` posts; false after `timeout`.
  bool WaitForPosts(int n, milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    while (Posts() < n) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return true;
  }

  // Session advisory locks held on the private server: the worker's lock on its mailbox.
  std::string AdvisoryLocks() const {
    return Scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'");
  }

  std::unique_ptr<PrivateServers> private_servers_;
};

TEST_F(RestartTest, PostgresRestartedMidIngestWorkerRecoversAndPostsEveryMessageOnce) {
  const std::string user = itest::UniqueName("pgrestart");
  std::vector<std::string> mail;
  for (int i = 0; i < kMessages; ++i) {
    const std::string n = std::to_string(i);
    mail.push_back(Mail("asker" + std::to_string(i % 97) + "@example.com", "Question " + n,
                        "pg" + n + "@client", "What about number " + n + "?"));
  }
  Append(user, mail);
  WorkerOptions options = Options("pgrestart", user);
  options.batch_size = 10;  // many transactions: the restart lands inside the ingest
  options.pipeline.new_threads_per_sender_per_hour = 1000;
  RunningWorker worker(options);

  ASSERT_TRUE(WaitForPosts(100, milliseconds(60000))) << "the ingest did not start";
  const int before = Posts();
  const auto restart = Clock::now();
  ASSERT_TRUE(private_servers_->RestartPostgres().ok());
  const long long restart_ms = MillisecondsSince(restart);
  const auto back = Clock::now();
  const int after_restart = Posts();
  EXPECT_LT(after_restart, kMessages) << "the ingest ended before PostgreSQL went down";

  // The worker notices, backs off (1 s, then 2 s, ...), reconnects and finishes the ingest by itself.
  EXPECT_TRUE(WaitForPosts(after_restart + 1, milliseconds(15000))) << "no progress after the restart";
  const long long resumed_ms = MillisecondsSince(back);
  EXPECT_TRUE(WaitForScalar("SELECT count(*) FROM inbound_messages WHERE post_action_done",
                            std::to_string(kMessages), milliseconds(120000)));
  const long long finished_ms = MillisecondsSince(back);
  std::printf(
      "PostgreSQL restarted after %d posts (restart took %lld ms, %d posts right after it); the ingest "
      "resumed "
      "%lld ms and all %d messages were done %lld ms after PostgreSQL was back\n",
      before, restart_ms, after_restart, resumed_ms, kMessages, finished_ms);
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), std::to_string(kMessages));
  EXPECT_EQ(Scalar("SELECT count(DISTINCT message_key) FROM inbound_messages WHERE outcome = 'posted'"),
            std::to_string(kMessages));
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages"), std::to_string(kMessages));
  EXPECT_EQ(Count(user, "INBOX"), 0u);
  EXPECT_EQ(Count(user, "Processed"), static_cast<uint32_t>(kMessages));
  // It works the mailbox under its lock again (the restart ended the session that held it).
  EXPECT_EQ(AdvisoryLocks(), "1");

  // A second restart while the worker idles: the next message is still posted, under the lock.
  ASSERT_TRUE(private_servers_->RestartPostgres().ok());
  const auto idle_back = Clock::now();
  Append(user, {Mail("late@example.com", "After the restart", "pg-late@client", "Still there?")});
  EXPECT_TRUE(WaitForPosts(kMessages + 1, milliseconds(15000)));
  std::printf("message appended after a restart during IDLE posted %lld ms after PostgreSQL was back\n",
              MillisecondsSince(idle_back));
  EXPECT_EQ(Scalar("SELECT count(*) FROM posts"), std::to_string(kMessages + 1));
  EXPECT_EQ(AdvisoryLocks(), "1") << "the worker went on without its mailbox lock";
}

TEST_F(RestartTest, DovecotRestartedMidIdleWorkerReconnectsAndPostsNewMail) {
  const std::string user = itest::UniqueName("dvrestart");
  Append(user, {Mail("asker@example.com", "Before the restart", "dv-first@client", "First question")});
  RunningWorker worker(Options("dvrestart", user));
  ASSERT_TRUE(WaitForScalar("SELECT count(*) FROM posts", "1", milliseconds(20000)));
  std::this_thread::sleep_for(milliseconds(1000));  // the worker waits in IDLE now

  const auto restart = Clock::now();
  ASSERT_TRUE(private_servers_->RestartDovecot().ok());
  const long long restart_ms = MillisecondsSince(restart);
  const auto back = Clock::now();
  Append(user, {Mail("asker@example.com", "After the restart", "dv-second@client", "Second question")});
  // The worker's backoff starts at 1 s and doubles: it must be back well within 15 s.
  EXPECT_TRUE(WaitForScalar("SELECT count(*) FROM posts", "2", milliseconds(15000)));
  const long long recovered_ms = MillisecondsSince(back);

  // Back in IDLE on the new connection, not merely polling (the poll interval is 30 s).
  std::this_thread::sleep_for(milliseconds(1000));
  Append(user, {Mail("asker@example.com", "In IDLE again", "dv-third@client", "Third question")});
  const auto appended = Clock::now();
  EXPECT_TRUE(WaitForScalar("SELECT count(*) FROM posts", "3", milliseconds(5000)));
  const long long idle_ms = MillisecondsSince(appended);
  std::printf(
      "Dovecot restart took %lld ms; the message appended after it was posted %lld ms after Dovecot was "
      "back; the next one %lld ms after its APPEND\n",
      restart_ms, recovered_ms, idle_ms);
  EXPECT_LT(idle_ms, 2000);
  // The restart really cut the worker off: its reconnect was refused while Dovecot was down (noted as
  // the mailbox's last error), and a pass succeeded after that.
  EXPECT_EQ(
      Scalar("SELECT (last_error LIKE '%IMAP%') AND last_success_at > last_error_at FROM mailbox_state"),
      "t");
  EXPECT_EQ(Count(user, "INBOX"), 0u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages"), "3");
}

}  // namespace
}  // namespace mailforumd
