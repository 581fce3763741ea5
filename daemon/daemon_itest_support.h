// What the integration tests that run the real mailforumd binaries share
// (daemon/crash_itest.cc, daemon/hostile_mail_itest.cc, daemon/web_itest.cc,
// daemon/unsubscribe_itest.cc, ...): a scratch database, a Dovecot user of its
// own and a configuration file, a way to start the binaries (and the test-hook
// build of the daemon) and to stop them, and waits for a database event or for
// the web's port in a log. Test-only and header-only: the including test
// defines MAILFORUMCTL_PATH and MAILFORUMD_TESTING_PATH (daemon/CMakeLists.txt).
#ifndef MAILFORUM_DAEMON_DAEMON_ITEST_SUPPORT_H_
#define MAILFORUM_DAEMON_DAEMON_ITEST_SUPPORT_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "forum/scratch_database.h"
#include "mail/imap_session.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace mftest {

// A scratch database, a fresh Dovecot user and a configuration for one mailbox "crash".
struct DaemonSetup {
  // What Make() writes into the configuration (set before calling it).
  std::string base_url = "http://127.0.0.1:8080";                          // instance.base_url
  std::string categories = "[{slug: general, name: General}]";             // categories
  std::string rules = "[{name: all, action: thread, category: general}]";  // the mailbox's rules
  bool acknowledge = false;                                                // the mailbox's acknowledge

  std::string dsn;
  mail::ImapOptions imap;
  std::string dir;
  std::string config;

  // Sets everything up; false (with a gtest failure) when a server is missing or a step fails.
  // `extra_yaml` is appended to the configuration (e.g. a `limits:` section of its own).
  bool Make(const std::string& name, const std::string& extra_yaml = "limits: {new_threads_per_sender_per_hour: 100000}\n") {
    const char* admin = std::getenv("MAILFORUM_TEST_PG_DSN");
    const char* port = std::getenv("MAILFORUM_TEST_IMAPS_PORT");
    const char* password = std::getenv("MAILFORUM_TEST_IMAP_PASSWORD");
    const char* ca = std::getenv("MAILFORUM_TEST_CA_FILE");
    const char* smtp_port = std::getenv("MAILFORUM_TEST_SMTP_PORT");
    if (!admin || !port || !password || !ca || !smtp_port) {
      ADD_FAILURE() << "the test servers are not running (see scripts/testenv/start)";
      return false;
    }
    auto db = forum::CreateScratchDatabase(admin, name);
    if (!db) {
      ADD_FAILURE() << db.error().message;
      return false;
    }
    dsn = *db;
    std::random_device rd;
    imap.host = "localhost";
    imap.port = static_cast<uint16_t>(std::stoi(port));
    imap.ca_file = ca;
    imap.username = name + std::to_string(rd() % 100000000);
    imap.password = password;
    dir = mftest::MakeTempDir("mf" + name);
    mftest::WriteFile(dir + "/db.dsn", dsn + "\n");
    mftest::WriteFile(dir + "/imap.pass", std::string(password) + "\n");
    mftest::WriteFile(dir + "/reply.key", "crash-test-reply-key-of-at-least-32-bytes\n");
    config = dir + "/mailforum.yaml";
    mftest::WriteFile(config,
                      "instance: {name: Crash, base_url: '" + base_url + "', domain: crash.example}\n"
                      "database: {dsn_file: db.dsn}\n"
                      "secrets: {reply_key_file: reply.key}\n"
                      "smtp: {host: localhost, port: " + std::string(smtp_port) + ", tls: starttls, ca_file: " + ca +
                          ", from: 'Crash <help@crash.example>', reply_to: 'help+{token}@crash.example'}\n"
                          "categories: " + categories + "\n"
                          "mailboxes:\n"
                          "  - name: crash\n"
                          "    imap: {host: localhost, port: " + port + ", tls: implicit, ca_file: " + ca +
                          ", username: " + imap.username + ", password_file: imap.pass, poll_interval: 1s}\n"
                          "    after: {action: move, folder: Processed}\n"
                          "    acknowledge: " + (acknowledge ? "true" : "false") + "\n"
                          "    rules: " + rules + "\n" +
                          extra_yaml,
                      0644);
    auto migrated = mftest::RunCommand(std::string(MAILFORUMCTL_PATH) + " migrate -c " + mftest::ShellQuote(config));
    EXPECT_EQ(migrated.exit_code, 0) << migrated.output;
    return migrated.exit_code == 0;
  }

  // How many messages `folder` of the test user's mailbox holds (a failed IMAP step fails the test).
  uint32_t Count(const std::string& folder) const {
    auto session = mail::ImapSession::Connect(imap);
    EXPECT_TRUE(session) << (session ? "" : session.error().message);
    if (!session) return UINT32_MAX;
    auto selected = (*session)->Select(folder);
    EXPECT_TRUE(selected) << folder << ": " << (selected ? "" : selected.error().message);
    return selected ? selected->exists : UINT32_MAX;
  }

  std::string Query(const std::string& sql) const {
    auto r = forum::QueryScalar(dsn, sql);
    EXPECT_TRUE(r) << sql << ": " << (r ? "" : r.error().message);
    return r ? *r : "";
  }
};

// Starts `program` with `args` (argv[1]...), stdin from /dev/null and its output appended to `log`; with a
// non-empty `hang_on`, MAILFORUM_TEST_HANG_ON is set to it (mailforumd_testing then hangs before deciding any
// message that contains it). Returns the child's pid (the caller waits for it).
inline pid_t SpawnDaemon(const char* program, const std::vector<std::string>& args, const std::string& log,
                         const std::string& hang_on = "") {
  std::vector<std::pair<std::string, std::string>> env;
  if (!hang_on.empty()) env.emplace_back("MAILFORUM_TEST_HANG_ON", hang_on);
  return Spawn(program, args, log, env);
}

// Starts mailforumd_testing on `config`, its output appended to `log`; it hangs before deciding any message
// that contains `hang_on`.
inline pid_t StartTestingDaemon(const std::string& config, const std::string& log, const std::string& hang_on) {
  return SpawnDaemon(MAILFORUMD_TESTING_PATH, {"-c", config}, log, hang_on);
}

// The file's content so far ("" before the child created it).
inline std::string LogText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The port in the log's "web: listening on http://127.0.0.1:PORT" line (waits up to 60 s: an event).
inline std::optional<uint16_t> WaitForListening(const std::string& log) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const std::string marker = "web: listening on http://127.0.0.1:";
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string text = LogText(log);
    if (auto at = text.find(marker); at != std::string::npos) {
      return static_cast<uint16_t>(std::stoi(text.substr(at + marker.size())));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

// A spawned binary (SpawnDaemon) that is killed when a failed assertion leaves the test early.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

// SIGTERM, then the exit code (waits up to 30 s; -1 when it did not exit, and then kills it).
inline int Terminate(Child& child) {
  const pid_t pid = child.pid;
  child.pid = -1;
  kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// Waits until `sql` answers `want` (polling the database: an event, not a fixed time); false after 120 s.
inline bool WaitForRow(const DaemonSetup& setup, const std::string& sql, const std::string& want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = forum::QueryScalar(setup.dsn, sql);
    if (r && *r == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace mftest

#endif  // MAILFORUM_DAEMON_DAEMON_ITEST_SUPPORT_H_
