// TcpConnect (mail/tcp_connect.h): a resolver that never answers does not
// hold the caller past its timeout; the loopback policy refuses other
// addresses before connecting; a loopback listener is reached, in the mode
// asked. No network traffic leaves 127.0.0.1: other addresses come from a
// scripted resolver and are never connected to.
#include "mail/tcp_connect.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>

namespace mail {
namespace {

// A resolver that answers only when the test releases it.
std::mutex stuck_mu;
std::condition_variable stuck_cv;
bool stuck_released = false;  // guarded by stuck_mu
bool stuck_called = false;    // guarded by stuck_mu

int StuckResolver(const char*, const char*, const addrinfo*, addrinfo** found) {
  std::unique_lock<std::mutex> lock(stuck_mu);
  stuck_called = true;
  stuck_cv.wait(lock, [] { return stuck_released; });
  *found = nullptr;
  return EAI_AGAIN;
}

TEST(TcpConnectTest, AResolverThatNeverAnswersDoesNotHoldTheCallerPastTheTimeout) {
  TcpOptions options;
  options.timeout = std::chrono::milliseconds(200);
  auto fd = TcpConnect("stuck.example", 993, options, &StuckResolver);
  bool released_before_return;
  {
    std::lock_guard<std::mutex> lock(stuck_mu);
    released_before_return = stuck_released;
    EXPECT_TRUE(stuck_called);
    stuck_released = true;  // the abandoned lookup ends now, and frees itself
  }
  stuck_cv.notify_all();
  EXPECT_FALSE(released_before_return);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.error().kind, base::ErrorKind::kTransient);
  EXPECT_NE(fd.error().message.find("cannot resolve stuck.example: no answer from the resolver in time"),
            std::string::npos)
      << fd.error().message;
}

// Answers every name with `kAddress` (never connected to: the policy refuses it first).
constexpr const char* kAddress = "192.0.2.7";  // TEST-NET-1
int DocumentationResolver(const char*, const char* service, const addrinfo* hints, addrinfo** found) {
  addrinfo numeric = *hints;
  numeric.ai_flags |= AI_NUMERICHOST;
  return getaddrinfo(kAddress, service, &numeric, found);
}

TEST(TcpConnectTest, TheLoopbackPolicyRefusesOtherAddressesWithoutConnecting) {
  TcpOptions options;
  options.policy = AddressPolicy::kLoopbackOnly;
  auto fd = TcpConnect("mail.example", 25, options, &DocumentationResolver);
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("cannot connect to mail.example port 25: it resolves to an address that is "
                                    "not loopback, and tls is none"),
            std::string::npos)
      << fd.error().message;
}

TEST(TcpConnectTest, ANameThatDoesNotResolveSaysSo) {
  auto fd = TcpConnect("no-such-host.invalid", 25, TcpOptions{}, [](const char*, const char*, const addrinfo*,
                                                                     addrinfo** found) {
    *found = nullptr;
    return EAI_NONAME;
  });
  ASSERT_FALSE(fd.ok());
  EXPECT_NE(fd.error().message.find("cannot resolve no-such-host.invalid: "), std::string::npos)
      << fd.error().message;
}

// A listener on 127.0.0.1 and a free port.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

TEST(TcpConnectTest, ALoopbackListenerIsReachedInTheModeAsked) {
  Listener listener;
  for (bool blocking : {true, false}) {
    TcpOptions options;
    options.policy = AddressPolicy::kLoopbackOnly;
    options.blocking = blocking;
    options.keepalive = std::chrono::seconds(60);
    auto fd = TcpConnect("127.0.0.1", listener.port(), options);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    const int flags = fcntl(fd->get(), F_GETFL, 0);
    EXPECT_EQ((flags & O_NONBLOCK) == 0, blocking);
    int keepalive = 0;
    socklen_t len = sizeof keepalive;
    getsockopt(fd->get(), SOL_SOCKET, SO_KEEPALIVE, &keepalive, &len);
    EXPECT_EQ(keepalive, 1);
  }
}

TEST(TcpConnectTest, LoopbackAddressesAreThoseOfBaseIsLoopbackHost) {
  auto is_loopback = [](const char* text) {
    addrinfo hints{};
    hints.ai_flags = AI_NUMERICHOST;
    addrinfo* found = nullptr;
    EXPECT_EQ(getaddrinfo(text, nullptr, &hints, &found), 0) << text;
    const bool yes = found != nullptr && IsLoopbackAddress(found->ai_addr);
    freeaddrinfo(found);
    return yes;
  };
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("127.5.6.7"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_TRUE(is_loopback("::ffff:127.0.0.1"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
  EXPECT_FALSE(is_loopback("::ffff:10.0.0.1"));
  EXPECT_FALSE(is_loopback("2001:db8::1"));
}

}  // namespace
}  // namespace mail
