// HttpServer against raw sockets: limits, keep-alive, HEAD, idle connections
// and slow clients. Hermetic (loopback only, no database).
#include "web/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "web/http_test_client.h"

namespace web {
namespace {

using testing::Connection;

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    options.io_threads = 2;
    options.error_response = [](int status) {
      Response r;
      r.status = status;
      r.AddHeader("X-Test-Error", std::to_string(status));
      r.SetBody("error " + std::to_string(status));
      return r;
    };
    server_ = std::make_unique<HttpServer>(options, [this](const Request& request) {
      ++calls_;
      Response r;
      r.AddHeader("Content-Type", "text/plain");
      r.SetBody("you asked for " + request.target + " from " + request.client_address);
      return r;
    });
    auto port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }

  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<int> calls_{0};
};

TEST_F(HttpServerTest, AnswersKeepAliveRequestsOnOneConnection) {
  StartServer();
  Connection c(port_);
  for (int i = 0; i < 3; ++i) {
    auto r = c.Get("/x?" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "you asked for /x?" + std::to_string(i) + " from 127.0.0.1");
    EXPECT_TRUE(r->Has("date"));
  }
  EXPECT_EQ(calls_, 3);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  Connection c(port_);
  ASSERT_TRUE(c.Send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto a = c.Read();
  auto b = c.Read();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->body.find("/a"), std::string::npos);
  EXPECT_NE(b->body.find("/b"), std::string::npos);
}

TEST_F(HttpServerTest, HeadHasTheLengthButNoBody) {
  StartServer();
  Connection c(port_);
  auto head = c.Get("/h", "", "HEAD");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), std::to_string(std::string("you asked for /h from 127.0.0.1").size()));
  EXPECT_EQ(head->body, "");
  // The connection is still in step: the next response is read whole.
  auto get = c.Get("/h");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "you asked for /h from 127.0.0.1");
}

TEST_F(HttpServerTest, OversizedHeaderIs431) {
  StartServer();
  Connection c(port_);
  auto r = c.Get("/", "X-Big: " + std::string(9000, 'a') + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(r->Header("x-test-error"), "431");
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, LongTargetIs414) {
  StartServer();
  Connection c(port_);
  auto r = c.Get("/" + std::string(3000, 'a'));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 414);
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, PutIs405APostReachesTheHandlerAndALargeBodyIs413) {
  StartServer();
  {
    Connection c(port_);
    ASSERT_TRUE(c.Send("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->Header("allow"), "GET, HEAD, POST");
  }
  EXPECT_EQ(calls_, 0);
  {
    // The site decides which routes take a POST (the one-click unsubscribe link); the body is dropped.
    Connection c(port_);
    ASSERT_TRUE(
        c.Send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 26\r\n\r\nList-Unsubscribe=One-Click"));
    auto r = c.Read();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(calls_, 1);
  }
  Connection c(port_);
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(calls_, 1);
}

TEST_F(HttpServerTest, GarbageIs400) {
  StartServer();
  Connection c(port_);
  ASSERT_TRUE(c.Send("HELLO THERE\r\n\r\n"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST_F(HttpServerTest, SlowClientIsCutOff) {
  ServerOptions options;
  options.header_timeout = std::chrono::milliseconds(300);
  StartServer(options);
  Connection c(port_);
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: t\r\n"));  // never finishes its header
  EXPECT_TRUE(c.WaitClosed(std::chrono::seconds(10)));
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, IdleKeepAliveIsClosedAfterIdleTimeout) {
  ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(300);
  StartServer(options);
  Connection c(port_);
  ASSERT_TRUE(c.Get("/"));
  EXPECT_TRUE(c.WaitClosed(std::chrono::seconds(10)));
}

TEST_F(HttpServerTest, ThousandIdleConnectionsDoNotStopOthers) {
  StartServer();
  std::vector<std::unique_ptr<Connection>> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.push_back(std::make_unique<Connection>(port_));
    ASSERT_GE(idle.back()->fd(), 0) << "connection " << i;
  }
  // Half of them send half a request and stall.
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(idle[i]->Send("GET / HTTP/1.1\r\n"));
  Connection fresh(port_);
  auto r = fresh.Get("/fresh");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(server_->OpenConnections(), 1000);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheLimitAreClosed) {
  ServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  Connection a(port_), b(port_);
  ASSERT_TRUE(a.Get("/"));
  ASSERT_TRUE(b.Get("/"));
  Connection c(port_);
  EXPECT_TRUE(c.WaitClosed(std::chrono::seconds(10)));
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAndReturns) {
  StartServer();
  Connection c(port_);
  ASSERT_TRUE(c.Get("/"));
  server_->Stop();
  EXPECT_TRUE(c.WaitClosed(std::chrono::seconds(10)));
  EXPECT_EQ(server_->OpenConnections(), 0);
}

TEST_F(HttpServerTest, PortInUseIsAConfigError) {
  StartServer();
  HttpServer second({}, [](const Request&) { return Response{}; });
  auto port = second.Start("127.0.0.1", port_);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.error().kind, base::ErrorKind::kConfig);
}

}  // namespace
}  // namespace web
