// The fault proxy itself (tests/support/fault_proxy.h, scripts/testenv/fault_proxy.py): each mode seen
// through plain sockets, in front of a small server of the test's own that greets, echoes and, asked
// "big", sends 100,000 bytes.
#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace mftest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int Listen(int& port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 16) != 0) return -1;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

// Greets each connection with "hello\n", then echoes; a line "big\n" is answered with 100,000 'x'.
class EchoServer {
 public:
  EchoServer() : fd_(Listen(port_)) {
    thread_ = std::thread([this] {
      for (;;) {
        const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        if (stopping_) {
          close(c);
          return;
        }
        clients_.emplace_back([c] {
          send(c, "hello\n", 6, MSG_NOSIGNAL);
          char buf[4096];
          ssize_t n;
          while ((n = recv(c, buf, sizeof buf, 0)) > 0) {
            if (std::string(buf, static_cast<size_t>(n)) == "big\n") {
              const std::string big(100000, 'x');
              send(c, big.data(), big.size(), MSG_NOSIGNAL);
            } else {
              send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
            }
          }
          close(c);
        });
      }
    });
  }
  ~EchoServer() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    for (auto& t : clients_) t.detach();  // each ends when its connection does
  }
  int port() const { return port_; }

 private:
  int port_ = 0;
  int fd_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::thread> clients_;
};

int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

struct Read {
  std::string data;
  int error = 0;     // errno of the failed recv (ECONNRESET), 0 if none
  bool eof = false;  // an orderly close
};

// Reads until `want` bytes came, the connection ended, or `quiet` passed without a byte.
Read ReadFor(int fd, size_t want, milliseconds quiet) {
  Read r;
  while (r.data.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(quiet.count())) <= 0) break;
    char buf[65536];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      r.error = errno;
      break;
    }
    if (n == 0) {
      r.eof = true;
      break;
    }
    r.data.append(buf, static_cast<size_t>(n));
  }
  return r;
}

void Send(int fd, const std::string& s) {
  ASSERT_EQ(send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

class FaultProxyTest : public ::testing::Test {
 protected:
  // A connection through the proxy, greeted.
  int Open() {
    const int fd = Connect(proxy_.port());
    EXPECT_EQ(ReadFor(fd, 6, milliseconds(10000)).data, "hello\n");
    fds_.push_back(fd);
    return fd;
  }
  ~FaultProxyTest() override {
    for (int fd : fds_) close(fd);
  }
  EchoServer server_;
  FaultProxy proxy_{"127.0.0.1", server_.port()};
  std::vector<int> fds_;
};

TEST_F(FaultProxyTest, ForwardsBothWaysAndCounts) {
  const int fd = Open();
  Send(fd, "ping\n");
  EXPECT_EQ(ReadFor(fd, 5, milliseconds(10000)).data, "ping\n");
  Open();
  const FaultProxy::Stats stats = proxy_.GetStats();
  EXPECT_EQ(stats.open, 2);
  EXPECT_EQ(stats.total, 2);
  EXPECT_EQ(stats.up, 5);
  EXPECT_EQ(stats.down, 17);  // two greetings and the echo
  EXPECT_THROW(proxy_.Command("no-such-mode"), std::runtime_error);
}

TEST_F(FaultProxyTest, LatencyDelaysEachDirection) {
  const int fd = Open();
  proxy_.Latency(300);
  const auto start = Clock::now();
  Send(fd, "ping\n");
  EXPECT_EQ(ReadFor(fd, 5, milliseconds(10000)).data, "ping\n");
  EXPECT_GE(Clock::now() - start, milliseconds(600));  // 300 ms there and 300 ms back
}

TEST_F(FaultProxyTest, StallHoldsBytesUntilHeal) {
  const int fd = Open();
  proxy_.Stall();
  Send(fd, "ping\n");
  EXPECT_EQ(ReadFor(fd, 5, milliseconds(500)).data, "");
  proxy_.Heal();
  EXPECT_EQ(ReadFor(fd, 5, milliseconds(10000)).data, "ping\n");
}

TEST_F(FaultProxyTest, BlackholeSilencesOpenConnectionsForEver) {
  const int fd = Open();
  proxy_.Blackhole();
  Send(fd, "ping\n");
  Read r = ReadFor(fd, 5, milliseconds(500));
  EXPECT_EQ(r.data, "");
  EXPECT_FALSE(r.eof);
  EXPECT_EQ(r.error, 0);
  proxy_.Heal();
  Send(fd, "again\n");
  r = ReadFor(fd, 5, milliseconds(500));
  EXPECT_EQ(r.data, "");  // still dead: the socket is open, nothing ever comes
  EXPECT_FALSE(r.eof);
  const int fresh = Open();  // new connections work again
  Send(fresh, "ping\n");
  EXPECT_EQ(ReadFor(fresh, 5, milliseconds(10000)).data, "ping\n");
}

TEST_F(FaultProxyTest, ResetSendsRstToOpenConnections) {
  const int fd = Open();
  proxy_.Reset();
  const Read r = ReadFor(fd, 1, milliseconds(10000));
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(r.data, "");
}

TEST_F(FaultProxyTest, ResetAfterCutsTheServersStreamAfterNBytes) {
  const int fd = Open();
  proxy_.ResetAfter(1000);
  Send(fd, "big\n");
  const Read r = ReadFor(fd, 100000, milliseconds(10000));
  EXPECT_EQ(r.data.size(), 1000u);
  EXPECT_EQ(r.error, ECONNRESET);
}

TEST_F(FaultProxyTest, ResetAfterUpCutsTheClientsStreamAfterNBytes) {
  const int fd = Open();
  proxy_.ResetAfterUp(10);
  Send(fd, "0123456789abcdef\n");
  const Read r = ReadFor(fd, 100, milliseconds(10000));
  EXPECT_EQ(r.error, ECONNRESET);
  EXPECT_EQ(r.data.find("abcdef"), std::string::npos);  // the server never got the bytes after the 10th
  const FaultProxy::Stats stats = proxy_.GetStats();
  EXPECT_EQ(stats.up, 10);
  EXPECT_EQ(stats.resets, 1);
  EXPECT_EQ(stats.refused, 0);
}

TEST_F(FaultProxyTest, RefuseResetsNewConnectionsOnly) {
  const int open = Open();
  proxy_.Refuse();
  const int fd = Connect(proxy_.port());
  fds_.push_back(fd);
  const Read r = ReadFor(fd, 1, milliseconds(10000));
  EXPECT_EQ(r.data, "");
  EXPECT_TRUE(r.error == ECONNRESET || r.eof) << r.error;
  Send(open, "ping\n");  // the connection that was open goes on
  EXPECT_EQ(ReadFor(open, 5, milliseconds(10000)).data, "ping\n");
  EXPECT_EQ(proxy_.GetStats().refused, 1);
  EXPECT_EQ(proxy_.GetStats().resets, 0);
  proxy_.Heal();
  Open();
}

}  // namespace
}  // namespace mftest
