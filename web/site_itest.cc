// The site on the real HTTP server over a real PostgreSQL (scripts/test):
// data made through Store::RecordBatch as the daemon makes it, requests made
// over raw sockets (web/http_test_client.h). Checks the security headers on
// every kind of response, conditional GET, gzip, private categories,
// attachment headers, cache invalidation when a post lands, the request
// limits and the search rate limit.
#include <gtest/gtest.h>
#include <stdio.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "forum/model.h"
#include "forum/store.h"
#include "forum/store_fixture.h"
#include "tests/support/subprocess.h"
#include "web/gzip.h"
#include "web/http_server.h"
#include "web/http_test_client.h"
#include "web/site.h"

namespace web {
namespace {

using testing::ClientResponse;
using testing::Connection;

constexpr char kDomain[] = "help.example";

class SiteTest : public forum::ScratchStoreTest {
 protected:
  SiteTest()
      : ScratchStoreTest("site", {{"general", "General", "Anything at all"},
                                  {"staff", "Staff", "Private matters", /*is_public=*/false}}) {}

  void SetUp() override {
    ScratchStoreTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    SiteOptions options;
    options.info.name = "Test Help";
    options.info.base_url = "https://help.example";
    // The web's role may only SELECT (docs/configuration.md, web.dsn_file).
    Scalar(
        "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mf_site_reader') THEN "
        "CREATE ROLE mf_site_reader LOGIN PASSWORD 'reader'; END IF; END$$");
    Scalar("GRANT SELECT ON ALL TABLES IN SCHEMA public TO mf_site_reader");
    // Its one write, the one-click unsubscription (forum/migrations/0010_unsubscribe_grant.sql).
    Scalar("GRANT EXECUTE ON FUNCTION mailforum_unsubscribe(text, text, text) TO mf_site_reader");
    options.dsn = dsn_ + " user=mf_site_reader password=reader";
    // A stand-in for mail/unsubscribe_token.h (the web links no mail code):
    // "ok-ID" and "bad-ID" name outbox row ID; only "ok-" tokens verify.
    options.unsubscribe_row = [](std::string_view token) -> std::optional<int64_t> {
      const size_t dash = token.find('-');
      if (dash == std::string_view::npos) return std::nullopt;
      return std::stoll(std::string(token.substr(dash + 1)));
    };
    options.unsubscribe_verify = [](std::string_view token, const std::string&, const std::string&) {
      return token.starts_with("ok-");
    };
    options.list_addresses = {"it-list@example.com"};
    options.search_burst = 3;
    options.search_per_minute = 1;
    auto site = Site::Create(options);
    ASSERT_TRUE(site) << site.error().message;
    site_ = std::move(site).value();
    ServerOptions server_options;
    server_options.io_threads = 2;
    server_options.header_timeout = std::chrono::milliseconds(500);
    server_options.error_response = [this](int status) { return site_->ErrorResponse(status); };
    server_ =
        std::make_unique<HttpServer>(server_options, [this](const Request& r) { return site_->Handle(r); });
    site_->SetConnectionGauge([this] { return server_->OpenConnections(); });
    auto port = server_->Start("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
  }

  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    site_.reset();
  }

  struct Made {
    int64_t thread_id = 0;
    int64_t post_id = 0;
  };

  // Records one post through RecordBatch: a new thread when `thread` is 0.
  Made Post(int64_t thread, const std::string& category, const std::string& subject, const std::string& body,
            std::vector<forum::AttachmentDraft> attachments = {}) {
    forum::InboundItem item;
    item.mailbox = "help";
    item.uidvalidity = 1;
    item.uid = ++uid_;
    item.message_id = "m" + std::to_string(uid_) + "@client.example";
    item.from_address = "alice" + std::to_string(uid_) + "@example.com";
    item.message_key = item.message_id + " " + item.from_address;
    item.subject = subject;
    item.classification = forum::Classification::kNormal;
    item.outcome = forum::Outcome::kPosted;
    forum::PostDraft post;
    if (thread != 0) post.thread_id = thread;
    post.category = category;
    post.subject = subject;
    post.author_address = item.from_address;
    post.author_name = "Person " + std::to_string(uid_);
    post.body = body;
    post.attachments = std::move(attachments);
    item.post = post;
    auto batch = store_->RecordBatch({item}, kDomain);
    EXPECT_TRUE(batch) << batch.error().message;
    if (!batch || !(*batch)[0]) {
      ADD_FAILURE() << "the post was not recorded";
      return {};
    }
    return Made{*(*batch)[0]->thread_id, *(*batch)[0]->post_id};
  }

  ClientResponse Get(const std::string& target, const std::string& extra = "",
                     const std::string& method = "GET") {
    Connection c(port_);
    auto r = c.Get(target, extra, method);
    EXPECT_TRUE(r) << "no response to " << target;
    return r.value_or(ClientResponse{});
  }

  // Waits (with a deadline) until the change listener is up, so the cache is in use.
  void WaitForListener() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!site_->Listening() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(site_->Listening());
  }

  // The value of an unlabelled metric in /metrics.
  long Metric(const std::string& name) {
    ClientResponse m = Get("/metrics");
    std::size_t at = m.body.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::stol(m.body.substr(at + name.size() + 2));
  }

  static void ExpectSecurityHeaders(const ClientResponse& r, const std::string& what) {
    SCOPED_TRACE(what + " (status " + std::to_string(r.status) + ")");
    EXPECT_EQ(
        r.Header("content-security-policy"),
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'");
    EXPECT_EQ(r.Header("x-content-type-options"), "nosniff");
    EXPECT_EQ(r.Header("referrer-policy"), "same-origin");
  }

  std::unique_ptr<Site> site_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  uint32_t uid_ = 0;
};

TEST_F(SiteTest, SecurityHeadersOnEveryKindOfResponse) {
  const Made q = Post(0, "general", "Printer jams", "The printer jams on Tuesdays.");
  ClientResponse ok = Get("/t/" + std::to_string(q.thread_id));
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("Printer jams"), std::string::npos);
  ExpectSecurityHeaders(ok, "thread page");
  ClientResponse not_modified =
      Get("/t/" + std::to_string(q.thread_id), "If-None-Match: " + ok.Header("etag") + "\r\n");
  EXPECT_EQ(not_modified.status, 304);
  ExpectSecurityHeaders(not_modified, "304");
  ClientResponse missing = Get("/no/such/<script>page");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body.find("<script>"), std::string::npos);
  ExpectSecurityHeaders(missing, "404");
  ClientResponse api_missing = Get("/api/threads/999999");
  EXPECT_EQ(api_missing.status, 404);
  EXPECT_EQ(api_missing.Header("content-type"), "application/json");
  ExpectSecurityHeaders(api_missing, "API 404");
  ClientResponse big = Get("/", "X-Big: " + std::string(9000, 'a') + "\r\n");
  EXPECT_EQ(big.status, 431);
  ExpectSecurityHeaders(big, "431");
  ClientResponse css = Get("/static/style.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_NE(css.Header("cache-control").find("max-age="), std::string::npos);
  ExpectSecurityHeaders(css, "stylesheet");
  ClientResponse health = Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(nlohmann::json::parse(health.body).at("status"), "ok") << health.body;
  ExpectSecurityHeaders(health, "healthz");
  ClientResponse post = Get("/", "Content-Length: 0\r\n", "POST");
  EXPECT_EQ(post.status, 405);
  ExpectSecurityHeaders(post, "405");
}

TEST_F(SiteTest, ConditionalGetByEntityTagAndLastModified) {
  const Made q = Post(0, "general", "Backups", "How often do we back up?");
  const std::string url = "/t/" + std::to_string(q.thread_id);
  ClientResponse first = Get(url);
  ASSERT_EQ(first.status, 200);
  ASSERT_FALSE(first.Header("etag").empty());
  ASSERT_FALSE(first.Header("last-modified").empty());
  EXPECT_EQ(first.Header("etag").front(), '"');  // strong
  EXPECT_EQ(Get(url, "If-None-Match: " + first.Header("etag") + "\r\n").status, 304);
  EXPECT_EQ(Get(url, "If-None-Match: \"something-else\"\r\n").status, 200);
  EXPECT_EQ(Get(url, "If-Modified-Since: " + first.Header("last-modified") + "\r\n").status, 304);
  EXPECT_EQ(Get(url, "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n").status, 200);
  // Lists too: Last-Modified is their newest change.
  ClientResponse list = Get("/");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Header("last-modified"), first.Header("last-modified"));
  EXPECT_EQ(Get("/", "If-None-Match: " + list.Header("etag") + "\r\n").status, 304);
  // HEAD: the headers of GET without the body.
  ClientResponse head = Get(url, "", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("etag"), first.Header("etag"));
  EXPECT_EQ(head.Header("content-length"), std::to_string(first.body.size()));
  EXPECT_TRUE(head.body.empty());
}

TEST_F(SiteTest, GzipDecompressesToTheSamePage) {
  const Made q = Post(0, "general", "Long thread", std::string(2000, 'x') + " words words words");
  for (const std::string& url :
       {"/t/" + std::to_string(q.thread_id), std::string("/"), std::string("/feed.atom"),
        "/api/threads/" + std::to_string(q.thread_id), std::string("/static/style.css")}) {
    SCOPED_TRACE(url);
    ClientResponse plain = Get(url);
    ClientResponse gz = Get(url, "Accept-Encoding: br, gzip;q=0.8\r\n");
    ASSERT_EQ(plain.status, 200);
    ASSERT_EQ(gz.status, 200);
    EXPECT_EQ(plain.Header("content-encoding"), "");
    EXPECT_EQ(plain.Header("vary"), "Accept-Encoding");  // the identity answer varies too
    EXPECT_EQ(gz.Header("content-encoding"), "gzip");
    EXPECT_EQ(gz.Header("vary"), "Accept-Encoding");
    EXPECT_NE(gz.Header("etag"), plain.Header("etag"));
    auto unzipped = Gunzip(gz.body);
    ASSERT_TRUE(unzipped);
    EXPECT_EQ(*unzipped, plain.body);
    EXPECT_EQ(Get(url, "Accept-Encoding: gzip;q=0\r\n").Header("content-encoding"), "");
  }
}

TEST_F(SiteTest, PrivateCategoryIsNotFoundEverywhere) {
  const Made open = Post(0, "general", "Open question", "Anyone may read this.");
  const Made secret = Post(0, "staff", "Salary review", "Confidential staffword.",
                           {{"plan.txt", "text/plain", "", std::string(64, 'c'), "the plan"}});
  const std::string id = std::to_string(secret.thread_id);
  for (const std::string& url :
       {"/t/" + id, "/api/threads/" + id, "/t/" + id + "/feed.atom",
        "/t/" + id + "/attachments/" + std::to_string(secret.post_id) + "/0", std::string("/c/staff"),
        std::string("/c/staff/feed.atom"), std::string("/api/threads?category=staff")}) {
    ClientResponse r = Get(url);
    EXPECT_EQ(r.status, 404) << url;
    EXPECT_EQ(r.body.find("Salary"), std::string::npos) << url;
  }
  for (const std::string& url : {std::string("/"), std::string("/feed.atom"), std::string("/api/threads"),
                                 std::string("/search?q=staffword"), std::string("/api/search?q=Salary")}) {
    ClientResponse r = Get(url);
    EXPECT_EQ(r.status, 200) << url;
    EXPECT_EQ(r.body.find("Salary"), std::string::npos) << url;
    EXPECT_EQ(r.body.find("Confidential"), std::string::npos) << url;
  }
  EXPECT_EQ(Get("/t/" + std::to_string(open.thread_id)).status, 200);
}

TEST_F(SiteTest, AttachmentsAreAlwaysDownloads) {
  const Made q = Post(0, "general", "Files", "See the files.",
                      {{"page.html", "text/html", "", std::string(64, 'a'), "<script>alert(1)</script>"},
                       {"logo.svg", "image/svg+xml", "", std::string(64, 'b'), "<svg onload=alert(1)/>"},
                       {"notes \"1\".txt", "TEXT/PLAIN", "", std::string(64, 'd'), "plain notes"},
                       {"résumé.pdf", "application/pdf", "", std::string(64, 'e'), "%PDF"}});
  const std::string base =
      "/t/" + std::to_string(q.thread_id) + "/attachments/" + std::to_string(q.post_id) + "/";
  struct Expected {
    const char* type;
    const char* disposition;
    const char* body;
  };
  const Expected expected[] = {
      {"text/plain; charset=utf-8", "attachment; filename*=UTF-8''page.html", "<script>alert(1)</script>"},
      {"application/octet-stream", "attachment; filename*=UTF-8''logo.svg", "<svg onload=alert(1)/>"},
      {"text/plain; charset=utf-8", "attachment; filename*=UTF-8''notes%20%221%22.txt", "plain notes"},
      {"application/octet-stream", "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf", "%PDF"},
  };
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    ClientResponse r = Get(base + std::to_string(i));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("content-type"), expected[i].type);
    EXPECT_EQ(r.Header("content-disposition"), expected[i].disposition);
    EXPECT_EQ(r.body, expected[i].body);
    ExpectSecurityHeaders(r, "attachment");
  }
  // An HTML attachment is text/html as declared: never served as such.
  EXPECT_EQ(Get(base + "0").Header("content-type").find("html"), std::string::npos);
  EXPECT_EQ(Get(base + "4").status, 404);
  // The post must belong to the thread in the URL.
  const Made other = Post(0, "general", "Other", "Other thread.");
  EXPECT_EQ(Get("/t/" + std::to_string(other.thread_id) + "/attachments/" + std::to_string(q.post_id) + "/0")
                .status,
            404);
}

// A reader that carried a large attachment is closed, not pooled: libpq
// would keep its buffers that large for the connection's life.
TEST_F(SiteTest, AReaderThatCarriedALargeAttachmentIsNotPooled) {
  const std::string large(forum::kLargeMessageBytes, 'L');
  const Made q = Post(0, "general", "Big file", "See the file.",
                      {{"small.txt", "text/plain", "", std::string(64, 'c'), "small"},
                       {"large.bin", "application/octet-stream", "", std::string(64, 'f'), large}});
  WaitForListener();
  const std::string base =
      "/t/" + std::to_string(q.thread_id) + "/attachments/" + std::to_string(q.post_id) + "/";
  const std::string sessions =
      "SELECT count(*) FROM pg_stat_activity WHERE usename = 'mf_site_reader' AND datname = "
      "current_database()";
  // The count of the site's sessions, once it is `expected` (or after a deadline).
  auto sessions_become = [&](const std::string& expected) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    std::string now = Scalar(sessions);
    while (now != expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      now = Scalar(sessions);
    }
    return now;
  };
  ASSERT_EQ(Get(base + "0").body, "small");  // a reader is pooled
  const std::string pooled = Scalar(sessions);
  ASSERT_EQ(Get(base + "0").body, "small");  // the same reader again
  EXPECT_EQ(Scalar(sessions), pooled);
  ClientResponse r = Get(base + "1");  // the pooled reader carries it, and is closed
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), large.size());
  EXPECT_EQ(sessions_become(std::to_string(std::stoi(pooled) - 1)), std::to_string(std::stoi(pooled) - 1));
  ASSERT_EQ(Get(base + "0").body, "small");  // a new reader, pooled
  EXPECT_EQ(sessions_become(pooled), pooled);
}

TEST_F(SiteTest, ANewPostReachesTheCachedPages) {
  WaitForListener();
  const Made q = Post(0, "general", "Cache me", "The first post.");
  const std::string url = "/t/" + std::to_string(q.thread_id);
  // Warm the thread page until it is served from the cache (the notification
  // of the post itself may drop the first copy).
  const long hits = Metric("mailforum_web_cache_hits_total");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  ClientResponse cached;
  while (std::chrono::steady_clock::now() < deadline) {
    cached = Get(url);
    ASSERT_EQ(cached.status, 200);
    if (Metric("mailforum_web_cache_hits_total") > hits) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(Metric("mailforum_web_cache_hits_total"), hits);
  EXPECT_EQ(cached.body.find("zebrafinch"), std::string::npos);

  Post(q.thread_id, "", "", "An answer about the zebrafinch.");
  // The notification drops the cached pages: wait for the event, with a deadline.
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    body = Get(url).body;
    if (body.find("zebrafinch") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(body.find("zebrafinch"), std::string::npos);
  // The list shows the new reply count; its ETag changed.
  ClientResponse list = Get("/api/threads");
  EXPECT_NE(list.body.find("\"reply_count\":1"), std::string::npos) << list.body.substr(0, 500);
}

TEST_F(SiteTest, ThousandIdleConnectionsDoNotStopOthers) {
  const Made q = Post(0, "general", "Busy", "Many connections.");
  std::vector<std::unique_ptr<Connection>> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.push_back(std::make_unique<Connection>(port_));
    ASSERT_GE(idle.back()->fd(), 0) << i;
  }
  // Half of them started a request and stalled.
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(idle[i]->Send("GET / HTTP/1.1\r\nHost: t\r\n"));
  ClientResponse r = Get("/t/" + std::to_string(q.thread_id));
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(Metric("mailforum_web_open_connections"), 1000);
}

TEST_F(SiteTest, SlowClientIsCutOff) {
  Connection c(port_);
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: t\r\n"));  // and nothing more
  EXPECT_TRUE(c.WaitClosed(std::chrono::seconds(20)));
}

TEST_F(SiteTest, SearchIsRateLimitedAndBounded) {
  Post(0, "general", "Kettle descaling", "Use vinegar.");
  // The burst is 3 (SetUp); at one per minute the fourth is refused.
  for (int i = 0; i < 3; ++i) {
    ClientResponse r = Get("/search?q=kettle");
    EXPECT_EQ(r.status, 200) << i;
  }
  ClientResponse refused = Get("/api/search?q=kettle");
  EXPECT_EQ(refused.status, 429);
  EXPECT_FALSE(refused.Header("retry-after").empty());
  ExpectSecurityHeaders(refused, "429");
  EXPECT_NE(Get("/metrics").body.find("route=\"api_search\",status=\"429\""), std::string::npos);
}

TEST_F(SiteTest, LongSearchTextIs400) {
  EXPECT_EQ(Get("/search?q=" + std::string(300, 'a')).status, 400);
  EXPECT_EQ(Get("/search?q=" + std::string(200, 'a')).status, 200);
}

TEST_F(SiteTest, BadParametersAre400AndUnknownPages404) {
  EXPECT_EQ(Get("/?status=bogus").status, 400);
  EXPECT_EQ(Get("/?after=garbage").status, 400);
  EXPECT_EQ(Get("/c/nonexistent").status, 404);
  EXPECT_EQ(Get("/t/abc").status, 404);
  EXPECT_EQ(Get("/t/0").status, 404);
  EXPECT_EQ(Get("/t/99999999").status, 404);
  ClientResponse metrics = Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("mailforum_web_requests_total{route=\"not_found\",status=\"404\"}"),
            std::string::npos);
}

}  // namespace
}  // namespace web

namespace web {
namespace {

TEST_F(SiteTest, HealthzReportsEachMailboxAndFailsOnlyOnALongFailure) {
  // Three mailboxes as the daemon notes them: one fine, one failing for a minute, one for an hour.
  Scalar("INSERT INTO mailbox_state (mailbox, last_success_at) VALUES ('good', now() - interval '5 seconds')");
  Scalar("INSERT INTO mailbox_state (mailbox, last_success_at, last_error, last_error_at) VALUES "
         "('flaky', now() - interval '60 seconds', 'IMAP: connection refused', now())");
  ClientResponse health = Get("/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  nlohmann::json body = nlohmann::json::parse(health.body);
  EXPECT_EQ(body.at("status"), "ok");
  EXPECT_EQ(body.at("database"), "ok");
  ASSERT_EQ(body.at("mailboxes").size(), 2u) << health.body;
  EXPECT_EQ(body["mailboxes"][0].at("name"), "flaky");
  EXPECT_EQ(body["mailboxes"][0].at("state"), "failing");
  EXPECT_GE(body["mailboxes"][0].at("failing_for_seconds").get<int>(), 60);
  EXPECT_EQ(body["mailboxes"][0].at("last_error"), "IMAP: connection refused");
  EXPECT_EQ(body["mailboxes"][1].at("state"), "ok");
  EXPECT_FALSE(body["mailboxes"][1].contains("last_error"));

  Scalar("INSERT INTO mailbox_state (mailbox, last_success_at, last_error, last_error_at) VALUES "
         "('dead', now() - interval '1 hour', 'XOAUTH2: invalid_grant', now())");
  health = Get("/healthz");
  EXPECT_EQ(health.status, 503) << health.body;
  body = nlohmann::json::parse(health.body);
  EXPECT_EQ(body.at("status"), "failing");
  EXPECT_EQ(body["mailboxes"][0].at("name"), "dead");
  EXPECT_EQ(body["mailboxes"][0].at("state"), "failed");
  EXPECT_GE(body["mailboxes"][0].at("failing_for_seconds").get<int>(), 3600);
  ExpectSecurityHeaders(health, "healthz 503");

  // The same figures in /metrics, which promtool accepts.
  ClientResponse metrics = Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("mailforum_mailbox_up{mailbox=\"dead\"} 0\n"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("mailforum_mailbox_up{mailbox=\"good\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("mailforum_mailbox_failing_seconds{mailbox=\"dead\"} 36"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nmailforum_database_up 1\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nmailforum_build_info{version=\""), std::string::npos);
  EXPECT_GE(Metric("mailforum_outbox_due"), 0);
  auto checked = mftest::PromtoolCheckMetrics(metrics.body);
  if (checked.output.find("not found") != std::string::npos &&
      std::getenv("MAILFORUM_TEST_REQUIRE_SERVERS") == nullptr) {
    GTEST_SKIP() << "promtool is missing (scripts/setup installs prometheus)";
  }
  EXPECT_EQ(checked.exit_code, 0) << checked.output << "\n" << metrics.body;
}

TEST_F(SiteTest, HealthzNamesConfiguredMailboxesTheDatabaseDoesNotKnowAsUnknown) {
  Scalar("INSERT INTO mailbox_state (mailbox, last_success_at) VALUES ('help', now())");
  SiteOptions options;
  options.info.name = "Test Help";
  options.info.base_url = "https://help.example";
  options.dsn = dsn_;
  options.mailboxes = {"help", "new"};
  options.mailbox_failure_limit = std::chrono::seconds(30);
  auto site = Site::Create(options);
  ASSERT_TRUE(site) << site.error().message;
  Request request;
  request.method = "GET";
  request.target = "/healthz";
  Response r = (*site)->Handle(request);
  ASSERT_TRUE(r.body);
  EXPECT_EQ(r.status, 200) << *r.body;
  nlohmann::json body = nlohmann::json::parse(*r.body);
  ASSERT_EQ(body.at("mailboxes").size(), 2u);
  EXPECT_EQ(body["mailboxes"][1].at("name"), "new");
  EXPECT_EQ(body["mailboxes"][1].at("state"), "unknown");
  EXPECT_EQ(body.at("mailbox_failure_limit_seconds"), 30);

  Scalar("UPDATE mailbox_state SET last_success_at = now() - interval '40 seconds', last_error = 'down', "
         "last_error_at = now() WHERE mailbox = 'help'");
  r = (*site)->Handle(request);
  EXPECT_EQ(r.status, 503) << *r.body;
}

TEST_F(SiteTest, AnUnsubscribeLinkShowsAButtonOnGetAndUnsubscribesOnlyOnAPostWithAValidToken) {
  const Made made = Post(0, "general", "VPN drops", "It drops.");
  const std::string thread = std::to_string(made.thread_id);
  const std::string alice =
      Scalar("INSERT INTO outbox (kind, thread_id, recipient, message_id) VALUES ('answer', " + thread +
             ", 'alice@example.com', 'post.1.a@help.example') RETURNING id");
  const std::string watcher =
      Scalar("INSERT INTO outbox (kind, thread_id, recipient, message_id) VALUES ('notification', " + thread +
             ", 'it-team@example.com', 'post.1.a@help.example') RETURNING id");
  const auto unsubscriptions = [&] {
    return Scalar(
        "SELECT coalesce(string_agg(address || ' ' || scope || ' ' || source, ', ' ORDER BY address), '') "
        "FROM unsubscriptions");
  };

  // A GET (a link scanner, or the person) changes nothing: a page with a button that POSTs.
  for (const char* method : {"GET", "HEAD"}) {
    ClientResponse page = Get("/unsubscribe/ok-" + alice, "", method);
    EXPECT_EQ(page.status, 200) << method;
    EXPECT_EQ(page.Header("cache-control"), "no-store");
    ExpectSecurityHeaders(page, method);
  }
  ClientResponse page = Get("/unsubscribe/ok-" + alice);
  EXPECT_NE(page.body.find("<form method=\"post\" action=\"/unsubscribe/ok-" + alice + "\">"),
            std::string::npos)
      << page.body;
  EXPECT_NE(page.body.find("al…@example.com"), std::string::npos) << "masked, never the address";
  EXPECT_EQ(page.body.find("alice@example.com"), std::string::npos);
  EXPECT_EQ(unsubscriptions(), "");

  // The POST (RFC 8058 one-click: no cookie, no script) unsubscribes, as often as it comes.
  for (int i = 0; i < 2; ++i) {
    ClientResponse done = Get("/unsubscribe/ok-" + alice,
                              "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 26\r\n\r\n"
                              "List-Unsubscribe=One-Click",
                              "POST");
    EXPECT_EQ(done.status, 200) << done.body;
    ExpectSecurityHeaders(done, "POST");
    EXPECT_EQ(unsubscriptions(), "alice@example.com thread:" + thread + " one-click");
  }
  // A watcher's link: that category's notifications.
  EXPECT_EQ(Get("/unsubscribe/ok-" + watcher, "", "POST").status, 200);
  EXPECT_EQ(unsubscriptions(), "alice@example.com thread:" + thread +
                                   " one-click, it-team@example.com category:general one-click");

  // A token that does not verify, or names no row, changes nothing.
  const std::string before = unsubscriptions();
  Scalar("DELETE FROM unsubscriptions WHERE address = 'it-team@example.com'");
  for (const std::string& target :
       std::vector<std::string>{"/unsubscribe/bad-" + watcher, "/unsubscribe/ok-999999", "/unsubscribe/x"}) {
    ClientResponse refused = Get(target, "", "POST");
    EXPECT_EQ(refused.status, 404) << target;
    ExpectSecurityHeaders(refused, target);
  }
  EXPECT_EQ(unsubscriptions(), "alice@example.com thread:" + thread + " one-click");
  // A mailing list's mail: no link is ever minted for it, and a token that names it anyway is refused.
  const std::string list =
      Scalar("INSERT INTO outbox (kind, thread_id, recipient, message_id) VALUES ('notification', " + thread +
             ", 'it-list@example.com', 'post.1.a@help.example') RETURNING id");
  for (const char* method : {"GET", "POST"}) {
    ClientResponse refused = Get("/unsubscribe/ok-" + list, "", method);
    EXPECT_EQ(refused.status, 403) << method;
    EXPECT_NE(refused.body.find("mailing list"), std::string::npos) << refused.body;
    EXPECT_EQ(refused.body.find("<form"), std::string::npos) << "no button";
  }
  EXPECT_EQ(unsubscriptions(), "alice@example.com thread:" + thread + " one-click");
  // No other page takes a POST.
  ClientResponse post = Get("/", "", "POST");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("allow"), "GET, HEAD");
}

}  // namespace
}  // namespace web
