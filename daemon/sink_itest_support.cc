#include "daemon/sink_itest_support.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/ascii.h"
#include "mail/mime_parser.h"
#include "tests/support/subprocess.h"

namespace mailforumd::itest {

using std::chrono::milliseconds;

std::map<std::string, std::vector<Received>> Spool(const std::string& spool,
                                                  const std::function<bool(const std::string&)>& wanted) {
  std::vector<std::filesystem::path> envelopes;
  for (const auto& entry : std::filesystem::directory_iterator(spool + "/new")) {
    if (entry.path().extension() == ".json") envelopes.push_back(entry.path());
  }
  std::sort(envelopes.begin(), envelopes.end());  // names begin with the time in nanoseconds
  std::map<std::string, std::vector<Received>> out;
  for (const auto& path : envelopes) {
    const nlohmann::json envelope = nlohmann::json::parse(mftest::ReadFile(path.string()), nullptr, false);
    if (envelope.is_discarded()) continue;
    std::filesystem::path message_path = path;
    message_path.replace_extension();
    if (!std::filesystem::exists(message_path)) continue;  // still being written
    for (const auto& rcpt : envelope["rcpt_tos"]) {
      const std::string address = base::AsciiLower(rcpt.get<std::string>());
      if (!wanted(address)) continue;
      Received r;
      r.mail_from = envelope["mail_from"].get<std::string>();
      r.raw = mftest::ReadFile(message_path.string());
      r.message = mail::ParseMessage(r.raw, mail::ParseLimits{});
      out[address].push_back(std::move(r));
    }
  }
  return out;
}

void SinkTest::SetUp() {
  MAILFORUM_REQUIRE_WORKER_SERVERS(servers);
  MAILFORUM_REQUIRE_SERVER(smtp_port, "MAILFORUM_TEST_SMTP_PORT");
  MAILFORUM_REQUIRE_SERVER(spool, "MAILFORUM_TEST_SMTP_SPOOL");
  ASSERT_TRUE(Init(servers, db_prefix_).ok());
  smtp_port_ = static_cast<uint16_t>(std::stoi(smtp_port));
  spool_ = spool;
  help_user_ = UniqueName("help");
  domain_ = UniqueName("d") + ".example";
  watcher_ = "watcher@" + domain_;
}

WorkerOptions SinkTest::Mailbox() const {
  WorkerOptions o = Options("help", help_user_);
  o.pipeline.bounce_template = kBounceTemplate;
  o.pipeline.watchers = {{"it", {watcher_}}, {"general", {watcher_}}};
  o.pipeline.acknowledgement_interval = std::chrono::seconds(0);
  // Our MTA's Authentication-Results: acting as a person needs its DMARC pass (issue 8 item 5).
  o.pipeline.trusted_authserv_ids = {"mx.example.com"};
  return o;
}

OutboxOptions SinkTest::Outbox() const {
  OutboxOptions o;
  o.dsn = dsn_;
  o.smtp.host = "localhost";
  o.smtp.port = smtp_port_;
  o.smtp.tls = mail::SmtpOptions::Tls::kStartTls;
  o.smtp.ca_file = servers_.ca_file;
  o.smtp.timeout = milliseconds(20000);
  o.from = "Acme Help <help@example.com>";
  o.reply_to_template = kReplyTemplate;
  o.reply_key = kReplyKey;
  o.bounce_template = kBounceTemplate;
  o.instance_name = "Acme Help";
  o.base_url = "https://help.example.com";
  o.domain = "help.example";
  o.unsubscribe_base_url = "https://help.example.com";
  o.retry_base = milliseconds(200);
  o.retry_cap = milliseconds(1000);
  o.poll_interval = milliseconds(200);
  return o;  // suppress_score 3.0 and the loop breaker's defaults (5 per address, 20 per domain)
}

void SinkTest::Ingest(const WorkerOptions& options) {
  MailboxWorker worker(options);
  auto s = worker.RunOnce();
  ASSERT_TRUE(s.ok()) << s.error().message;
}

OutboxPassStats SinkTest::Send() {
  OutboxWorker worker(Outbox());
  auto stats = worker.RunOnce();
  EXPECT_TRUE(stats.ok()) << (stats.ok() ? "" : stats.error().message);
  return stats.ok() ? *stats : OutboxPassStats{};
}

std::map<std::string, std::vector<Received>> SinkTest::Mailed() const {
  const std::string suffix = "@" + domain_;
  return Spool(spool_, [&](const std::string& a) { return a.ends_with(suffix); });
}

std::vector<Received> SinkTest::MailedTo(const std::string& recipient) const {
  const std::string wanted = base::AsciiLower(recipient);
  auto mailed = Spool(spool_, [&](const std::string& a) { return a == wanted; });
  return std::move(mailed[wanted]);
}

std::vector<Received> SinkTest::WaitForMail(const std::string& recipient, size_t count) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    std::vector<Received> got = MailedTo(recipient);
    if (got.size() >= count || std::chrono::steady_clock::now() > deadline) return got;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

}  // namespace mailforumd::itest
