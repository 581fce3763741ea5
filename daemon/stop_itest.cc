// SIGTERM within a bound (issue 11 item 2), with the real daemon on real
// Dovecot and PostgreSQL. A stop during an ingest finishes the batch in
// hand, commits, closes the sessions and exits 0; no mail is lost: what was
// posted left the inbox, and the next start posts the rest. A wedged worker
// (mailforumd_testing's hang hook) does not hold the stop up: at
// daemon.stop_timeout the daemon names the loop that did not stop and exits
// non-zero. Every wait is for an event (a row, a log line, the exit), bounded.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include "daemon/daemon_itest_support.h"

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Waits up to `bound` for `pid` to exit; its wait status, or nullopt (then it is killed).
std::optional<int> WaitForExit(pid_t pid, milliseconds bound) {
  const auto deadline = steady_clock::now() + bound;
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    if (steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return std::nullopt;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
}

std::string Mail(int i) {
  return "From: someone@example.com\r\nTo: help@crash.example\r\nSubject: message " + std::to_string(i) +
         "\r\nMessage-ID: <stop-" + std::to_string(i) + "@client>\r\n\r\nBody " + std::to_string(i) + ".\r\n";
}

TEST(StopTest, SigtermDuringAnIngestExitsZeroAndLosesNothing) {
  constexpr int kMessages = 600;
  mftest::DaemonSetup setup;
  ASSERT_TRUE(
      setup.Make("stop", "limits: {new_threads_per_sender_per_hour: 100000}\ndaemon: {stop_timeout: 20s}\n"));
  {
    auto session = mail::ImapSession::Connect(setup.imap);
    ASSERT_TRUE(session) << session.error().message;
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE((*session)->Append("INBOX", Mail(i)));
  }
  const std::string log = setup.dir + "/daemon.log";
  const pid_t pid = mftest::StartTestingDaemon(setup.config, log, "");
  ASSERT_GT(pid, 0);
  // Stop as soon as the first batch is committed: the ingest is under way.
  const bool started = mftest::WaitForRow(setup, "SELECT count(*) > 0 FROM posts", "t");
  const auto sent = steady_clock::now();
  kill(pid, SIGTERM);
  ASSERT_TRUE(started) << mftest::ReadFile(log);
  const auto status = WaitForExit(pid, std::chrono::seconds(60));
  ASSERT_TRUE(status) << "no exit within 60 s of SIGTERM\n" << mftest::ReadFile(log);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status << "\n" << mftest::ReadFile(log);
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - sent);
  EXPECT_LT(took, std::chrono::seconds(20)) << "longer than daemon.stop_timeout";
  std::printf("stopped %lld ms after SIGTERM\n", static_cast<long long>(took.count()));

  // What was posted left the inbox (after its commit), and nothing else did.
  const int posted = std::stoi(setup.Query("SELECT count(*) FROM posts"));
  EXPECT_GT(posted, 0);
  EXPECT_EQ(setup.Count("Processed"), static_cast<uint32_t>(posted));
  EXPECT_EQ(setup.Count("INBOX"), static_cast<uint32_t>(kMessages - posted));
  EXPECT_EQ(setup.Query("SELECT count(*) FROM inbound_messages WHERE NOT post_action_done"), "0");
  std::printf("posted %d of %d before the stop\n", posted, kMessages);

  // The next start posts the rest, each message once.
  auto again = mftest::RunCommand(std::string(MAILFORUMD_TESTING_PATH) + " --once -c " +
                                  mftest::ShellQuote(setup.config));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(setup.Query("SELECT count(*) FROM posts"), std::to_string(kMessages));
  EXPECT_EQ(setup.Query("SELECT count(DISTINCT message_key) FROM inbound_messages WHERE outcome = 'posted'"),
            std::to_string(kMessages));
  EXPECT_EQ(setup.Count("INBOX"), 0u);
}

// Starts mailforumd_testing on a fresh mailbox with daemon.stop_timeout 2 s and wedges its worker on a
// marked message; the daemon's pid (0 with a test failure). Its log is setup.dir + "/daemon.log".
pid_t StartWedged(mftest::DaemonSetup& setup, const std::string& name) {
  if (!setup.Make(name, "daemon: {stop_timeout: 2s}\n")) return 0;
  const std::string log = setup.dir + "/daemon.log";
  const std::string mark = "X-Test-Wedge: " + std::to_string(std::random_device{}());
  const pid_t pid = mftest::StartTestingDaemon(setup.config, log, mark);
  EXPECT_GT(pid, 0);
  if (pid <= 0) return 0;
  {
    auto session = mail::ImapSession::Connect(setup.imap);
    EXPECT_TRUE(session) << session.error().message;
    if (!session || !(*session)->Append("INBOX",
                                        "From: a@example.com\r\nTo: help@crash.example\r\nSubject: wedge\r\n"
                                        "Message-ID: <wedge@client>\r\n" +
                                            mark + "\r\n\r\nHang here.\r\n")) {
      ADD_FAILURE() << "could not append the marked message";
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      return 0;
    }
  }
  bool hanging = false;
  for (auto deadline = steady_clock::now() + std::chrono::seconds(60);
       steady_clock::now() < deadline && !hanging;) {
    hanging = mftest::ReadFile(log).find("mailforumd_testing: hanging") != std::string::npos;
    if (!hanging) std::this_thread::sleep_for(milliseconds(20));
  }
  if (!hanging) {
    ADD_FAILURE() << "the worker never hung\n" << mftest::ReadFile(log);
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return 0;
  }
  return pid;
}

// Sends `signal` to the wedged daemon `pid` and expects it to exit non-zero at the 2 s bound, its log naming
// the wedged mailbox after `prefix`.
void ExpectExitAtTheBound(pid_t pid, int signal, const std::string& log, const std::string& prefix) {
  const auto sent = steady_clock::now();
  kill(pid, signal);
  const auto status = WaitForExit(pid, std::chrono::seconds(30));
  ASSERT_TRUE(status) << "a wedged worker held the daemon up for 30 s\n" << mftest::ReadFile(log);
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - sent);
  std::printf("exited %lld ms after signal %d (stop_timeout 2 s)\n", static_cast<long long>(took.count()),
              signal);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 70) << *status;
  EXPECT_GE(took, std::chrono::seconds(2)) << "it waited for the bound";
  EXPECT_LT(took, std::chrono::seconds(12)) << "promptly after the bound";
  const std::string text = mftest::ReadFile(log);
  EXPECT_NE(text.find(prefix + "not stopped within 2 s: mailbox crash"), std::string::npos) << text;
}

TEST(StopTest, AWedgedWorkerDoesNotHoldTheStopUp) {
  mftest::DaemonSetup setup;
  const pid_t pid = StartWedged(setup, "stopwedge");
  ASSERT_GT(pid, 0);
  const std::string log = setup.dir + "/daemon.log";
  ExpectExitAtTheBound(pid, SIGTERM, log, "");
}

// A reload that restarts a wedged mailbox (its connection settings changed) must not wait for it for ever,
// deaf to SIGTERM: it exits 70 at daemon.stop_timeout, and systemd starts the daemon again.
TEST(StopTest, AWedgedWorkerDoesNotHoldAReloadUp) {
  mftest::DaemonSetup setup;
  const pid_t pid = StartWedged(setup, "reloadwedge");
  ASSERT_GT(pid, 0);
  const std::string log = setup.dir + "/daemon.log";
  std::string yaml = mftest::ReadFile(setup.config);
  const size_t at = yaml.find("poll_interval: 1s");
  ASSERT_NE(at, std::string::npos) << yaml;
  yaml.replace(at, 17, "poll_interval: 2s");
  mftest::WriteFile(setup.config, yaml, 0644);
  ExpectExitAtTheBound(pid, SIGHUP, log, "reload: ");
}

}  // namespace
