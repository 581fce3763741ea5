// A tiny blocking HTTP/1.1 client over raw sockets for the web tests: it
// sends exactly the bytes a test gives (oversized headers, half requests)
// and reads one response. Test-only; header-only so tests need no library.
#ifndef MAILFORUM_WEB_HTTP_TEST_CLIENT_H_
#define MAILFORUM_WEB_HTTP_TEST_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace web::testing {

struct ClientResponse {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
  bool Has(const std::string& lower_name) const { return headers.count(lower_name) > 0; }
};

class Connection {
 public:
  // Connects to 127.0.0.1:port; fd() < 0 on failure.
  explicit Connection(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
    }
    int one = 1;
    if (fd_ >= 0) setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() {
    if (fd_ >= 0) close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // True when the server closed the connection within `timeout` (read returns 0 or an error).
  bool WaitClosed(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
  }

  // Reads one response (Content-Length framed; HEAD and 304 have no body).
  std::optional<ClientResponse> Read(bool head = false,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(deadline)) return std::nullopt;
    }
    ClientResponse r;
    std::string_view head_text(buffer_.data(), header_end);
    std::size_t line_end = head_text.find("\r\n");
    std::string_view status_line = head_text.substr(0, line_end);
    if (status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(std::string(status_line.substr(9, 3)));
    std::size_t pos = line_end == std::string_view::npos ? head_text.size() : line_end + 2;
    while (pos < head_text.size()) {
      std::size_t end = head_text.find("\r\n", pos);
      if (end == std::string_view::npos) end = head_text.size();
      std::string_view line = head_text.substr(pos, end - pos);
      std::size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string name(line.substr(0, colon));
        for (char& c : name) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        r.headers.emplace(name, std::string(value));
      }
      pos = end + 2;
    }
    buffer_.erase(0, header_end + 4);
    std::size_t length = 0;
    if (!head && r.status != 304 && r.status != 204 && r.Has("content-length")) {
      length = std::stoul(r.Header("content-length"));
    }
    while (buffer_.size() < length) {
      if (!Fill(deadline)) return std::nullopt;
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return r;
  }

  // Sends a GET (or `method`) for `target` with `extra` header lines ("Name: value\r\n"...).
  std::optional<ClientResponse> Get(const std::string& target, const std::string& extra = "",
                                    const std::string& method = "GET") {
    if (!Send(method + " " + target + " HTTP/1.1\r\nHost: test\r\n" + extra + "\r\n")) return std::nullopt;
    return Read(method == "HEAD");
  }

 private:
  bool Fill(std::chrono::steady_clock::time_point deadline) {
    char buf[65536];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      int rc = poll(&p, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) continue;
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      buffer_.append(buf, static_cast<size_t>(n));
      return true;
    }
  }

  int fd_ = -1;
  std::string buffer_;
};

}  // namespace web::testing

#endif  // MAILFORUM_WEB_HTTP_TEST_CLIENT_H_
