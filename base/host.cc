#include "base/host.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "base/ascii.h"

namespace base {

bool IsLoopbackHost(std::string_view host) {
  const std::string h = AsciiLower(host);
  if (h == "localhost" || h == "localhost.") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

namespace {

// The host of an http(s) URL: after "://" and any userinfo, up to the port, path, query or fragment.
std::string UrlHost(std::string_view url) {
  auto start = url.find("://");
  if (start == std::string_view::npos) return {};
  std::string_view rest = url.substr(start + 3);
  if (auto at = rest.find_first_of("/?#"); at != std::string_view::npos) rest = rest.substr(0, at);
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    auto end = rest.find(']');
    return std::string(rest.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
  }
  return std::string(rest.substr(0, rest.find(':')));
}

}  // namespace

std::string SecretUrlProblem(std::string_view url) {
  const bool https = url.rfind("https://", 0) == 0;
  const bool http = url.rfind("http://", 0) == 0;
  if (!https && !http) return "expected an https:// URL";
  const std::string host = UrlHost(url);
  if (host.empty()) return "the URL has no host";
  if (http && !IsLoopbackHost(host)) return "http:// is allowed only to a loopback host; use https://";
  return {};
}

}  // namespace base
