#include "daemon/worker_itest_support.h"

#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "forum/scratch_database.h"
#include "forum/store.h"
#include "mail/library_init.h"

namespace mailforumd::itest {

std::string UniqueName(const std::string& prefix) {
  static std::random_device rd;
  return prefix + std::to_string(rd() % 100000000);
}

std::string MailHeaders(const std::string& from, const std::string& to, const std::string& subject,
                        const std::string& message_id, const std::string& extra_headers) {
  return "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + message_id +
         ">\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\n" + extra_headers;
}

std::string Mail(const std::string& from, const std::string& subject, const std::string& message_id,
                 const std::string& body, const std::string& extra_headers) {
  return MailHeaders(from, "help@example.com", subject, message_id, extra_headers) +
         "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n";
}

base::Result<Servers> ServersFromEnvFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return base::Error{base::ErrorKind::kConfig, "cannot read " + path};
  // Lines of scripts/testenv/start: export NAME='value' (or NAME=value).
  std::map<std::string, std::string> vars;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("export ", 0) != 0) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
      value = value.substr(1, value.size() - 2);
    vars[line.substr(7, eq - 7)] = value;
  }
  std::string missing;
  auto get = [&](const char* name) {
    auto it = vars.find(name);
    if (it == vars.end() || it->second.empty()) missing += std::string(missing.empty() ? "" : ", ") + name;
    return it == vars.end() ? std::string() : it->second;
  };
  Servers s;
  s.admin_dsn = get("MAILFORUM_TEST_PG_DSN");
  const std::string port = get("MAILFORUM_TEST_IMAPS_PORT");
  s.imap_password = get("MAILFORUM_TEST_IMAP_PASSWORD");
  s.ca_file = get("MAILFORUM_TEST_CA_FILE");
  s.imap_home = get("MAILFORUM_TEST_IMAP_HOME");
  if (!missing.empty()) return base::Error{base::ErrorKind::kConfig, path + " lacks " + missing};
  s.imaps_port = static_cast<uint16_t>(std::stoi(port));
  return s;
}

void WorkerTest::SetUpTestSuite() { mail::InitializeMailLibraries(); }

void WorkerTest::SetUp() {
  MAILFORUM_REQUIRE_WORKER_SERVERS(servers);
  auto ready = Init(servers, db_prefix_);
  ASSERT_TRUE(ready.ok()) << ready.error().message;
}

base::Status WorkerTest::Init(const Servers& servers, const std::string& db_prefix) {
  servers_ = servers;
  auto dsn = forum::CreateScratchDatabase(servers.admin_dsn, db_prefix);
  if (!dsn) return dsn.error();
  dsn_ = *dsn;
  auto store = forum::Store::Connect(dsn_);
  if (!store) return store.error();
  if (auto migrated = (*store)->Migrate(); !migrated) return migrated.error();
  if (auto synced = (*store)->SyncCategories({{"general", "General", ""}, {"it", "IT", ""}}); !synced.ok()) {
    return synced.error();
  }
  imap_ = {};
  imap_.host = "localhost";
  imap_.port = servers.imaps_port;
  imap_.tls = mail::ImapOptions::Tls::kImplicit;
  imap_.ca_file = servers.ca_file;
  imap_.password = servers.imap_password;
  imap_.timeout = std::chrono::milliseconds(20000);
  return {};
}

WorkerOptions WorkerTest::Options(const std::string& mailbox, const std::string& user) const {
  WorkerOptions o;
  o.imap = imap_;
  o.imap.username = user;
  o.after = WorkerOptions::After::kMove;
  o.after_folder = "Processed";
  o.poll_interval = std::chrono::milliseconds(30000);
  o.dsn = dsn_;
  o.domain = "help.example";
  o.batch_size = 7;
  o.pipeline.mailbox = mailbox;
  o.pipeline.reply_to_template = kReplyTemplate;
  o.pipeline.reply_key = kReplyKey;
  o.pipeline.own_addresses = {"help@example.com"};
  forum::Rule it;
  it.name = "it";
  it.action = forum::RuleAction::kThread;
  it.category = "it";
  forum::Matcher subject;
  subject.kind = forum::Matcher::Kind::kSubject;
  subject.regex = *base::Regex::Compile("(?i)\\bvpn\\b");
  it.match = subject;
  forum::Rule rest;
  rest.name = "rest";
  rest.action = forum::RuleAction::kThread;
  rest.category = "general";
  o.pipeline.rules = {it, rest};
  return o;
}

std::unique_ptr<mail::ImapSession> WorkerTest::Imap(const std::string& user) const {
  mail::ImapOptions o = imap_;
  o.username = user;
  auto s = mail::ImapSession::Connect(o);
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(s).value() : nullptr;
}

void WorkerTest::Append(const std::string& user, const std::vector<std::string>& messages,
                        const std::string& folder) const {
  auto s = Imap(user);
  ASSERT_TRUE(s);
  for (size_t i = 0; i < messages.size(); ++i) {
    auto appended = s->Append(folder, messages[i]);
    ASSERT_TRUE(appended) << "append of message " << i << " failed: " << appended.error().message;
  }
}

uint32_t WorkerTest::Count(const std::string& user, const std::string& folder) const {
  auto s = Imap(user);
  if (!s) return 9999;
  auto sel = s->Select(folder);
  return sel ? sel->exists : 9999;
}

std::string WorkerTest::Scalar(const std::string& sql) const {
  auto r = forum::QueryScalar(dsn_, sql);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : "";
}

bool WorkerTest::WaitForScalar(const std::string& sql, const std::string& expected,
                               std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Errors only mean "not yet": the database may be restarting.
    if (auto r = forum::QueryScalar(dsn_, sql); r && *r == expected) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace mailforumd::itest
