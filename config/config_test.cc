#include "config/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "config/values.h"
#include "tests/support/test_env.h"

namespace config {
namespace {

using namespace std::chrono_literals;

constexpr char kPassword[] = "pw-Zq8tVx!";
constexpr char kReplyKey[] = "reply-key-0123456789abcdef0123456789abcdef";
constexpr char kDsn[] = "postgresql://mailforum@localhost/mailforum";

// A valid configuration, one line per section so that a test row can replace
// one line and know every position. Secrets come from the environment (see
// ConfigTest::SetUp).
const std::vector<std::string> kBaseLines = {
    R"(instance: {domain: example.com, base_url: "https://help.example.com"})",  // 1
    R"(database: {dsn_env: MFTEST_DSN})",                                        // 2
    R"(secrets: {reply_key_env: MFTEST_REPLY_KEY})",                             // 3
    R"(smtp: {host: smtp.example.com, username: u, password_env: MFTEST_PASSWORD, from: help@example.com, reply_to: "help+{token}@example.com"})",
    R"(categories: [{slug: general, name: General}, {slug: it, name: IT}])",  // 5
    R"(mailboxes:)",                                                          // 6
    R"(  - name: help)",                                                      // 7
    R"(    imap: {host: imap.example.com, username: u, password_env: MFTEST_PASSWORD})",
    R"(    rules: [{name: all, action: thread, category: general}])",  // 9
};

// kBaseLines with lines [line, line + count) replaced by `text` (which may
// hold several lines); line 0 appends `text` at the end.
std::string ConfigText(int line, int count, const std::string& text) {
  std::vector<std::string> lines = kBaseLines;
  if (line == 0) {
    lines.push_back(text);
  } else {
    auto first = lines.begin() + (line - 1);
    lines.erase(first, first + count);
    lines.insert(lines.begin() + (line - 1), text);
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

std::string Joined(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const Diagnostic& d : diagnostics) out += (out.empty() ? "" : "\n") + d.ToString();
  return out;
}

void WriteFile(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("MFTEST_DSN", kDsn, 1);
    setenv("MFTEST_REPLY_KEY", kReplyKey, 1);
    setenv("MFTEST_PASSWORD", kPassword, 1);
    unsetenv("MFTEST_UNSET");
  }

  static LoadResult Load(const std::string& text) { return LoadConfigString(text, "test.yaml"); }
};

// One bad configuration: kBaseLines with lines [line, line + count) replaced
// by `text` (line 0: appended), and every diagnostic it must produce.
struct BadCase {
  const char* label;
  int line;
  int count;
  const char* text;
  const char* expected;  // Diagnostic::ToString() of each, joined by "\n".
};

// clang-format off: one row per case, the expected text split at word boundaries.
const BadCase kBadCases[] = {
    {"yaml syntax", 0, 0, "web: listen: 127.0.0.1:8080",
     "test.yaml:10:12: error: invalid YAML: illegal map value"},
    {"unknown key with suggestion", 8, 1,
     "    imap: {host: imap.example.com, username: u, password_env: MFTEST_PASSWORD, fodler: INBOX}",
     "test.yaml:8:80: error: unknown key 'fodler' in imap; did you mean 'folder'?"},
    {"unknown top-level key", 0, 0, "colour: blue",
     "test.yaml:10:1: error: unknown key 'colour' at the top level"},
    {"inline secret", 2, 1, R"(database: {dsn: "postgresql://u:hunter2@db/mf"})",
     "test.yaml:2:11: error: missing required key 'dsn_file' or 'dsn_env' in database\n"
     "test.yaml:2:12: error: unknown key 'dsn' in database; secrets are not written in the configuration: "
     "use 'dsn_file' or 'dsn_env'"},
    {"map instead of list", 5, 1, "categories: [{slug: general, name: General, watchers: {a: b}}]",
     "test.yaml:5:55: error: watchers: expected a list of addresses, got a map"},
    {"scalar instead of list", 9, 1,
     "    rules: [{name: all, match: {from: help@example.com}, action: ignore}]",
     "test.yaml:9:39: error: from: expected a list of addresses, got 'help@example.com'"},
    {"duration without unit", 8, 1,
     "    imap: {host: imap.example.com, username: u, password_env: MFTEST_PASSWORD, poll_interval: 60}",
     "test.yaml:8:95: error: poll_interval: expected a duration like 60s (units: ms, s, m, h, d), got '60'"},
    {"imap keepalive out of range", 8, 1,
     "    imap: {host: imap.example.com, username: u, password_env: MFTEST_PASSWORD, keepalive: 30m}",
     "test.yaml:8:91: error: keepalive: must be between 1s and 25m"},
    {"bad duration", 7, 1, "  - name: help\n    import_max_age: 7 days",
     "test.yaml:8:21: error: import_max_age: expected a duration like 60s (units: ms, s, m, h, d), got '7 "
     "days'"},
    {"bad size", 0, 0, "limits: {max_message_size: 25 megs}",
     "test.yaml:10:28: error: max_message_size: expected a size like 25MiB (units: B, KB, MB, GB, KiB, MiB, "
     "GiB), got '25 megs'"},
    {"negative size", 9, 1, "    rules: [{name: all, match: {size_over: -5}, action: ignore}]",
     "test.yaml:9:44: error: size_over: expected a size like 25MiB (units: B, KB, MB, GB, KiB, MiB, GiB), "
     "got '-5'"},
    {"bad regex", 9, 1,
     R"(    rules: [{name: all, match: {subject: "(abc"}, action: thread, category: general}])",
     "test.yaml:9:42: error: subject: invalid regular expression: missing ): (abc"},
    {"bad header regex", 9, 1,
     R"(    rules: [{name: all, match: {header: {name: X-Spam, regex: "[a-"}}, action: ignore}])",
     "test.yaml:9:63: error: regex: invalid regular expression: missing ]: [a-"},
    {"duplicate mailbox", 0, 0,
     "  - {name: help, imap: {host: imap.example.com, username: u, password_env: MFTEST_PASSWORD}, rules: "
     "[{name: all, action: ignore}]}",
     "test.yaml:10:12: error: duplicate mailbox name 'help' (first defined at line 7)"},
    {"duplicate category", 5, 1, "categories: [{slug: general, name: General}, {slug: general, name: Other}]",
     "test.yaml:5:53: error: duplicate category slug 'general' (first defined at line 5)"},
    {"unknown category with suggestion", 9, 1, "    rules: [{name: all, action: thread, category: itt}]",
     "test.yaml:9:51: error: category: unknown category 'itt'; did you mean 'it'?"},
    {"unknown category", 9, 1, "    rules: [{name: all, action: thread, category: sales}]",
     "test.yaml:9:51: error: category: unknown category 'sales'; the categories are: general, it"},
    {"no categories", 5, 1, "categories: []",
     "test.yaml:9:51: error: category: unknown category 'general'; no categories are defined"},
    {"plaintext to a remote host", 8, 1,
     "    imap: {host: imap.example.com, tls: none, username: u, password_env: MFTEST_PASSWORD}",
     "test.yaml:8:41: error: tls: none to 'imap.example.com': plaintext is only allowed to loopback "
     "(localhost, 127.0.0.0/8, ::1)"},
    {"missing secret file", 2, 1, "database: {dsn_file: /nonexistent/db.dsn}",
     "test.yaml:2:22: error: dsn_file: cannot read '/nonexistent/db.dsn': No such file or directory"},
    {"unset environment variable", 3, 1, "secrets: {reply_key_env: MFTEST_UNSET}",
     "test.yaml:3:26: error: reply_key_env: environment variable 'MFTEST_UNSET' is not set"},
    {"mailbox pool out of range", 2, 1, "database: {dsn_env: MFTEST_DSN, mailbox_pool: 0}",
     "test.yaml:2:47: error: mailbox_pool: expected a whole number from 1 to 64, got '0'"},
    {"file and env", 2, 1, "database: {dsn_env: MFTEST_DSN, dsn_file: /etc/db.dsn}",
     "test.yaml:2:33: error: give either 'dsn_file' or 'dsn_env', not both"},
    {"bad watcher address", 5, 1, "categories: [{slug: general, name: General, watchers: [bob]}]",
     "test.yaml:5:56: error: watchers: 'bob' is not a valid email address"},
    {"bad from address", 4, 1,
     R"(smtp: {host: smtp.example.com, username: u, password_env: MFTEST_PASSWORD, from: "Acme <help@>", reply_to: "help+{token}@example.com"})",
     "test.yaml:4:82: error: from: expected an email address like help@example.com or Name "
     "<help@example.com>, got 'Acme <help@>'"},
    {"reply_to without token", 4, 1,
     "smtp: {host: smtp.example.com, username: u, password_env: MFTEST_PASSWORD, from: help@example.com, "
     "reply_to: help@example.com}",
     "test.yaml:4:110: error: reply_to: expected an address template containing {token}, like "
     "help+{token}@example.com, got 'help@example.com'"},
    {"move without folder", 7, 1, "  - name: help\n    after: {action: move}",
     "test.yaml:8:12: error: missing required key 'folder' in after (needed for action: move)"},
    {"move to the source folder", 7, 1, "  - name: help\n    after: {action: move, folder: INBOX}",
     "test.yaml:8:35: error: folder: must differ from the folder being read ('INBOX')"},
    {"unknown enum value", 4, 1,
     R"(smtp: {host: smtp.example.com, tls: ssl, username: u, password_env: MFTEST_PASSWORD, from: help@example.com, reply_to: "help+{token}@example.com"})",
     "test.yaml:4:37: error: tls: unknown value 'ssl'; expected one of: implicit, starttls, none"},
    {"unknown enum value in a list", 9, 1,
     "    rules: [{name: all, match: {classification: [autoreply]}, action: ignore}]",
     "test.yaml:9:50: error: classification: unknown value 'autoreply'; expected one of: normal, "
     "auto_reply, bounce, feedback, delivery_notice"},
    {"missing domain", 1, 1, R"(instance: {base_url: "https://help.example.com"})",
     "test.yaml:1:11: error: missing required key 'domain' in instance"},
    {"missing database", 2, 1, "", "test.yaml:1:1: error: missing required key 'database' at the top level"},
    {"missing imap", 8, 1, "", "test.yaml:7:5: error: missing required key 'imap' in mailbox"},
    {"missing imap username", 8, 1, "    imap: {host: imap.example.com, password_env: MFTEST_PASSWORD}",
     "test.yaml:8:11: error: missing required key 'username' in imap"},
    {"no mailboxes", 6, 4, "mailboxes: []",
     "test.yaml:6:12: error: mailboxes: expected a non-empty list of mailboxes"},
    {"port out of range", 4, 1,
     R"(smtp: {host: smtp.example.com, port: 70000, username: u, password_env: MFTEST_PASSWORD, from: help@example.com, reply_to: "help+{token}@example.com"})",
     "test.yaml:4:38: error: port: expected a port number from 1 to 65535, got '70000'"},
    {"base_url not http", 1, 1, R"(instance: {domain: example.com, base_url: "ftp://help.example.com"})",
     "test.yaml:1:43: error: base_url: expected an http:// or https:// URL, got 'ftp://help.example.com'"},
    {"section not a map", 0, 0, "limits: 5", "test.yaml:10:9: error: limits: expected a map, got '5'"},
    {"required section not a map", 4, 1, "smtp: relay.example.com",
     "test.yaml:4:7: error: smtp: expected a map, got 'relay.example.com'"},
    {"not a boolean", 8, 1,
     "    imap: {host: imap.example.com, username: u, password_env: MFTEST_PASSWORD, idle: maybe}",
     "test.yaml:8:86: error: idle: expected true or false, got 'maybe'"},
    {"unknown matcher", 9, 1, "    rules: [{name: all, match: {subjet: x}, action: ignore}]",
     "test.yaml:9:33: error: unknown key 'subjet' in match; did you mean 'subject'?"},
    {"empty match", 9, 1, "    rules: [{name: all, match: {}, action: ignore}]",
     "test.yaml:9:32: error: match: expected at least one condition (leave 'match' out to match every "
     "message)"},
    {"not over a list", 9, 1, "    rules: [{name: all, match: {not: [{subject: x}]}, action: ignore}]",
     "test.yaml:9:38: error: not: expected a map, got a list"},
    {"duplicate key", 4, 1,
     R"(smtp: {host: smtp.example.com, host: smtp2.example.com, username: u, password_env: MFTEST_PASSWORD, from: help@example.com, reply_to: "help+{token}@example.com"})",
     "test.yaml:4:32: error: duplicate key 'host' in smtp (first given at line 4)"},
    {"thread without category", 9, 1, "    rules: [{name: all, action: thread}]",
     "test.yaml:9:13: error: missing required key 'category' in rule (needed for action: thread)"},
    {"duplicate rule name", 9, 1,
     "    rules: [{name: a, match: {subject: x}, action: ignore}, {name: a, action: ignore}]",
     "test.yaml:9:68: error: duplicate rule name 'a' (first defined at line 9)"},
    {"bad mailbox name", 7, 1, R"(  - name: "help desk")",
     "test.yaml:7:11: error: name: expected letters, digits, '.', '_' and '-', got 'help desk'"},
    {"bad listen address", 0, 0, R"(web: {listen: "localhost"})",
     "test.yaml:10:15: error: listen: expected host:port like 127.0.0.1:8080 or [::1]:8080, got 'localhost'"},
    {"unknown author display", 0, 0, "web: {author_display: email}",
     "test.yaml:10:23: error: author_display: unknown value 'email'; expected one of: name, masked"},
    {"bad search language", 0, 0, R"(web: {search_language: "english; drop"})",
     "test.yaml:10:24: error: search_language: expected a text-search configuration name like simple or english, "
     "got 'english; drop'"},
    {"public is a boolean", 5, 1, "categories: [{slug: general, name: General, public: maybe}]",
     "test.yaml:5:53: error: public: expected true or false, got 'maybe'"},
    {"unknown log level", 0, 0, "log: {level: verbose}",
     "test.yaml:10:14: error: level: unknown value 'verbose'; expected one of: debug, info, warning, error"},
    {"unknown log format", 0, 0, "log: {format: logfmt}",
     "test.yaml:10:15: error: format: unknown value 'logfmt'; expected one of: text, json"},
    {"password without username", 4, 1,
     R"(smtp: {host: localhost, tls: none, password_env: MFTEST_PASSWORD, from: help@example.com, reply_to: "help+{token}@example.com"})",
     "test.yaml:4:36: error: a password without a username; add 'username' in smtp"},
    {"control characters are escaped", 8, 1,
     R"(    imap: {host: "imap\nexample\x01", username: u, password_env: MFTEST_PASSWORD})",
     R"(test.yaml:8:18: error: host: expected a host name or IP address, got 'imap\nexample\x01')"},
    {"bad certificate pin", 8, 1,
     "    imap: {host: imap.example.com, username: u, password_env: MFTEST_PASSWORD, tls_sha256: abc}",
     "test.yaml:8:92: error: tls_sha256: expected the SHA-256 of the server certificate as 64 hex digits, "
     "got 'abc'"},
    {"bounce_address without token", 4, 1,
     R"(smtp: {host: smtp.example.com, username: u, password_env: MFTEST_PASSWORD, from: help@example.com, reply_to: "help+{token}@example.com", bounce_address: bounces@example.com})",
     "test.yaml:4:154: error: bounce_address: expected an address template containing {token}, like "
     "bounces+{token}@example.com, got 'bounces@example.com'"},
    {"outbox max_age without unit", 0, 0, "outbox: {max_age: 3}",
     "test.yaml:10:19: error: max_age: expected a duration like 60s (units: ms, s, m, h, d), got '3'"},
    {"outbox max_age zero", 0, 0, "outbox: {max_age: 0s}",
     "test.yaml:10:19: error: max_age: must be longer than 0s"},
    {"suppress_score not a number", 0, 0, "outbox: {suppress_score: 3e0}",
     "test.yaml:10:26: error: suppress_score: expected a number like 3.0, got '3e0'"},
    {"suppress_score zero", 0, 0, "outbox: {suppress_score: 0.0}",
     "test.yaml:10:26: error: suppress_score: must be greater than 0"},
    {"outbox batch out of range", 0, 0, "outbox: {batch: 0}",
     "test.yaml:10:17: error: batch: expected a whole number from 1 to 1000, got '0'"},
    {"outbox lease too short", 0, 0, "outbox: {lease: 500ms}",
     "test.yaml:10:17: error: lease: must be at least 1s"},
    {"outbox retry_base too short", 0, 0, "outbox: {retry_base: 0s}",
     "test.yaml:10:22: error: retry_base: must be at least 1s"},
    {"loop_threshold zero", 0, 0, "outbox: {loop_threshold: 0}",
     "test.yaml:10:26: error: loop_threshold: expected a whole number from 1 to 100000, got '0'"},
    {"loop_cooldown zero", 0, 0, "outbox: {loop_cooldown: 0s}",
     "test.yaml:10:25: error: loop_cooldown: must be longer than 0s"},
    {"stop_timeout too long", 0, 0, "daemon: {stop_timeout: 11m}",
     "test.yaml:10:24: error: stop_timeout: must be between 1s and 10m"},
    {"unknown daemon key", 0, 0, "daemon: {timeout: 5s}",
     "test.yaml:10:10: error: unknown key 'timeout' in daemon"},
    {"unknown outbox key", 0, 0, "outbox: {retries: 5}",
     "test.yaml:10:10: error: unknown key 'retries' in outbox"},
    {"auto_replies_per_domain_per_hour zero", 0, 0, "outbox: {auto_replies_per_domain_per_hour: 0}",
     "test.yaml:10:44: error: auto_replies_per_domain_per_hour: expected a whole number from 1 to 1000000, "
     "got '0'"},
    {"auto_replies_per_hour not a number", 0, 0, "outbox: {auto_replies_per_hour: lots}",
     "test.yaml:10:33: error: auto_replies_per_hour: expected a whole number from 1 to 1000000, got 'lots'"},
};
// clang-format on

TEST_F(ConfigTest, BaseConfigurationIsValid) {
  LoadResult result = Load(ConfigText(0, 0, ""));
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(Joined(result.diagnostics), "");
}

TEST_F(ConfigTest, BadConfigurations) {
  EXPECT_GE(std::size(kBadCases), 30u);
  for (const BadCase& c : kBadCases) {
    std::string text = ConfigText(c.line, c.count, c.text);
    LoadResult result = Load(text);
    EXPECT_FALSE(result.ok()) << c.label;
    EXPECT_EQ(Joined(result.diagnostics), c.expected) << c.label << "\n--- configuration:\n" << text;
  }
}

TEST_F(ConfigTest, CollectsManyErrorsInOnePass) {
  std::string text = ConfigText(1, 5,
                                "instance: {domain: example.com, base_url: ftp://x}\n"
                                "database: {dsn_env: MFTEST_UNSET}\n"
                                "secrets: {reply_key_env: MFTEST_REPLY_KEY}\n"
                                "smtp: {host: smtp.example.com, tls: ssl, from: x, reply_to: y}\n"
                                "categories: [{slug: General, name: General}]");
  LoadResult result = Load(text);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(Joined(result.diagnostics),
            "test.yaml:1:43: error: base_url: expected an http:// or https:// URL, got 'ftp://x'\n"
            "test.yaml:2:21: error: dsn_env: environment variable 'MFTEST_UNSET' is not set\n"
            "test.yaml:4:37: error: tls: unknown value 'ssl'; expected one of: implicit, starttls, none\n"
            "test.yaml:4:48: error: from: expected an email address like help@example.com or Name "
            "<help@example.com>, got 'x'\n"
            "test.yaml:4:61: error: reply_to: expected an address template containing {token}, like "
            "help+{token}@example.com, got 'y'\n"
            "test.yaml:5:21: error: slug: expected lower-case letters, digits and '-', got 'General'\n"
            "test.yaml:9:51: error: category: unknown category 'general'; no categories are defined");
}

TEST_F(ConfigTest, TopLevelMustBeAMap) {
  LoadResult result = Load("- instance\n- smtp\n");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(Joined(result.diagnostics), "test.yaml:1:1: error: configuration: expected a map, got a list");
}

TEST_F(ConfigTest, EmptyAndMissingFiles) {
  LoadResult empty = Load("# nothing here\n");
  EXPECT_FALSE(empty.ok());
  EXPECT_EQ(Joined(empty.diagnostics), "test.yaml: error: the configuration is empty");

  LoadResult missing = LoadConfigFile("/nonexistent/mailforum.yaml");
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(Joined(missing.diagnostics),
            "/nonexistent/mailforum.yaml: error: cannot read '/nonexistent/mailforum.yaml': No such file or "
            "directory");
}

TEST_F(ConfigTest, DefaultsOfAMinimalConfiguration) {
  LoadResult result = Load(ConfigText(0, 0, ""));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  const Config& c = *result.config;
  EXPECT_EQ(c.instance.name, "example.com");
  EXPECT_EQ(c.instance.base_url, "https://help.example.com");
  EXPECT_EQ(c.instance.domain, "example.com");
  EXPECT_EQ(c.database.dsn.reveal(), kDsn);
  EXPECT_EQ(c.database.dsn.source(), "environment variable MFTEST_DSN");
  EXPECT_EQ(c.secrets.reply_key.reveal(), kReplyKey);
  EXPECT_EQ(c.daemon.stop_timeout, std::chrono::seconds(20));

  EXPECT_EQ(c.smtp.host, "smtp.example.com");
  EXPECT_EQ(c.smtp.tls, TlsMode::kStartTls);
  EXPECT_EQ(c.smtp.port, 587);
  EXPECT_EQ(c.smtp.ca_file, "");
  EXPECT_EQ(c.smtp.tls_sha256, "");
  EXPECT_EQ(c.smtp.username, "u");
  ASSERT_TRUE(c.smtp.password.has_value());
  EXPECT_EQ(c.smtp.password->reveal(), kPassword);
  EXPECT_EQ(c.smtp.from, "help@example.com");
  EXPECT_EQ(c.smtp.reply_to, "help+{token}@example.com");
  EXPECT_EQ(c.smtp.bounce_address, "bounces+{token}@example.com");

  ASSERT_EQ(c.categories.size(), 2u);
  EXPECT_EQ(c.categories[0].slug, "general");
  EXPECT_EQ(c.categories[0].name, "General");
  EXPECT_TRUE(c.categories[0].watchers.empty());
  EXPECT_EQ(c.FindCategory("it"), &c.categories[1]);
  EXPECT_EQ(c.FindCategory("sales"), nullptr);

  ASSERT_EQ(c.mailboxes.size(), 1u);
  const MailboxConfig& m = c.mailboxes[0];
  EXPECT_EQ(c.FindMailbox("help"), &m);
  EXPECT_EQ(m.imap.tls, TlsMode::kImplicit);
  EXPECT_EQ(m.imap.port, 993);
  EXPECT_EQ(m.imap.folder, "INBOX");
  EXPECT_TRUE(m.imap.idle);
  EXPECT_EQ(m.imap.poll_interval, 60s);
  EXPECT_EQ(m.imap.timeout, 30s);
  EXPECT_EQ(m.imap.keepalive, 60s);
  EXPECT_EQ(m.after.action, AfterAction::kSeen);
  EXPECT_EQ(m.after.folder, "");
  EXPECT_EQ(m.quarantine_folder, "Quarantine");
  EXPECT_EQ(m.import_max_age, 7 * 24h);
  EXPECT_TRUE(m.acknowledge);
  EXPECT_FALSE(m.notify_unverified_senders);
  ASSERT_EQ(m.rules.size(), 1u);
  EXPECT_EQ(m.rules[0].name, "all");
  EXPECT_FALSE(m.rules[0].match.has_value());
  EXPECT_EQ(m.rules[0].action, RuleAction::kThread);
  EXPECT_EQ(m.rules[0].category, "general");
  EXPECT_EQ(m.rules[0].line, 9);

  EXPECT_EQ(c.limits.max_message_size, 25u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_mime_depth, 32);
  EXPECT_EQ(c.limits.max_parts, 500);
  EXPECT_EQ(c.limits.new_threads_per_sender_per_hour, 20);
  EXPECT_EQ(c.outbox.max_age, 3 * 24h);
  EXPECT_EQ(c.outbox.suppress_score, 3.0);
  EXPECT_EQ(c.outbox.batch, 50);
  EXPECT_EQ(c.database.mailbox_pool, 4);
  EXPECT_EQ(c.outbox.lease, 10min);
  EXPECT_EQ(c.outbox.retry_base, 1min);
  EXPECT_EQ(c.outbox.loop_threshold, 5);
  EXPECT_EQ(c.outbox.loop_domain_threshold, 20);
  EXPECT_EQ(c.outbox.loop_window, 10min);
  EXPECT_EQ(c.outbox.loop_cooldown, 1h);
  EXPECT_EQ(c.outbox.acknowledgement_interval, 1h);
  EXPECT_EQ(c.outbox.auto_replies_per_domain_per_hour, 20);
  EXPECT_EQ(c.outbox.auto_replies_per_hour, 200);
  EXPECT_TRUE(c.auth.trusted_authserv_ids.empty());
  EXPECT_EQ(c.web.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.web.host, "127.0.0.1");
  EXPECT_EQ(c.web.port, 8080);
  EXPECT_FALSE(c.web.enabled);
  EXPECT_EQ(c.web.search_language, "simple");
  EXPECT_EQ(c.web.author_display, AuthorDisplay::kName);
  EXPECT_FALSE(c.web.dsn.has_value());
  EXPECT_EQ(c.web.search_per_minute, 60);
  EXPECT_EQ(c.web.search_burst, 10);
  EXPECT_EQ(c.web.cache_size, 64u << 20);
  EXPECT_TRUE(c.categories[0].is_public);
  EXPECT_EQ(c.log.level, base::LogLevel::kInfo);
  EXPECT_EQ(c.log.format, base::LogFormat::kText);
}

TEST_F(ConfigTest, WebSectionTurnsTheWebOn) {
  LoadResult result = Load(ConfigText(0, 0, "web: {}"));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_TRUE(result.config->web.enabled);
  EXPECT_EQ(result.config->web.port, 8080);
}

TEST_F(ConfigTest, WebKeysAndPrivateCategories) {
  setenv("MFTEST_WEB_DSN", "postgresql://mailforum_web@localhost/mailforum", 1);
  std::string text = ConfigText(5, 1,
                                "categories: [{slug: general, name: General}, {slug: staff, name: Staff, public: false}]");
  text += "web: {listen: 127.0.0.1:0, search_language: pg_catalog.english, author_display: masked,\n"
          "      dsn_env: MFTEST_WEB_DSN, search_per_minute: 600, search_burst: 50, cache_size: 8MiB,\n"
          "      health_failure_after: 5m}\n";
  LoadResult result = Load(text);
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  const Config& c = *result.config;
  EXPECT_TRUE(c.web.enabled);
  EXPECT_EQ(c.web.host, "127.0.0.1");
  EXPECT_EQ(c.web.port, 0);  // a free port
  EXPECT_EQ(c.web.search_language, "pg_catalog.english");
  EXPECT_EQ(c.web.author_display, AuthorDisplay::kMasked);
  ASSERT_TRUE(c.web.dsn.has_value());
  EXPECT_EQ(c.web.dsn->reveal(), "postgresql://mailforum_web@localhost/mailforum");
  EXPECT_EQ(c.web.search_per_minute, 600);
  EXPECT_EQ(c.web.search_burst, 50);
  EXPECT_EQ(c.web.cache_size, 8u << 20);
  EXPECT_EQ(c.web.health_failure_after, std::chrono::minutes(5));
  ASSERT_EQ(c.categories.size(), 2u);
  EXPECT_TRUE(c.categories[0].is_public);
  EXPECT_FALSE(c.categories[1].is_public);
  EXPECT_EQ(AuthorDisplayName(c.web.author_display), "masked");
  unsetenv("MFTEST_WEB_DSN");
}

TEST_F(ConfigTest, PortsDefaultByTlsMode) {
  std::string text = ConfigText(
      4, 1,
      R"(smtp: {host: 127.0.0.1, tls: none, from: help@example.com, reply_to: "<help+{token}@example.com>"})");
  text +=
      "  - name: second\n"
      "    imap: {host: imap.example.com, tls: starttls, username: u, password_env: MFTEST_PASSWORD}\n"
      "    rules: [{name: all, action: ignore}]\n";
  LoadResult result = Load(text);
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->smtp.port, 25);
  EXPECT_FALSE(result.config->smtp.password.has_value());
  EXPECT_EQ(result.config->mailboxes[1].imap.port, 143);

  result = Load(ConfigText(
      4, 1,
      R"(smtp: {host: smtp.example.com, tls: implicit, from: help@example.com, reply_to: "help+{token}@example.com"})"));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->smtp.port, 465);
  EXPECT_EQ(result.config->smtp.tls, TlsMode::kImplicit);
}

TEST_F(ConfigTest, BounceAddressDefaultsToTheDomainOfFrom) {
  LoadResult result = Load(ConfigText(
      4, 1,
      R"(smtp: {host: 127.0.0.1, tls: none, from: "Acme <Help@Acme.example>", reply_to: "help+{token}@acme.example"})"));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->smtp.bounce_address, "bounces+{token}@acme.example");

  result = Load(ConfigText(
      4, 1,
      R"(smtp: {host: 127.0.0.1, tls: none, from: help@example.com, reply_to: "help+{token}@example.com", bounce_address: "return-{token}@mx.example.com"})"));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->smtp.bounce_address, "return-{token}@mx.example.com");
}

TEST_F(ConfigTest, PlaintextIsAllowedToLoopback) {
  for (const char* host : {"localhost", "127.0.0.1", "127.1.2.3", "::1", "LOCALHOST"}) {
    LoadResult result = Load(ConfigText(8, 1,
                                        std::string("    imap: {host: \"") + host +
                                            "\", tls: none, username: u, password_env: MFTEST_PASSWORD}"));
    EXPECT_TRUE(result.ok()) << host << ": " << Joined(result.diagnostics);
  }
}

TEST_F(ConfigTest, EverySectionAndMatcherIsRead) {
  std::string text = ConfigText(6, 4, R"(mailboxes:
  - name: help.desk_1
    imap: {host: imap.example.com, port: 10993, username: u, password_env: MFTEST_PASSWORD, folder: Support,
           idle: no, poll_interval: 500ms, timeout: 5s, keepalive: 20s, tls_sha256: "AB:CD:EF:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89"}
    after: {action: move, folder: Done}
    quarantine_folder: Poison
    import_max_age: 1h
    acknowledge: off
    rules:
      - name: tree
        match:
          from_domain: [Example.COM]
          any:
            - {from: [Boss@Example.com]}
            - not: {has_attachment: true}
          header: {name: X-Priority, regex: "^1"}
        action: thread
        category: it
        tags: [urgent, vip]
      - {name: big, match: {size_over: 10MB, to: [a@example.com], cc: [b@example.com]}, action: quarantine}
      - {name: machines, match: {classification: [bounce, auto_reply], dmarc: [fail, temperror]}, action: reject,
         reason: "No robots."}
      - {name: body, match: {body: "(?i)unsubscribe"}, action: ignore}
    notify_unverified_senders: yes
limits: {max_message_size: 1GiB, max_mime_depth: 8, max_parts: 50, new_threads_per_sender_per_hour: 3}
outbox: {max_age: 12h, suppress_score: 0.5, batch: 7, lease: 30s, retry_base: 5s, loop_threshold: 3,
         loop_domain_threshold: 9, loop_window: 5m, loop_cooldown: 2h, acknowledgement_interval: 0s,
         auto_replies_per_domain_per_hour: 5, auto_replies_per_hour: 50}
auth: {trusted_authserv_ids: [MX.example.com, mx2.example.com]}
web: {listen: "[::1]:9090"}
log: {level: debug, format: json})");
  LoadResult result = Load(text);
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  const Config& c = *result.config;
  const MailboxConfig& m = c.mailboxes.at(0);
  EXPECT_EQ(m.name, "help.desk_1");
  EXPECT_EQ(m.imap.port, 10993);
  EXPECT_EQ(m.imap.folder, "Support");
  EXPECT_FALSE(m.imap.idle);
  EXPECT_EQ(m.imap.poll_interval, 500ms);
  EXPECT_EQ(m.imap.timeout, 5s);
  EXPECT_EQ(m.imap.keepalive, 20s);
  EXPECT_EQ(m.imap.tls_sha256, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  EXPECT_EQ(m.after.action, AfterAction::kMove);
  EXPECT_EQ(m.after.folder, "Done");
  EXPECT_EQ(m.quarantine_folder, "Poison");
  EXPECT_EQ(m.import_max_age, 1h);
  EXPECT_FALSE(m.acknowledge);
  EXPECT_TRUE(m.notify_unverified_senders);
  ASSERT_EQ(m.rules.size(), 4u);

  // Several keys in one match map are one implicit `all`, in file order.
  const Rule& tree = m.rules[0];
  EXPECT_EQ(tree.line, 15);
  EXPECT_EQ(tree.tags, (std::vector<std::string>{"urgent", "vip"}));
  ASSERT_TRUE(tree.match.has_value());
  const Matcher& all = *tree.match;
  EXPECT_EQ(all.kind, Matcher::Kind::kAll);
  ASSERT_EQ(all.children.size(), 3u);
  EXPECT_EQ(all.children[0].kind, Matcher::Kind::kFromDomain);
  EXPECT_EQ(all.children[0].values, std::vector<std::string>{"example.com"});
  const Matcher& any = all.children[1];
  EXPECT_EQ(any.kind, Matcher::Kind::kAny);
  ASSERT_EQ(any.children.size(), 2u);
  EXPECT_EQ(any.children[0].kind, Matcher::Kind::kFrom);
  EXPECT_EQ(any.children[0].values, std::vector<std::string>{"boss@example.com"});
  EXPECT_EQ(any.children[1].kind, Matcher::Kind::kNot);
  ASSERT_EQ(any.children[1].children.size(), 1u);
  EXPECT_EQ(any.children[1].children[0].kind, Matcher::Kind::kHasAttachment);
  EXPECT_TRUE(any.children[1].children[0].flag);
  const Matcher& header = all.children[2];
  EXPECT_EQ(header.kind, Matcher::Kind::kHeader);
  EXPECT_EQ(header.header_name, "X-Priority");
  ASSERT_TRUE(header.regex.has_value());
  EXPECT_TRUE(header.regex->PartialMatch("1 (Highest)"));

  const Matcher& big = *m.rules[1].match;
  ASSERT_EQ(big.children.size(), 3u);
  EXPECT_EQ(big.children[0].kind, Matcher::Kind::kSizeOver);
  EXPECT_EQ(big.children[0].size, 10'000'000u);
  EXPECT_EQ(big.children[1].kind, Matcher::Kind::kTo);
  EXPECT_EQ(big.children[2].kind, Matcher::Kind::kCc);
  EXPECT_EQ(m.rules[1].action, RuleAction::kQuarantine);

  const Rule& machines = m.rules[2];
  EXPECT_EQ(machines.action, RuleAction::kReject);
  EXPECT_EQ(machines.reason, "No robots.");
  EXPECT_EQ(machines.category, "");
  EXPECT_EQ(machines.match->children[0].classifications,
            (std::vector<Classification>{Classification::kBounce, Classification::kAutoReply}));
  EXPECT_EQ(machines.match->children[1].dmarc,
            (std::vector<DmarcResult>{DmarcResult::kFail, DmarcResult::kTempError}));

  const Matcher& body = *m.rules[3].match;
  EXPECT_EQ(body.kind, Matcher::Kind::kBody);
  EXPECT_TRUE(body.regex->PartialMatch("Please UNSUBSCRIBE me"));

  EXPECT_EQ(c.limits.max_message_size, 1024u * 1024 * 1024);
  EXPECT_EQ(c.limits.max_mime_depth, 8);
  EXPECT_EQ(c.limits.max_parts, 50);
  EXPECT_EQ(c.limits.new_threads_per_sender_per_hour, 3);
  EXPECT_EQ(c.outbox.max_age, 12h);
  EXPECT_EQ(c.outbox.suppress_score, 0.5);
  EXPECT_EQ(c.outbox.batch, 7);
  EXPECT_EQ(c.outbox.lease, 30s);
  EXPECT_EQ(c.outbox.retry_base, 5s);
  EXPECT_EQ(c.outbox.loop_threshold, 3);
  EXPECT_EQ(c.outbox.loop_domain_threshold, 9);
  EXPECT_EQ(c.outbox.loop_window, 5min);
  EXPECT_EQ(c.outbox.loop_cooldown, 2h);
  EXPECT_EQ(c.outbox.acknowledgement_interval, 0s);
  EXPECT_EQ(c.outbox.auto_replies_per_domain_per_hour, 5);
  EXPECT_EQ(c.outbox.auto_replies_per_hour, 50);
  EXPECT_EQ(c.auth.trusted_authserv_ids, (std::vector<std::string>{"mx.example.com", "mx2.example.com"}));
  EXPECT_EQ(c.web.host, "::1");
  EXPECT_EQ(c.web.port, 9090);
  EXPECT_EQ(c.log.level, base::LogLevel::kDebug);
  EXPECT_EQ(c.log.format, base::LogFormat::kJson);
}

TEST_F(ConfigTest, WarningsDoNotPreventLoading) {
  std::string text = ConfigText(9, 1, R"(    rules:
      - {name: all, action: ignore, category: general, reason: "Go away."}
      - {name: later, action: thread, category: general}
    after: {action: seen, folder: Done})");
  LoadResult result = Load(text);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(
      Joined(result.diagnostics),
      "test.yaml:10:37: warning: category has no effect with action: ignore (only with action: thread)\n"
      "test.yaml:10:56: warning: reason has no effect with action: ignore (only with action: reject)\n"
      "test.yaml:11:9: warning: rule 'later' is never used: rule 'all' (line 10) matches every message\n"
      "test.yaml:12:27: warning: folder has no effect with action: seen (only with action: move)");
}

TEST(DurationTest, Units) {
  using internal::ParseDuration;
  EXPECT_EQ(ParseDuration("500ms"), 500ms);
  EXPECT_EQ(ParseDuration("60s"), 60s);
  EXPECT_EQ(ParseDuration("5m"), 5min);
  EXPECT_EQ(ParseDuration("1h"), 1h);
  EXPECT_EQ(ParseDuration("7d"), 7 * 24h);
  EXPECT_EQ(ParseDuration("0s"), 0ms);
  for (const char* bad : {"", "60", "s", "1.5h", "-1s", "5 m", "1w", "60S", "99999999999999999999s"}) {
    EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
  }
}

TEST(SizeTest, Units) {
  using internal::ParseSize;
  EXPECT_EQ(ParseSize("25MiB"), 25u * 1024 * 1024);
  EXPECT_EQ(ParseSize("10MB"), 10'000'000u);
  EXPECT_EQ(ParseSize("512KiB"), 512u * 1024);
  EXPECT_EQ(ParseSize("1GiB"), 1024u * 1024 * 1024);
  EXPECT_EQ(ParseSize("4096"), 4096u);
  EXPECT_EQ(ParseSize("100 kB"), 100'000u);
  EXPECT_EQ(ParseSize("7B"), 7u);
  for (const char* bad : {"", "MiB", "1.5MiB", "-1", "10 megs", "10mib", "10  MB", "99999999999TiB"}) {
    EXPECT_FALSE(ParseSize(bad).has_value()) << bad;
  }
}

TEST(AddressTest, Validation) {
  using internal::HeaderAddress;
  using internal::IsValidAddress;
  EXPECT_TRUE(IsValidAddress("help@example.com"));
  EXPECT_TRUE(IsValidAddress("first.last+tag@sub.example.co.uk"));
  EXPECT_TRUE(IsValidAddress("root@localhost"));
  for (const char* bad : {"help", "@example.com", "help@", "a b@example.com", "a..b@example.com",
                          ".a@example.com", "help@-example.com", "help@example..com", "help@exa_mple.com"}) {
    EXPECT_FALSE(IsValidAddress(bad)) << bad;
  }
  EXPECT_EQ(HeaderAddress("Acme Help <help@example.com>"), "help@example.com");
  EXPECT_EQ(HeaderAddress("<help@example.com>"), "help@example.com");
  EXPECT_EQ(HeaderAddress("help@example.com"), "help@example.com");
  EXPECT_FALSE(HeaderAddress("Acme\r\nBcc: x@evil.example <help@example.com>").has_value());
  EXPECT_FALSE(HeaderAddress("Acme <help@example.com").has_value());
}

TEST(DiagnosticTest, ToStringLeavesOutUnknownPositions) {
  Diagnostic d{Diagnostic::Severity::kWarning, "a.yaml", 3, 7, "careful"};
  EXPECT_EQ(d.ToString(), "a.yaml:3:7: warning: careful");
  d.column = 0;
  EXPECT_EQ(d.ToString(), "a.yaml:3: warning: careful");
  d.line = 0;
  d.severity = Diagnostic::Severity::kError;
  EXPECT_EQ(d.ToString(), "a.yaml: error: careful");
}

// Detects `os << value`.
template <typename T, typename = void>
struct Printable : std::false_type {};
template <typename T>
struct Printable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

TEST(SecretTest, CannotBePrintedOrConverted) {
  static_assert(!Printable<Secret>::value, "a Secret must not be printable");
  static_assert(!std::is_convertible_v<Secret, std::string>, "a Secret must not convert to a string");
  static_assert(!std::is_convertible_v<Secret, std::string_view>,
                "a Secret must not convert to a string_view");
  Secret s("value", "file /x");
  EXPECT_EQ(s.reveal(), "value");
  EXPECT_EQ(s.source(), "file /x");
}

class SecretFileTest : public ConfigTest {
 protected:
  void SetUp() override {
    ConfigTest::SetUp();
    dir_ = mftest::MakeTempDir("mf-config-test-");
  }

  // kBaseLines with the database and reply key from files in dir_.
  std::string FileConfig(const std::string& dsn_path, const std::string& key_path) const {
    return ConfigText(2, 2,
                      "database: {dsn_file: " + dsn_path + "}\nsecrets: {reply_key_file: " + key_path + "}");
  }

  std::string dir_;
};

TEST_F(SecretFileTest, ReadsFilesStrippingTrailingNewlines) {
  WriteFile(dir_ + "/db.dsn", std::string(kDsn) + "\n", 0600);
  WriteFile(dir_ + "/reply.key", std::string(kReplyKey) + "\r\n\n", 0640);
  // Relative paths are relative to the configuration file's directory.
  LoadResult result = LoadConfigString(FileConfig("db.dsn", dir_ + "/reply.key"), dir_ + "/mailforum.yaml");
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_TRUE(result.diagnostics.empty()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->database.dsn.reveal(), kDsn);
  EXPECT_EQ(result.config->database.dsn.source(), "file " + dir_ + "/db.dsn");
  EXPECT_EQ(result.config->secrets.reply_key.reveal(), kReplyKey);
  EXPECT_EQ(result.config->secrets.reply_key.source(), "file " + dir_ + "/reply.key");
}

TEST_F(SecretFileTest, WorldReadableFileIsAWarning) {
  WriteFile(dir_ + "/db.dsn", kDsn, 0644);
  WriteFile(dir_ + "/reply.key", kReplyKey, 0600);
  std::string text = FileConfig(dir_ + "/db.dsn", dir_ + "/reply.key");
  LoadResult result = Load(text);
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_EQ(Joined(result.diagnostics),
            "test.yaml:2:22: warning: dsn_file: '" + dir_ +
                "/db.dsn' can be read by every user (mode 0644); run: chmod o-r " + dir_ + "/db.dsn");
}

TEST_F(SecretFileTest, EmptyFileAndDirectoryAreErrors) {
  WriteFile(dir_ + "/db.dsn", "\n", 0600);
  LoadResult result = Load(FileConfig(dir_ + "/db.dsn", dir_));
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(Joined(result.diagnostics), "test.yaml:2:22: error: dsn_file: '" + dir_ + "/db.dsn' is empty\n" +
                                            "test.yaml:3:27: error: reply_key_file: '" + dir_ +
                                            "' is not a regular file");
}

TEST_F(SecretFileTest, SecretValuesNeverAppearInDiagnostics) {
  const std::string secret = "Sup3r-S3cret-Val";  // Also too short for a reply key: a warning about it.
  WriteFile(dir_ + "/db.dsn", secret, 0644);
  WriteFile(dir_ + "/reply.key", secret, 0644);
  WriteFile(dir_ + "/pass", secret + "\n", 0666);
  setenv("MFTEST_SECRET", secret.c_str(), 1);
  std::string text = FileConfig(dir_ + "/db.dsn", dir_ + "/reply.key");
  text += "    after: {action: move}\n";
  text += "limits: {max_parts: 0}\n";
  // Misplaced secrets: an inline password, a password where a variable name belongs.
  text += "web: {listen: nowhere, password: " + secret + "}\n";
  std::string smtp = "smtp: {host: smtp.example.com, tls: none, username: u, password_file: " + dir_ +
                     "/pass, password_env: MFTEST_SECRET, from: x, reply_to: y}";
  std::string imap = "    imap: {host: imap.example.com, username: u, password_env: \"" + secret + "!\"}";
  text = text.replace(text.find("smtp:"), kBaseLines[3].size(), smtp);
  text = text.replace(text.find("    imap:"), kBaseLines[7].size(), imap);
  LoadResult result = Load(text);
  EXPECT_FALSE(result.ok());
  EXPECT_GE(result.diagnostics.size(), 10u) << Joined(result.diagnostics);
  for (const Diagnostic& d : result.diagnostics) {
    EXPECT_EQ(d.ToString().find(secret), std::string::npos) << d.ToString();
  }
  unsetenv("MFTEST_SECRET");
}

// mailforum-web loads the daemon's file without the mail secrets: their files
// and variables need not exist where it runs, and are never opened.
TEST_F(SecretFileTest, DatabaseOnlyLoadSkipsTheMailSecrets) {
  WriteFile(dir_ + "/db.dsn", std::string(kDsn) + "\n", 0600);
  std::string text = FileConfig(dir_ + "/db.dsn", dir_ + "/missing-reply.key");
  text = text.replace(text.find("password_env: MFTEST_PASSWORD"), 29, "password_file: /nonexistent/smtp.pass");
  text = text.replace(text.find("password_env: MFTEST_PASSWORD"), 29, "password_env: MFTEST_UNSET");
  text += "web: {listen: 127.0.0.1:0}\n";
  // The daemon needs them all: each missing one is an error.
  LoadResult full = Load(text);
  EXPECT_FALSE(full.ok());
  EXPECT_EQ(full.diagnostics.size(), 3u) << Joined(full.diagnostics);

  LoadOptions web_only;
  web_only.secrets = LoadOptions::Secrets::kDatabaseOnly;
  LoadResult result = LoadConfigString(text, "test.yaml", web_only);
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_TRUE(result.diagnostics.empty()) << Joined(result.diagnostics);
  const Config& c = *result.config;
  EXPECT_EQ(c.database.dsn.reveal(), kDsn);
  EXPECT_EQ(c.secrets.reply_key.reveal(), "");
  EXPECT_EQ(c.secrets.reply_key.source(), "file " + dir_ + "/missing-reply.key (not read)");
  ASSERT_TRUE(c.smtp.password.has_value());
  EXPECT_EQ(c.smtp.password->reveal(), "");
  ASSERT_TRUE(c.mailboxes[0].imap.password.has_value());
  EXPECT_EQ(c.mailboxes[0].imap.password->source(), "environment variable MFTEST_UNSET (not read)");
  EXPECT_TRUE(c.web.enabled);
}

// Skipping the mail secrets still checks where they would come from.
TEST_F(SecretFileTest, DatabaseOnlyLoadStillChecksTheSecretKeys) {
  std::string text = ConfigText(3, 1, "secrets: {reply_key_env: \"not a name\"}");
  text = text.replace(text.find("password_env: MFTEST_PASSWORD"), 29, "password_env: X, password_file: y");
  LoadOptions web_only;
  web_only.secrets = LoadOptions::Secrets::kDatabaseOnly;
  LoadResult result = LoadConfigString(text, "test.yaml", web_only);
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.diagnostics.size(), 2u) << Joined(result.diagnostics);
  // The database DSN is still read: a missing one is an error.
  unsetenv("MFTEST_DSN");
  result = LoadConfigString(ConfigText(0, 0, ""), "test.yaml", web_only);
  EXPECT_FALSE(result.ok());
}

TEST_F(ConfigTest, ShortReplyKeyIsAWarning) {
  setenv("MFTEST_REPLY_KEY", "short", 1);
  LoadResult result = Load(ConfigText(0, 0, ""));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(
      Joined(result.diagnostics),
      "test.yaml:3:10: warning: the reply key (environment variable MFTEST_REPLY_KEY) is shorter than 32 "
      "bytes; make one with: openssl rand -base64 32");
}

TEST(PathVariablesTest, ExpandsOnlyCredentialsDirectory) {
  using internal::ExpandPathVariables;
  auto set = [](const char* name) -> const char* {
    return std::string_view(name) == "CREDENTIALS_DIRECTORY" ? "/run/credentials/mailforumd.service"
                                                             : nullptr;
  };
  auto unset = [](const char*) -> const char* { return nullptr; };
  auto empty = [](const char*) -> const char* { return ""; };
  EXPECT_EQ(ExpandPathVariables("${CREDENTIALS_DIRECTORY}/imap-help", set).path,
            "/run/credentials/mailforumd.service/imap-help");
  EXPECT_EQ(ExpandPathVariables("${CREDENTIALS_DIRECTORY:-/etc/mailforum}/db.dsn", set).path,
            "/run/credentials/mailforumd.service/db.dsn");
  EXPECT_EQ(ExpandPathVariables("${CREDENTIALS_DIRECTORY:-/etc/mailforum}/db.dsn", unset).path,
            "/etc/mailforum/db.dsn");
  EXPECT_EQ(ExpandPathVariables("${CREDENTIALS_DIRECTORY:-/etc/mailforum}/db.dsn", empty).path,
            "/etc/mailforum/db.dsn");
  EXPECT_EQ(ExpandPathVariables("${CREDENTIALS_DIRECTORY:-}x", unset).path, "x");
  // Without "${" nothing changes, a lone '$' included.
  EXPECT_EQ(ExpandPathVariables("/etc/mail$forum/a$b", unset).path, "/etc/mail$forum/a$b");
  EXPECT_EQ(ExpandPathVariables("${CREDENTIALS_DIRECTORY}${CREDENTIALS_DIRECTORY}", set).path,
            "/run/credentials/mailforumd.service/run/credentials/mailforumd.service");

  EXPECT_EQ(
      ExpandPathVariables("${CREDENTIALS_DIRECTORY}/db.dsn", unset).error,
      "${CREDENTIALS_DIRECTORY} is not set (systemd sets it for a unit with LoadCredential=; elsewhere set "
      "it, or write ${CREDENTIALS_DIRECTORY:-/etc/mailforum})");
  EXPECT_FALSE(ExpandPathVariables("${CREDENTIALS_DIRECTORY}/db.dsn", empty).path.has_value());
  EXPECT_EQ(ExpandPathVariables("${HOME}/.pass", set).error,
            "unknown variable '${HOME}' (a path may name only ${CREDENTIALS_DIRECTORY})");
  EXPECT_EQ(ExpandPathVariables("/x/${CREDENTIALS_DIRECTORY/db.dsn", set).error, "'${' without its '}'");
}

// systemd's LoadCredential= puts the secrets in $CREDENTIALS_DIRECTORY; the
// configuration names them there.
TEST_F(SecretFileTest, CredentialsDirectoryIsExpandedInFilePaths) {
  WriteFile(dir_ + "/db.dsn", std::string(kDsn) + "\n", 0600);
  WriteFile(dir_ + "/reply.key", std::string(kReplyKey) + "\n", 0600);
  WriteFile(dir_ + "/imap-help", std::string(kPassword) + "\n", 0600);
  std::string text = FileConfig("\"${CREDENTIALS_DIRECTORY}/db.dsn\"",
                                "\"${CREDENTIALS_DIRECTORY:-/nonexistent}/reply.key\"");
  text = text.replace(text.rfind("password_env: MFTEST_PASSWORD"), 29,
                      "password_file: \"${CREDENTIALS_DIRECTORY}/imap-help\"");
  setenv("CREDENTIALS_DIRECTORY", dir_.c_str(), 1);
  LoadResult result = Load(text);
  unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_TRUE(result.diagnostics.empty()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->database.dsn.reveal(), kDsn);
  EXPECT_EQ(result.config->database.dsn.source(), "file " + dir_ + "/db.dsn");
  EXPECT_EQ(result.config->secrets.reply_key.reveal(), kReplyKey);
  EXPECT_EQ(result.config->mailboxes[0].imap.password->reveal(), kPassword);

  // Unset: an error at the value, for every loader (mailforum-web's too), and the default where one is given.
  for (auto secrets : {LoadOptions::Secrets::kAll, LoadOptions::Secrets::kDatabaseOnly}) {
    LoadOptions options;
    options.secrets = secrets;
    LoadResult unset = LoadConfigString(text, "test.yaml", options);
    EXPECT_FALSE(unset.ok());
    const std::string why =
        " is not set (systemd sets it for a unit with LoadCredential=; elsewhere set it, or write "
        "${CREDENTIALS_DIRECTORY:-/etc/mailforum})";
    std::string expected = "test.yaml:2:22: error: dsn_file: ${CREDENTIALS_DIRECTORY}" + why + "\n";
    if (secrets == LoadOptions::Secrets::kAll) {
      expected +=
          "test.yaml:3:27: error: reply_key_file: cannot read '/nonexistent/reply.key': No such file or "
          "directory\n";
    }
    expected += "test.yaml:8:64: error: password_file: ${CREDENTIALS_DIRECTORY}" + why;
    EXPECT_EQ(Joined(unset.diagnostics), expected);
  }
}

// The shipped example must load cleanly once its secret files exist.
TEST(ExampleConfigTest, LoadsWithoutErrorsOrWarnings) {
  std::string dir = mftest::MakeTempDir("mf-example-");
  std::string text = ReadFile(mftest::SourceDir() + "/systemd/mailforum.example.yaml");
  ASSERT_FALSE(text.empty());
  const std::string from = "/etc/mailforum/";
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), dir + "/");
  }
  for (const char* name : {"db.dsn", "reply.key", "smtp.pass", "imap.pass"}) {
    WriteFile(dir + "/" + name, std::string(name) + "-0123456789abcdef0123456789abcdef\n", 0600);
  }
  WriteFile(dir + "/mailforum.yaml", text, 0644);
  // As under its unit: the secrets are read from systemd's credentials directory.
  setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
  LoadResult result = LoadConfigFile(dir + "/mailforum.yaml");
  unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_TRUE(result.diagnostics.empty()) << Joined(result.diagnostics);
  const Config& c = *result.config;
  EXPECT_EQ(c.instance.name, "Acme Help");
  EXPECT_EQ(c.smtp.password->reveal(), "smtp.pass-0123456789abcdef0123456789abcdef");
  EXPECT_EQ(c.smtp.password->source(), "file " + dir + "/smtp.pass");
  EXPECT_EQ(c.categories.size(), 3u);
  ASSERT_EQ(c.mailboxes.size(), 1u);
  EXPECT_EQ(c.mailboxes[0].rules.size(), 6u);
  EXPECT_EQ(c.mailboxes[0].after.action, AfterAction::kMove);
  EXPECT_EQ(c.auth.trusted_authserv_ids, std::vector<std::string>{"mx.example.com"});
}

TEST_F(ConfigTest, OAuth2Mailbox) {
  LoadResult result =
      Load(ConfigText(8, 1,
                      "    imap:\n"
                      "      host: outlook.office365.com\n"
                      "      username: help@example.com\n"
                      "      auth: oauth2\n"
                      "      oauth2:\n"
                      "        token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token\n"
                      "        client_id: 0f1e\n"
                      "        client_secret_env: MFTEST_PASSWORD\n"
                      "        refresh_token_env: MFTEST_REPLY_KEY\n"
                      "        scope: https://outlook.office.com/IMAP.AccessAsUser.All offline_access\n"
                      "        mechanism: oauthbearer"));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  const ImapConfig& imap = result.config->mailboxes[0].imap;
  EXPECT_EQ(imap.auth, AuthMethod::kOAuth2);
  EXPECT_FALSE(imap.password.has_value());
  ASSERT_TRUE(imap.oauth2.has_value());
  EXPECT_EQ(imap.oauth2->token_url, "https://login.microsoftonline.com/t/oauth2/v2.0/token");
  EXPECT_EQ(imap.oauth2->client_id, "0f1e");
  ASSERT_TRUE(imap.oauth2->client_secret.has_value());
  EXPECT_EQ(imap.oauth2->client_secret->reveal(), kPassword);
  ASSERT_TRUE(imap.oauth2->refresh_token.has_value());
  EXPECT_EQ(imap.oauth2->refresh_token->reveal(), kReplyKey);
  EXPECT_EQ(imap.oauth2->grant, OAuth2GrantType::kRefreshToken);
  EXPECT_EQ(imap.oauth2->mechanism, OAuth2Mechanism::kOAuthBearer);
  EXPECT_EQ(OAuth2MechanismName(imap.oauth2->mechanism), "oauthbearer");
  EXPECT_EQ(AuthMethodName(imap.auth), "oauth2");

  result = Load(
      ConfigText(8, 1,
                 "    imap: {host: outlook.office365.com, username: help@example.com, auth: oauth2, oauth2: "
                 "{token_url: \"http://127.0.0.1:8080/token\", client_id: c, grant: client_credentials, "
                 "client_secret_env: MFTEST_PASSWORD, scope: \"https://outlook.office365.com/.default\"}}"));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->mailboxes[0].imap.oauth2->grant, OAuth2GrantType::kClientCredentials);
  EXPECT_FALSE(result.config->mailboxes[0].imap.oauth2->refresh_token.has_value());
  EXPECT_EQ(result.config->mailboxes[0].imap.oauth2->mechanism, OAuth2Mechanism::kXOAuth2);
}

TEST_F(ConfigTest, OAuth2Smtp) {
  const std::string tail = R"(, from: help@example.com, reply_to: "help+{token}@example.com"})";
  const std::string oauth2 =
      R"(oauth2: {token_url: "https://t.example/token", client_id: c, refresh_token_env: MFTEST_REPLY_KEY, )"
      R"(mechanism: oauthbearer})";
  LoadResult result =
      Load(ConfigText(4, 1, "smtp: {host: smtp.office365.com, username: help@example.com, auth: oauth2, " + oauth2 + tail));
  ASSERT_TRUE(result.ok()) << Joined(result.diagnostics);
  EXPECT_EQ(result.config->smtp.auth, AuthMethod::kOAuth2);
  EXPECT_FALSE(result.config->smtp.password.has_value());
  ASSERT_TRUE(result.config->smtp.oauth2.has_value());
  EXPECT_EQ(result.config->smtp.oauth2->mechanism, OAuth2Mechanism::kOAuthBearer);
  ASSERT_TRUE(result.config->smtp.oauth2->refresh_token.has_value());
  EXPECT_EQ(result.config->smtp.oauth2->refresh_token->reveal(), kReplyKey);

  // The token is some account's: without a user name there is nobody to send as.
  result = Load(ConfigText(4, 1, "smtp: {host: smtp.office365.com, auth: oauth2, " + oauth2 + tail));
  EXPECT_EQ(Joined(result.diagnostics),
            "test.yaml:4:34: error: auth: oauth2 needs 'username' in smtp (the account of the token)");
}

TEST_F(ConfigTest, OAuth2MistakesArePlacedAndNoSecretIsShown) {
  const std::string imap = "    imap: {host: imap.example.com, username: u, ";
  struct Case {
    std::string text;
    std::string expected;
  } cases[] = {
      {imap + "auth: oauth2, password_env: MFTEST_PASSWORD}",
       "test.yaml:8:11: error: missing required key 'oauth2' in imap\n"
       "test.yaml:8:63: error: password_env: auth: oauth2 uses no password"},
      {imap + "password_env: MFTEST_PASSWORD, oauth2: {}}",
       "test.yaml:8:80: error: oauth2 needs auth: oauth2"},
      {imap + "auth: oauth2, oauth2: {token_url: \"http://login.example.com/token\", client_id: c, "
              "refresh_token_env: MFTEST_PASSWORD}}",
       "test.yaml:8:83: error: token_url: http:// is allowed only to a loopback host; use https://, got "
       "'http://login.example.com/token'"},
      {imap + "auth: oauth2, oauth2: {token_url: \"https://t.example/token\", client_id: c}}",
       "test.yaml:8:71: error: missing required key 'refresh_token_file' or 'refresh_token_env' in oauth2"},
      {imap + "auth: oauth2, oauth2: {token_url: \"https://t.example/token\", client_id: c, grant: "
              "client_credentials, refresh_token_env: MFTEST_PASSWORD}}",
       "test.yaml:8:71: error: missing required key 'client_secret_file' or 'client_secret_env' in oauth2\n"
       "test.yaml:8:151: error: refresh_token_env: grant: client_credentials uses no refresh token"},
      {imap + "auth: token}",
       "test.yaml:8:11: error: missing required key 'password_file' or 'password_env' in imap\n"
       "test.yaml:8:55: error: auth: unknown value 'token'; expected one of: password, oauth2"},
  };
  for (const Case& c : cases) {
    LoadResult result = Load(ConfigText(8, 1, c.text));
    EXPECT_FALSE(result.ok()) << c.text;
    EXPECT_EQ(Joined(result.diagnostics), c.expected) << c.text;
    EXPECT_EQ(Joined(result.diagnostics).find(kPassword), std::string::npos);
  }
}

}  // namespace
}  // namespace config
