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

TEST(StopTest, AWedgedWorkerDoesNotHoldTheStopUp) {
  mftest::DaemonSetup setup;
  ASSERT_TRUE(setup.Make("stopwedge", "daemon: {stop_timeout: 2s}\n"));
  const std::string mark = "X-Test-Wedge: " + std::to_string(std::random_device{}());
  const std::string log = setup.dir + "/daemon.log";
  const pid_t pid = mftest::StartTestingDaemon(setup.config, log, mark);
  ASSERT_GT(pid, 0);
  {
    auto session = mail::ImapSession::Connect(setup.imap);
    ASSERT_TRUE(session) << session.error().message;
    ASSERT_TRUE((*session)->Append("INBOX",
                                   "From: a@example.com\r\nTo: help@crash.example\r\nSubject: wedge\r\n"
                                   "Message-ID: <wedge@client>\r\n" +
                                       mark + "\r\n\r\nHang here.\r\n"));
  }
  bool hanging = false;
  for (auto deadline = steady_clock::now() + std::chrono::seconds(60);
       steady_clock::now() < deadline && !hanging;) {
    hanging = mftest::ReadFile(log).find("mailforumd_testing: hanging") != std::string::npos;
    if (!hanging) std::this_thread::sleep_for(milliseconds(20));
  }
  if (!hanging) kill(pid, SIGKILL);
  ASSERT_TRUE(hanging) << mftest::ReadFile(log);

  const auto sent = steady_clock::now();
  kill(pid, SIGTERM);
  const auto status = WaitForExit(pid, std::chrono::seconds(30));
  ASSERT_TRUE(status) << "a wedged worker held the stop up for 30 s\n" << mftest::ReadFile(log);
  const auto took = std::chrono::duration_cast<milliseconds>(steady_clock::now() - sent);
  std::printf("exited %lld ms after SIGTERM (stop_timeout 2 s)\n", static_cast<long long>(took.count()));
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << *status;
  EXPECT_GE(took, std::chrono::seconds(2)) << "it waited for the bound";
  EXPECT_LT(took, std::chrono::seconds(12)) << "promptly after the bound";
  const std::string text = mftest::ReadFile(log);
  EXPECT_NE(text.find("not stopped within 2 s: mailbox crash"), std::string::npos) << text;
}

}  // namespace
