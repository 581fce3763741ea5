// HttpServer: the web view's HTTP/1.1 server, asynchronous (Boost.Beast
// lives only in http_server.cc; nothing of it crosses this header).
//
// A few I/O threads serve every connection: a connection waiting for its
// next request holds a socket and a small buffer, never a thread, so
// thousands of idle keep-alive connections do not stop the server answering
// others. Each limit is explicit (ServerOptions): the size of the request
// header (431), of the request target (414) and of a body (413); only GET,
// HEAD and POST reach the handler (405; the handler decides which routes take a POST); a client gets
// `header_timeout` to send a whole request once its first byte arrived, and an idle keep-alive connection is
// closed after `idle_timeout`; beyond `max_connections` new connections are
// closed at once. The handler runs on an I/O thread: it may block for a
// database round trip, which holds that thread (hence a few of them).
//
// Every response the server makes up itself (431, 414, 413, 405, 400) comes
// from ServerOptions::error_response, so it carries the same headers as the
// handler's own (the site's security headers). A HEAD request gets the
// handler's GET response without its body.
//
// Thread-safety: Start and Stop from one controlling thread; the handler is
// called concurrently from the I/O threads; OpenConnections from any thread.
#ifndef MAILFORUM_WEB_HTTP_SERVER_H_
#define MAILFORUM_WEB_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace web {

// One request as the handler sees it. Header values are as sent ("" when absent).
struct Request {
  std::string
      method;  // "GET", "HEAD" or "POST" (others never reach the handler; a POST's body is read and dropped)
  std::string target;  // origin-form, e.g. "/t/12?x=1"; at most ServerOptions::max_target_bytes
  std::string client_address;  // the peer's IP address, e.g. "127.0.0.1"
  std::string accept_encoding;
  std::string if_none_match;
  std::string if_modified_since;
};

struct Response {
  int status = 200;
  // Besides these the server sets Date, Content-Length and Connection.
  std::vector<std::pair<std::string, std::string>> headers;
  // Shared so that a cached page is sent without a copy; null means empty.
  std::shared_ptr<const std::string> body;

  void SetBody(std::string text) { body = std::make_shared<const std::string>(std::move(text)); }
  void AddHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

struct ServerOptions {
  int io_threads = 4;                   // 1..64
  std::size_t max_header_bytes = 8 * 1024;   // the whole request header; more: 431
  std::size_t max_target_bytes = 2 * 1024;   // the request target; more: 414
  std::size_t max_body_bytes = 16 * 1024;    // a request body; more: 413
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};  // first byte to whole request
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};    // keep-alive wait for a next request
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};   // to send one response
  int max_connections = 10000;          // open connections; more are closed at accept
  // The response for a status the server decides itself (400, 405, 413, 414, 431).
  // Empty: a plain-text body and no extra header.
  std::function<Response(int status)> error_response;
};

class HttpServer {
 public:
  using Handler = std::function<Response(const Request&)>;

  HttpServer(ServerOptions options, Handler handler);
  // Stops (as Stop()) when still running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `host` (an IP address or a name resolved once) and `port` (0: a
  // free port), starts the I/O threads and returns the bound port.
  // Errors: kConfig when the address cannot be resolved or bound (in use,
  // no permission); kInternal when called twice.
  base::Result<uint16_t> Start(const std::string& host, uint16_t port);

  // Stops accepting, closes idle connections, lets requests being answered
  // finish for up to `grace`, then closes everything and joins the threads.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Runs `task` on an I/O thread as soon as one is free: a probe that the
  // threads still make progress (mailforumd's watchdog). Not run when the
  // server is not running or stops first. From the thread that calls Start and Stop.
  void Post(std::function<void()> task);

  // Connections open now (for /metrics).
  int64_t OpenConnections() const;

  // The state its connections share (defined in http_server.cc only).
  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace web

#endif  // MAILFORUM_WEB_HTTP_SERVER_H_
