// SIGHUP reloads per mailbox (issue 11 item 2's acceptance), with the real
// daemon on real Dovecot and PostgreSQL: two mailboxes, "keep" and
// "change"; the reload changes one connection setting of "change" and adds
// a rule to "keep". Proved from the outside: "keep"'s IMAP connection is the
// same TCP connection after the reload (its client port, read from
// /proc/PID/fd and /proc/net/tcp, and Dovecot's count of its logins), while
// "change" logs in again on a new one; the new rule decides "keep"'s next
// message. A broken file is then reported with file:line:col and changes
// nothing: the same connections, mail still flows. Every wait is for an
// event (a row, a log line), bounded.
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "daemon/daemon_itest_support.h"

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// The remote-port-`port` TCP connections of process `pid`, as their local ports
// (its sockets' inodes from /proc/PID/fd, matched in /proc/PID/net/tcp and tcp6).
std::set<int> ConnectionsTo(pid_t pid, int port) {
  std::set<std::string> inodes;
  const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
  if (DIR* d = opendir(fd_dir.c_str())) {
    while (dirent* e = readdir(d)) {
      char target[256];
      const ssize_t n = readlink((fd_dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      const std::string t(target, static_cast<size_t>(n));
      if (t.rfind("socket:[", 0) == 0) inodes.insert(t.substr(8, t.size() - 9));
    }
    closedir(d);
  }
  std::set<int> local_ports;
  for (const char* table : {"tcp", "tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
      if (state != "01" || inodes.count(inode) == 0) continue;  // 01: ESTABLISHED
      const int remote_port = std::stoi(remote.substr(remote.find(':') + 1), nullptr, 16);
      if (remote_port == port) local_ports.insert(std::stoi(local.substr(local.find(':') + 1), nullptr, 16));
    }
  }
  return local_ports;
}

// How many times `user` logged in to Dovecot (its log's "Login: user=<user>" lines).
int Logins(const std::string& user) {
  const std::string log =
      mftest::ReadFile(std::string(std::getenv("MAILFORUM_TEST_DIR")) + "/dovecot/dovecot.log");
  const std::string needle = "Login: user=<" + user + ">";
  int n = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
  return n;
}

int Count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Waits until `check` holds (polling: an event, bounded by 60 s).
bool WaitUntil(const std::function<bool()>& check) {
  const auto deadline = steady_clock::now() + std::chrono::seconds(60);
  while (steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return check();
}

std::string Config(const mftest::DaemonSetup& setup, const std::string& change_user,
                   const std::string& keep_rules, const std::string& change_poll) {
  const std::string imap = "host: localhost, port: " + std::to_string(setup.imap.port) +
                           ", tls: implicit, ca_file: " + setup.imap.ca_file + ", password_file: imap.pass";
  return "instance: {name: Reload, base_url: 'http://127.0.0.1:8080', domain: reload.example}\n"
         "database: {dsn_file: db.dsn}\n"
         "secrets: {reply_key_file: reply.key}\n"
         "smtp: {host: localhost, port: " +
         std::string(std::getenv("MAILFORUM_TEST_SMTP_PORT")) +
         ", tls: starttls, ca_file: " + setup.imap.ca_file +
         ", from: 'Reload <help@reload.example>', reply_to: 'help+{token}@reload.example'}\n"
         "categories: [{slug: general, name: General}]\n"
         "limits: {new_threads_per_sender_per_hour: 100000}\n"
         "mailboxes:\n"
         "  - name: keep\n"
         "    imap: {" +
         imap + ", username: " + setup.imap.username +
         ", poll_interval: 1s}\n"
         "    acknowledge: false\n"
         "    rules: " +
         keep_rules +
         "\n"
         "  - name: change\n"
         "    imap: {" +
         imap + ", username: " + change_user + ", poll_interval: " + change_poll +
         "}\n"
         "    acknowledge: false\n"
         "    rules: [{name: all, action: thread, category: general}]\n";
}

std::string Mail(const std::string& id, const std::string& subject) {
  return "From: someone@example.com\r\nTo: help@reload.example\r\nSubject: " + subject + "\r\nMessage-ID: <" +
         id + "@client>\r\n\r\nBody of " + id + ".\r\n";
}

TEST(ReloadTest, AnUntouchedMailboxKeepsItsSessionAChangedOneReconnectsAndABrokenFileChangesNothing) {
  mftest::DaemonSetup setup;
  ASSERT_TRUE(setup.Make("reload"));
  ASSERT_NE(std::getenv("MAILFORUM_TEST_DIR"), nullptr);
  mail::ImapOptions change_imap = setup.imap;
  change_imap.username = "reloadchange" + std::to_string(std::random_device{}() % 100000000);
  const std::string keep_user = setup.imap.username;
  const std::string all = "[{name: all, action: thread, category: general}]";
  mftest::WriteFile(setup.config, Config(setup, change_imap.username, all, "1s"), 0644);
  auto append = [](const mail::ImapOptions& imap, const std::string& raw) {
    auto session = mail::ImapSession::Connect(imap);
    ASSERT_TRUE(session) << session.error().message;
    ASSERT_TRUE((*session)->Append("INBOX", raw));
  };
  auto outcome = [&](const std::string& id) {
    return setup.Query(
        "SELECT coalesce(max(outcome || '/' || coalesce(rule, '')), '') FROM inbound_messages "
        "WHERE message_id = '" +
        id + "@client'");
  };

  const std::string log = setup.dir + "/daemon.log";
  const pid_t pid = mftest::StartTestingDaemon(setup.config, log, "");
  ASSERT_GT(pid, 0);
  int status = -1;
  auto finish = [&] {
    if (status != -1) return status;
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    return status;
  };
  struct Guard {
    std::function<int()> end;
    ~Guard() { end(); }
  } guard{finish};  // a failed ASSERT leaves no daemon behind

  // Both mailboxes work; their connections are up.
  append(setup.imap, Mail("k1", "before"));
  append(change_imap, Mail("c1", "before"));
  ASSERT_TRUE(WaitUntil([&] { return outcome("k1") == "posted/all" && outcome("c1") == "posted/all"; }))
      << mftest::ReadFile(log);
  const int imaps = setup.imap.port;
  std::set<int> before;
  ASSERT_TRUE(WaitUntil([&] { return (before = ConnectionsTo(pid, imaps)).size() == 2; }))
      << "the daemon's IMAP connections: " << ConnectionsTo(pid, imaps).size();
  const int keep_logins = Logins(keep_user);
  const int change_logins = Logins(change_imap.username);
  ASSERT_GE(keep_logins, 1);

  // The reload: "change" polls at another interval (a connection setting); "keep" gets a new first rule.
  mftest::WriteFile(setup.config,
                    Config(setup, change_imap.username,
                           "[{name: hold, match: {subject: '^hold'}, action: ignore}, "
                           "{name: all, action: thread, category: general}]",
                           "2s"),
                    0644);
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] {
    return mftest::ReadFile(log).find("configuration reloaded from") != std::string::npos;
  })) << mftest::ReadFile(log);
  EXPECT_NE(
      mftest::ReadFile(log).find("mailboxes started: none; stopped: none; restarted: change; kept: keep; "
                                 "outbox kept; web kept"),
      std::string::npos)
      << mftest::ReadFile(log);
  // "change" logs in again, on a new connection; "keep" does not.
  ASSERT_TRUE(WaitUntil([&] { return Logins(change_imap.username) > change_logins; }))
      << mftest::ReadFile(log);
  std::set<int> after;
  ASSERT_TRUE(WaitUntil([&] { return (after = ConnectionsTo(pid, imaps)).size() == 2; }));
  std::set<int> kept;
  for (int port : after) {
    if (before.count(port) != 0) kept.insert(port);
  }
  EXPECT_EQ(kept.size(), 1u) << "exactly one connection (keep's) survives the reload";

  // The new rule decides keep's next message (the test's own logins as keep's user are counted).
  append(setup.imap, Mail("k2", "hold this one"));
  append(change_imap, Mail("c2", "after"));
  EXPECT_TRUE(WaitUntil([&] { return outcome("k2") == "ignored/hold" && outcome("c2") == "posted/all"; }))
      << outcome("k2") << " " << outcome("c2") << "\n"
      << mftest::ReadFile(log);
  EXPECT_EQ(Logins(keep_user), keep_logins + 1) << "keep logged in again (only the test's own append counts)";
  EXPECT_EQ(ConnectionsTo(pid, imaps), after);

  // A broken file: reported with file:line:col, the old configuration keeps running on the same connections.
  const std::string good = mftest::ReadFile(setup.config);
  mftest::WriteFile(setup.config, good + "limits: {max_parts: many}\n", 0644);
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] {
    return mftest::ReadFile(log).find("reload failed: keeping the previous configuration") !=
           std::string::npos;
  })) << mftest::ReadFile(log);
  const std::string text = mftest::ReadFile(log);
  EXPECT_NE(text.find(setup.config + ":"), std::string::npos) << text;
  EXPECT_EQ(Count(text, "configuration reloaded from"), 1) << text;
  append(setup.imap, Mail("k3", "hold again"));
  append(change_imap, Mail("c3", "still"));
  EXPECT_TRUE(WaitUntil([&] { return outcome("k3") == "ignored/hold" && outcome("c3") == "posted/all"; }))
      << outcome("k3") << " " << outcome("c3") << "\n"
      << mftest::ReadFile(log);
  EXPECT_EQ(ConnectionsTo(pid, imaps), after);
  EXPECT_EQ(Logins(keep_user), keep_logins + 2);

  finish();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << mftest::ReadFile(log);
}

}  // namespace
