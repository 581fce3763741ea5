// The web as the binaries run it, against the real servers: mailforumd
// serves the site on web.listen (port 0: it logs the one it got) and gives
// a thread made from real mail its public reply address; mailforum-web
// serves the same site from a configuration whose mail secrets do not exist
// where it runs, and stops cleanly on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "base/memory.h"
#include "daemon/daemon_itest_support.h"
#include "web/http_test_client.h"

namespace {

using namespace std::chrono_literals;

using mftest::Child;
using mftest::LogText;
using mftest::Terminate;
using mftest::WaitForListening;

web::testing::ClientResponse Get(uint16_t port, const std::string& target) {
  web::testing::Connection c(port);
  auto r = c.Get(target);
  EXPECT_TRUE(r) << target;
  return r.value_or(web::testing::ClientResponse{});
}

TEST(WebItest, MailforumdServesTheSiteWithReplyAddresses) {
  MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
  mftest::DaemonSetup setup;
  ASSERT_TRUE(setup.Make("webd", "web: {listen: '127.0.0.1:0'}\n"));
  {
    auto session = mail::ImapSession::Connect(setup.imap);
    ASSERT_TRUE(session) << session.error().message;
    auto appended = (*session)->Append("INBOX",
                                       "From: Carol <carol@example.com>\nTo: help@crash.example\n"
                                       "Subject: Where is the kettle\nMessage-ID: <kettle@example.com>\n\n"
                                       "Where did the kettle go?\n");
    ASSERT_TRUE(appended) << appended.error().message;
  }
  const std::string log = setup.dir + "/daemon.log";
  Child daemon_process{mftest::SpawnDaemon(MAILFORUMD_PATH, {"-c", setup.config}, log)};
  auto port = WaitForListening(log);
  ASSERT_TRUE(port) << LogText(log);
  ASSERT_TRUE(mftest::WaitForRow(setup, "SELECT count(*) FROM threads WHERE reply_address IS NOT NULL", "1"))
      << LogText(log);
  const std::string id = setup.Query("SELECT id FROM threads");
  const std::string address = setup.Query("SELECT reply_address FROM threads");
  EXPECT_EQ(address.rfind("help+", 0), 0u) << address;
  EXPECT_NE(address.find("@crash.example"), std::string::npos) << address;
  // The page may have been cached before the address was filled: the change notification drops it.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  web::testing::ClientResponse page;
  while (std::chrono::steady_clock::now() < deadline) {
    page = Get(*port, "/t/" + id);
    if (page.body.find("mailto:" + address) != std::string::npos) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("Where is the kettle"), std::string::npos);
  EXPECT_NE(page.body.find("mailto:" + address), std::string::npos);
  EXPECT_EQ(page.body.find("carol@example.com"), std::string::npos);
  EXPECT_EQ(page.body.find("kettle@example.com"), std::string::npos);
  EXPECT_EQ(Get(*port, "/healthz").status, 200);
  EXPECT_EQ(Terminate(daemon_process), 0) << LogText(log);
}

// The line of /metrics that starts with `series` (with the space before its value), or "".
std::string MetricLine(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return "";
  return metrics.substr(at + 1, metrics.find('\n', at + 1) - at - 1);
}

TEST(WebItest, MailforumdCountsItsWorkInMetricsAndLogsJson) {
  MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
  mftest::DaemonSetup setup;
  ASSERT_TRUE(setup.Make("metricsd", "web: {listen: '127.0.0.1:0'}\nlog: {format: json}\n"));
  {
    auto session = mail::ImapSession::Connect(setup.imap);
    ASSERT_TRUE(session) << session.error().message;
    auto appended = (*session)->Append("INBOX",
                                       "From: Dan <dan@example.com>\nTo: help@crash.example\n"
                                       "Subject: Printer on fire\nMessage-ID: <fire@example.com>\n\n"
                                       "Secret body words.\n");
    ASSERT_TRUE(appended) << appended.error().message;
  }
  const std::string log = setup.dir + "/daemon.log";
  Child daemon_process{mftest::SpawnDaemon(MAILFORUMD_PATH, {"-c", setup.config}, log)};
  auto port = WaitForListening(log);
  ASSERT_TRUE(port) << LogText(log);
  ASSERT_TRUE(mftest::WaitForRow(setup, "SELECT count(*) FROM threads", "1")) << LogText(log);

  // The counters follow the commit: wait for them (an event), then check the rest and the format.
  const std::string posted = "mailforum_messages_total{mailbox=\"crash\",outcome=\"posted\"}";
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  web::testing::ClientResponse metrics;
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = Get(*port, "/metrics");
    if (!MetricLine(metrics.body, posted).empty()) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(MetricLine(metrics.body, posted), posted + " 1") << metrics.body;
  EXPECT_EQ(MetricLine(metrics.body, "mailforum_messages_fetched_total{mailbox=\"crash\"}"),
            "mailforum_messages_fetched_total{mailbox=\"crash\"} 1");
  EXPECT_EQ(MetricLine(metrics.body, "mailforum_fetch_to_commit_seconds_count{mailbox=\"crash\"}"),
            "mailforum_fetch_to_commit_seconds_count{mailbox=\"crash\"} 1");
  EXPECT_NE(
      MetricLine(metrics.body, "mailforum_fetch_to_commit_seconds_bucket{mailbox=\"crash\",le=\"+Inf\"}"),
      "");
  EXPECT_NE(metrics.body.find("# TYPE mailforum_imap_reconnects_total counter"), std::string::npos);
  EXPECT_NE(metrics.body.find("# TYPE mailforum_smtp_results_total counter"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nmailforum_loop_breaker_pauses_total 0\n"), std::string::npos);
  // The heap, read from the start (daemon/app.cc, HeapKeeper): some MiB in use, no more held than that.
  const std::string in_use = MetricLine(metrics.body, "mailforum_heap_in_use_bytes");
  const std::string held = MetricLine(metrics.body, "mailforum_heap_held_bytes");
  ASSERT_FALSE(in_use.empty() || held.empty()) << metrics.body;
  if (base::kHeapIsGlibcs) {
    EXPECT_GT(std::stod(in_use.substr(in_use.find(' ') + 1)), 100e3) << in_use;
  }
  EXPECT_GE(std::stod(held.substr(held.find(' ') + 1)), std::stod(in_use.substr(in_use.find(' ') + 1))) << held;
  EXPECT_NE(metrics.body.find("# TYPE mailforum_heap_returned_bytes_total counter"), std::string::npos);
  EXPECT_NE(metrics.body.find("\nmailforum_mailbox_up{mailbox=\"crash\"} 1\n"), std::string::npos);
  auto checked = mftest::PromtoolCheckMetrics(metrics.body);
  EXPECT_EQ(checked.exit_code, 0) << checked.output << "\n" << metrics.body;
  EXPECT_EQ(Terminate(daemon_process), 0) << LogText(log);

  // Every line is one JSON object; the message's line has its fields, and no body text.
  std::istringstream lines(LogText(log));
  int decided = 0;
  for (std::string line; std::getline(lines, line);) {
    nlohmann::json record;
    ASSERT_NO_THROW(record = nlohmann::json::parse(line)) << line;
    ASSERT_TRUE(record.contains("level") && record.contains("msg") && record.contains("time")) << line;
    EXPECT_EQ(line.find("Secret body words"), std::string::npos) << line;
    if (record["msg"] != "message decided") continue;
    ++decided;
    EXPECT_EQ(record["mailbox"], "crash") << line;
    EXPECT_EQ(record["outcome"], "posted") << line;
    EXPECT_EQ(record["message_id"], "fire@example.com") << line;
    EXPECT_EQ(record["rule"], "all") << line;
    EXPECT_TRUE(record["uid"].is_number()) << line;
    EXPECT_EQ(record["thread"].get<int64_t>(), std::stoll(setup.Query("SELECT id FROM threads"))) << line;
    EXPECT_TRUE(record["post"].is_number()) << line;
    EXPECT_TRUE(record["duration_ms"].is_number()) << line;
  }
  EXPECT_EQ(decided, 1) << LogText(log);
}

TEST(WebItest, MailforumWebNeedsOnlyTheDatabase) {
  MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
  mftest::DaemonSetup setup;
  ASSERT_TRUE(setup.Make("webonly", "web: {listen: '127.0.0.1:0'}\n"));
  // Where the web runs, the mail secrets are absent: it must not need them.
  ASSERT_EQ(std::remove((setup.dir + "/imap.pass").c_str()), 0);
  ASSERT_EQ(std::remove((setup.dir + "/reply.key").c_str()), 0);
  const std::string log = setup.dir + "/web.log";
  Child web_process{mftest::SpawnDaemon(MAILFORUM_WEB_PATH, {"-c", setup.config}, log)};
  auto port = WaitForListening(log);
  ASSERT_TRUE(port) << LogText(log);
  web::testing::ClientResponse health = Get(*port, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_NE(health.body.find("\"status\": \"ok\""), std::string::npos) << health.body;
  EXPECT_EQ(Get(*port, "/").status, 200);
  EXPECT_EQ(Terminate(web_process), 0) << LogText(log);

  // mailforumd, which needs them, refuses to start (EX_CONFIG).
  auto daemon = mftest::RunCommand(std::string(MAILFORUMD_PATH) + " -c " + mftest::ShellQuote(setup.config));
  EXPECT_EQ(daemon.exit_code, 78) << daemon.output;
}

}  // namespace
