#include "mail/tcp_keepalive.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

namespace mail {

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

}  // namespace mail
