// mailforumd under systemd's notification protocol (issue 11 item 1), with
// the real daemon on real Dovecot and PostgreSQL: the test listens on a unix
// datagram socket of its own as NOTIFY_SOCKET, with WATCHDOG_USEC set, and
// sees READY=1 with STATUS=, WATCHDOG=1 pings, RELOADING=1 with
// MONOTONIC_USEC= then READY=1 around SIGHUP, that the pings stop while a
// mailbox worker is wedged (mailforumd_testing's hang hook), and STOPPING=1
// on SIGTERM. Every wait is for an event (a datagram, a log line), bounded;
// the only fixed wait is the one for the absence of pings: three watchdog
// intervals after the daemon has logged that it stopped them.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "daemon/daemon_itest_support.h"

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kWatchdog{2000};  // WATCHDOG_USEC: the daemon ticks every 500 ms, grace 1 s
constexpr milliseconds kEventTimeout{60000};

// The test's end of NOTIFY_SOCKET: every datagram the daemon sends, in order.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  bool bound() const { return bound_; }

  // Reads datagrams until one satisfies `want` (returned) or `timeout` passes (nullopt).
  std::optional<std::string> WaitFor(const std::function<bool(const std::string&)>& want,
                                     milliseconds timeout = kEventTimeout) {
    const auto deadline = steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto message = Receive(left);
      if (message && want(*message)) return message;
    }
  }
  // Every datagram already queued.
  std::vector<std::string> Drain() {
    std::vector<std::string> out;
    while (auto m = Receive(milliseconds(0))) out.push_back(*m);
    return out;
  }

 private:
  std::optional<std::string> Receive(milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0) return std::nullopt;
    received_.emplace_back(buf, static_cast<size_t>(n));
    return received_.back();
  }

  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> received_;
};

bool Has(const std::string& message, const std::string& line) {
  return ("\n" + message + "\n").find("\n" + line) != std::string::npos;
}

// Waits until `log` contains `text` (polling the file: an event, bounded).
bool WaitForLog(const std::string& log, const std::string& text) {
  const auto deadline = steady_clock::now() + kEventTimeout;
  while (steady_clock::now() < deadline) {
    if (mftest::ReadFile(log).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

TEST(NotifyTest, ReadyStatusWatchdogReloadingStoppingAndNoPingsWhileAWorkerIsWedged) {
  mftest::DaemonSetup setup;
  ASSERT_TRUE(setup.Make("notify", "web: {listen: '127.0.0.1:0'}\n"));
  NotifySocket notify(setup.dir + "/notify.sock");
  ASSERT_TRUE(notify.bound());
  const std::string log = setup.dir + "/daemon.log";
  const std::string mark = "X-Test-Wedge: " + std::to_string(std::random_device{}());

  setenv("NOTIFY_SOCKET", (setup.dir + "/notify.sock").c_str(), 1);
  setenv("WATCHDOG_USEC", std::to_string(kWatchdog.count() * 1000).c_str(), 1);
  unsetenv("WATCHDOG_PID");
  const pid_t pid = mftest::StartTestingDaemon(setup.config, log, mark);
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  ASSERT_GT(pid, 0);
  auto stop = [&] {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  };

  // READY=1 (after the schema check) with the status, then the mailbox is up and pings flow.
  auto ready = notify.WaitFor([](const std::string& m) { return Has(m, "READY=1"); });
  ASSERT_TRUE(ready) << mftest::ReadFile(log);
  EXPECT_TRUE(Has(*ready, "STATUS=")) << *ready;
  EXPECT_NE(ready->find("mailboxes up, outbox backlog"), std::string::npos) << *ready;
  auto up = notify.WaitFor(
      [](const std::string& m) { return Has(m, "STATUS=1/1 mailboxes up, outbox backlog 0"); });
  EXPECT_TRUE(up) << mftest::ReadFile(log);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(notify.WaitFor([](const std::string& m) { return Has(m, "WATCHDOG=1"); }))
        << mftest::ReadFile(log);
  }

  // SIGHUP: RELOADING=1 with MONOTONIC_USEC=, then READY=1, then pings again.
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  auto reloading = notify.WaitFor([](const std::string& m) { return Has(m, "RELOADING=1"); });
  ASSERT_TRUE(reloading) << mftest::ReadFile(log);
  EXPECT_TRUE(Has(*reloading, "MONOTONIC_USEC=")) << *reloading;
  EXPECT_TRUE(notify.WaitFor([](const std::string& m) { return Has(m, "READY=1"); }))
      << mftest::ReadFile(log);
  EXPECT_TRUE(notify.WaitFor([](const std::string& m) { return Has(m, "WATCHDOG=1"); }))
      << mftest::ReadFile(log);

  // Wedge the mailbox worker: a message that the hook hangs on.
  {
    auto session = mail::ImapSession::Connect(setup.imap);
    ASSERT_TRUE(session) << session.error().message;
    ASSERT_TRUE((*session)->Append("INBOX",
                                   "From: a@example.com\r\nTo: help@example.com\r\nSubject: wedge\r\n"
                                   "Message-ID: <wedge@client>\r\n" +
                                       mark + "\r\n\r\nHang here.\r\n"));
  }
  ASSERT_TRUE(WaitForLog(log, "mailforumd_testing: hanging")) << mftest::ReadFile(log);
  // Within the grace it still pings; then it logs that it stopped, naming the wedged loop alone.
  const bool stopped_pinging = WaitForLog(log, "watchdog: not pinging; late: mailbox crash\n");
  if (!stopped_pinging) stop();
  ASSERT_TRUE(stopped_pinging) << mftest::ReadFile(log);
  notify.Drain();  // sent before that line
  const auto pings = notify.WaitFor([](const std::string& m) { return Has(m, "WATCHDOG=1"); }, 3 * kWatchdog);
  EXPECT_FALSE(pings) << "a ping after the worker was wedged: " << *pings;

  // SIGTERM: STOPPING=1 (the wedged worker then never ends: killed, as systemd would after TimeoutStopSec).
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  EXPECT_TRUE(notify.WaitFor([](const std::string& m) { return Has(m, "STOPPING=1"); }))
      << mftest::ReadFile(log);
  stop();
}

}  // namespace
