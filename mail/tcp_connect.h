// One TCP connection with a deadline, for the IMAP session and the SMTP
// transport (issue 10 item 3, issue 13 item 2): the host resolved and an
// address connected within one bound, only loopback addresses when a
// connection without TLS asks so, and TCP keepalive on the socket so that a
// peer that vanished without a word (a NAT box or firewall that dropped the
// connection's state, a host that died) is noticed by the kernel even while
// we only wait.
#ifndef MAILFORUM_MAIL_TCP_CONNECT_H_
#define MAILFORUM_MAIL_TCP_CONNECT_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "base/result.h"

struct addrinfo;
struct sockaddr;

namespace mail {

// Owns a file descriptor (closed when destroyed).
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release();
  void reset(int fd = -1);

 private:
  int fd_;
};

// Which addresses a connection may go to.
enum class AddressPolicy {
  kAny,
  kLoopbackOnly,  // a connection without TLS: 127.0.0.0/8, ::1 and IPv4-mapped 127.x (base::IsLoopbackHost)
};

struct TcpOptions {
  // Resolving and connecting together: a resolver that does not answer does not hold the caller longer.
  std::chrono::milliseconds timeout{30000};
  // The first keepalive probe after this much silence (see EnableTcpKeepalive); zero: no keepalive.
  std::chrono::milliseconds keepalive{0};
  AddressPolicy policy = AddressPolicy::kAny;
  // The descriptor's mode once connected (libetpan's TLS handshake wants blocking; vmime's socket polls).
  bool blocking = true;
};

// getaddrinfo's shape; a test passes its own to TcpConnect.
using Resolver = int (*)(const char* host, const char* service, const addrinfo* hints, addrinfo** found);

// Connects to the first address of `host` that answers, with TCP_NODELAY
// (commands are small request/answer exchanges). Errors (kTransient): the
// host not resolved within the timeout ("cannot resolve HOST: ..."), no
// address allowed by the policy or none that answered ("cannot connect to
// HOST port N: ...").
base::Result<UniqueFd> TcpConnect(const std::string& host, uint16_t port, const TcpOptions& options,
                                  Resolver resolve = nullptr);

// Turns keepalive on for socket `fd`: the first probe after `idle` of silence
// (at least 1 s), then up to 3 more a quarter of `idle` apart (at least 1 s),
// after which the connection fails (reads and writes return ETIMEDOUT). A
// socket that refuses an option keeps the kernel's default for it.
void EnableTcpKeepalive(int fd, std::chrono::milliseconds idle);

// True for the loopback addresses of AddressPolicy::kLoopbackOnly.
bool IsLoopbackAddress(const sockaddr* address);

// strerror's text for `error`, thread-safe.
std::string ErrnoText(int error);

}  // namespace mail

#endif  // MAILFORUM_MAIL_TCP_CONNECT_H_
