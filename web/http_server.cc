// HttpServer on Boost.Beast: one Session per connection, driven by
// completion handlers on a per-connection strand; no thread ever waits for a
// client. A request cycle is: wait up to idle_timeout for the first byte
// (only when nothing is buffered yet), then read the whole request within
// header_timeout, call the handler, write, and loop while keep-alive holds.
#include "web/http_server.h"

#include <time.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "base/log.h"

namespace web {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The Date header, formatted once per second per thread.
std::string HttpDate() {
  thread_local time_t cached_second = 0;
  thread_local std::string cached;
  time_t now = time(nullptr);
  if (now != cached_second) {
    struct tm tm {};
    gmtime_r(&now, &tm);
    char buf[64];
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_second = now;
  }
  return cached;
}

}  // namespace

class Session;

// An io_context whose pending handlers can be dropped once its threads have stopped. Those handlers
// hold the server (and their sessions) by shared_ptr while the server owns the io_context: left in
// place until the io_context's own destructor, that cycle kept every stopped server, its sessions and
// their buffers alive for ever (LeakSanitizer, issue 13 item 5). shutdown() destroys the handlers
// without running them; the destructor calls it again, which does nothing more.
struct IoContext : net::io_context {
  void DropPendingHandlers() { shutdown(); }
};

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(ServerOptions o, Handler h) : options(std::move(o)), handler(std::move(h)), acceptor(ioc) {}

  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  Response ErrorResponse(int status);

  ServerOptions options;
  Handler handler;
  IoContext ioc;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::atomic<int64_t> open{0};
  std::atomic<bool> stopping{false};
  bool started = false;

  std::mutex mutex;  // guards sessions; notified when one ends
  std::condition_variable session_ended;
  std::set<std::shared_ptr<Session>> sessions;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<HttpServer::Impl> server, tcp::socket socket, std::string client)
      : server_(std::move(server)),
        stream_(std::move(socket)),
        buffer_(server_->options.max_header_bytes + server_->options.max_body_bytes + 4096),
        client_(std::move(client)) {}

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->WaitForRequest(); });
  }

  // From Stop(): an idle or reading connection is closed now; one being
  // answered closes once its response is written.
  void Shutdown() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (!self->writing_) self->Close();
    });
  }

 private:
  void WaitForRequest() {
    if (server_->stopping) return Close();
    writing_ = false;
    if (buffer_.size() > 0) return ReadRequest();  // a pipelined request is already here
    stream_.expires_after(server_->options.idle_timeout);
    std::size_t room = std::min<std::size_t>(4096, buffer_.max_size() - buffer_.size());
    stream_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->Close();
                              self->buffer_.commit(n);
                              self->ReadRequest();
                            });
  }

  void ReadRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_->options.max_header_bytes));
    parser_->body_limit(server_->options.max_body_bytes);
    stream_.expires_after(server_->options.header_timeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->OnRead(ec);
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) return Refuse(431);
    if (ec == http::error::body_limit) return Refuse(413);
    if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return Close();
    }
    if (ec) return Refuse(400);
    auto& req = parser_->get();
    if (req.target().size() > server_->options.max_target_bytes) return Refuse(414);
    if (req.method() != http::verb::get && req.method() != http::verb::head &&
        req.method() != http::verb::post) {
      Response r = server_->ErrorResponse(405);
      r.AddHeader("Allow", "GET, HEAD, POST");
      return Send(std::move(r), false, false);
    }
    Request request;
    request.method = std::string(req.method_string());
    request.target = std::string(req.target());
    request.client_address = client_;
    if (auto it = req.find(http::field::accept_encoding); it != req.end()) {
      request.accept_encoding = std::string(it->value());
    }
    if (auto it = req.find(http::field::if_none_match); it != req.end()) {
      request.if_none_match = std::string(it->value());
    }
    if (auto it = req.find(http::field::if_modified_since); it != req.end()) {
      request.if_modified_since = std::string(it->value());
    }
    const bool keep_alive = req.keep_alive() && !server_->stopping;
    const bool head = req.method() == http::verb::head;
    Response response;
    try {
      response = server_->handler(request);
    } catch (const std::exception& e) {
      base::LogError(std::string("web: handler failed: ") + e.what());
      response = server_->ErrorResponse(500);
    }
    Send(std::move(response), keep_alive, head);
  }

  // A request the server refuses itself: answered, then the connection closes
  // (what follows in the stream cannot be trusted to start a request).
  void Refuse(int status) { Send(server_->ErrorResponse(status), false, false); }

  void Send(Response response, bool keep_alive, bool head) {
    writing_ = true;
    body_ = std::move(response.body);
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) res_.insert(name, value);
    res_.set(http::field::date, HttpDate());
    res_.keep_alive(keep_alive);
    const std::size_t size = body_ ? body_->size() : 0;
    // 1xx, 204 and 304 have no body and (for 304) no Content-Length of their own.
    if (response.status != 304 && response.status != 204) res_.content_length(size);
    if (!head && body_ && response.status != 304 && response.status != 204) {
      res_.body() = http::span_body<const char>::value_type(body_->data(), body_->size());
    }
    serializer_.emplace(res_);
    stream_.expires_after(server_->options.write_timeout);
    http::async_write(stream_, *serializer_,
                      [self = shared_from_this(), keep_alive](beast::error_code ec, std::size_t) {
                        self->serializer_.reset();
                        self->body_.reset();
                        if (ec || !keep_alive) return self->Close();
                        self->WaitForRequest();
                      });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
    std::lock_guard lock(server_->mutex);
    server_->sessions.erase(shared_from_this());
    server_->open.fetch_sub(1);
    server_->session_ended.notify_all();
  }

  std::shared_ptr<HttpServer::Impl> server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::string client_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::span_body<const char>> res_;
  std::optional<http::response_serializer<http::span_body<const char>>> serializer_;
  std::shared_ptr<const std::string> body_;
  bool writing_ = false;
  bool closed_ = false;
};

Response HttpServer::Impl::ErrorResponse(int status) {
  if (options.error_response) return options.error_response(status);
  Response r;
  r.status = status;
  r.AddHeader("Content-Type", "text/plain; charset=utf-8");
  r.SetBody(std::to_string(status) + "\n");
  return r;
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
    self->OnAccept(ec, std::move(s));
  });
}

void HttpServer::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping || !acceptor.is_open()) return;
  if (ec) {
    // Out of file descriptors (EMFILE) and the like: wait a little instead of spinning.
    base::LogWarning("web: accept failed: " + ec.message());
    auto timer = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(50));
    timer->async_wait([self = shared_from_this(), timer](beast::error_code) { self->Accept(); });
    return;
  }
  beast::error_code ignored;
  if (open.load() >= options.max_connections) {
    socket.close(ignored);
  } else {
    socket.set_option(tcp::no_delay(true), ignored);
    auto endpoint = socket.remote_endpoint(ignored);
    std::string client = ignored ? std::string() : endpoint.address().to_string();
    auto session = std::make_shared<Session>(shared_from_this(), std::move(socket), std::move(client));
    {
      std::lock_guard lock(mutex);
      sessions.insert(session);
      open.fetch_add(1);
    }
    session->Start();
  }
  Accept();
}

HttpServer::HttpServer(ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { Stop(); }

base::Result<uint16_t> HttpServer::Start(const std::string& host, uint16_t port) {
  if (impl_->started) return base::MakeError(base::ErrorKind::kInternal, "web: the server is already started");
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  auto endpoints = resolver.resolve(host, std::to_string(port), tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    return base::MakeError(base::ErrorKind::kConfig, "web: cannot resolve '" + host + "': " + ec.message());
  }
  tcp::endpoint endpoint = endpoints.begin()->endpoint();
  auto& acceptor = impl_->acceptor;
  auto fail = [&](std::string_view what) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return base::MakeError(base::ErrorKind::kConfig,
                           "web: cannot " + std::string(what) + " " + host + ":" + std::to_string(port) + ": " +
                               ec.message());
  };
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("set options to listen on");
  acceptor.bind(endpoint, ec);
  if (ec) return fail("listen on");
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  const uint16_t bound = acceptor.local_endpoint(ec).port();
  impl_->started = true;
  impl_->work.emplace(impl_->ioc.get_executor());
  impl_->Accept();
  const int n = std::clamp(impl_->options.io_threads, 1, 64);
  for (int i = 0; i < n; ++i) {
    impl_->threads.emplace_back([impl = impl_] {
      for (;;) {
        try {
          impl->ioc.run();
          return;
        } catch (const std::exception& e) {
          base::LogError(std::string("web: I/O thread: ") + e.what());
        }
      }
    });
  }
  return bound;
}

void HttpServer::Stop(std::chrono::milliseconds grace) {
  if (!impl_->started || impl_->stopping.exchange(true)) return;
  net::post(impl_->acceptor.get_executor(), [impl = impl_] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  std::vector<std::shared_ptr<Session>> sessions;
  {
    std::lock_guard lock(impl_->mutex);
    sessions.assign(impl_->sessions.begin(), impl_->sessions.end());
  }
  for (auto& s : sessions) s->Shutdown();
  sessions.clear();
  {
    std::unique_lock lock(impl_->mutex);
    impl_->session_ended.wait_for(lock, grace, [&] { return impl_->sessions.empty(); });
  }
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // Sessions still registered (a response that outlived the grace) are
  // dropped with the io_context's handlers.
  {
    std::lock_guard lock(impl_->mutex);
    impl_->sessions.clear();
  }
  impl_->ioc.DropPendingHandlers();
}

void HttpServer::Post(std::function<void()> task) {
  if (!impl_->started || impl_->stopping) return;
  net::post(impl_->ioc, std::move(task));
}

int64_t HttpServer::OpenConnections() const { return impl_->open.load(); }

}  // namespace web
