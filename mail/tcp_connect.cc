#include "mail/tcp_connect.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

namespace mail {
namespace {

using base::ErrorKind;
using base::MakeError;
using Clock = std::chrono::steady_clock;

struct FreeAddrInfo {
  void operator()(addrinfo* found) const { freeaddrinfo(found); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, FreeAddrInfo>;

// One lookup, shared by the caller and the thread that runs it: whichever lets go last frees it.
struct Lookup {
  std::mutex mu;
  std::condition_variable answered;
  bool done = false;  // guarded by mu
  int rc = 0;
  AddrInfoPtr found;
};

int MsLeft(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, 1 << 30));
}

// Resolves `host` by `deadline`. getaddrinfo has no timeout of its own (a stuck resolver holds it for
// resolv.conf's attempts x timeout x servers, a broken NSS module for ever), so it runs on a thread of its
// own, which the caller stops waiting for at the deadline; that thread then frees the answer itself.
base::Result<AddrInfoPtr> Resolve(const std::string& host, uint16_t port, Clock::time_point deadline,
                                  Resolver resolve) {
  auto lookup = std::make_shared<Lookup>();
  try {
    std::thread([lookup, host, service = std::to_string(port), resolve] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* found = nullptr;
      const int rc = resolve(host.c_str(), service.c_str(), &hints, &found);
      std::lock_guard<std::mutex> lock(lookup->mu);
      lookup->rc = rc;
      lookup->found.reset(rc == 0 ? found : nullptr);
      lookup->done = true;
      lookup->answered.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    return MakeError(ErrorKind::kTransient, "cannot resolve " + host + ": no thread for the lookup: " + e.what());
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->answered.wait_until(lock, deadline, [&] { return lookup->done; })) {
    return MakeError(ErrorKind::kTransient, "cannot resolve " + host + ": no answer from the resolver in time");
  }
  if (lookup->rc != 0) return MakeError(ErrorKind::kTransient, "cannot resolve " + host + ": " + gai_strerror(lookup->rc));
  return std::move(lookup->found);
}

// Connects the non-blocking socket `fd` to `address` by `deadline`; empty, or why not.
std::string ConnectBy(int fd, const addrinfo& address, Clock::time_point deadline) {
  if (connect(fd, address.ai_addr, address.ai_addrlen) == 0) return "";
  if (errno != EINPROGRESS && errno != EINTR) return ErrnoText(errno);
  for (;;) {
    pollfd pfd{fd, POLLOUT, 0};
    const int ready = poll(&pfd, 1, MsLeft(deadline));
    if (ready > 0) break;
    if (ready == 0) return "timed out";
    if (errno != EINTR) return ErrnoText(errno);
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  return err == 0 ? "" : ErrnoText(err);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) reset(other.release());
  return *this;
}

int UniqueFd::release() { return std::exchange(fd_, -1); }

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

base::Result<UniqueFd> TcpConnect(const std::string& host, uint16_t port, const TcpOptions& options,
                                  Resolver resolve) {
  const Clock::time_point deadline = Clock::now() + options.timeout;
  auto addresses = Resolve(host, port, deadline, resolve != nullptr ? resolve : &getaddrinfo);
  if (!addresses) return addresses.error();
  std::string last_error = "no address";
  for (const addrinfo* ai = addresses->get(); ai != nullptr; ai = ai->ai_next) {
    if (options.policy == AddressPolicy::kLoopbackOnly && !IsLoopbackAddress(ai->ai_addr)) {
      last_error = "it resolves to an address that is not loopback, and tls is none";
      continue;
    }
    UniqueFd fd(socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol));
    if (fd.get() < 0) {
      last_error = ErrnoText(errno);
      continue;
    }
    if (std::string failed = ConnectBy(fd.get(), *ai, deadline); !failed.empty()) {
      last_error = std::move(failed);
      if (Clock::now() >= deadline) break;
      continue;
    }
    if (options.blocking) {
      const int flags = fcntl(fd.get(), F_GETFL, 0);
      if (flags < 0 || fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) < 0) {
        last_error = ErrnoText(errno);
        continue;
      }
    }
    const int on = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    if (options.keepalive.count() > 0) EnableTcpKeepalive(fd.get(), options.keepalive);
    return fd;
  }
  return MakeError(ErrorKind::kTransient,
                   "cannot connect to " + host + " port " + std::to_string(port) + ": " + last_error);
}

void EnableTcpKeepalive(int fd, std::chrono::milliseconds idle) {
  const int seconds = static_cast<int>(std::max<int64_t>(1, (idle.count() + 999) / 1000));
  const int interval = std::max(1, seconds / 4);
  const int count = 3;
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seconds, sizeof seconds);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

bool IsLoopbackAddress(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(address);
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (address->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(address);
    // The same set as base::IsLoopbackHost: ::1 and IPv4-mapped 127.x.
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
           (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
  }
  return false;
}

std::string ErrnoText(int error) { return std::system_category().message(error); }

}  // namespace mail
