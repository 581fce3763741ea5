// TCP keepalive on the sockets of the mail sessions (IMAP, SMTP): a peer that
// vanished without a word (a NAT box or firewall that dropped the connection's
// state, a host that died) is noticed by the kernel even while we only wait.
#ifndef MAILFORUM_MAIL_TCP_KEEPALIVE_H_
#define MAILFORUM_MAIL_TCP_KEEPALIVE_H_

#include <chrono>

namespace mail {

// Turns keepalive on for socket `fd`: the first probe after `idle` of silence
// (at least 1 s), then up to 3 more a quarter of `idle` apart (at least 1 s),
// after which the connection fails (reads and writes return ETIMEDOUT). A
// socket that refuses an option keeps the kernel's default for it.
void EnableTcpKeepalive(int fd, std::chrono::milliseconds idle);

}  // namespace mail

#endif  // MAILFORUM_MAIL_TCP_KEEPALIVE_H_
