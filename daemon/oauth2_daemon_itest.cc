// Issue 11 item 5's acceptance: mailforumd with an OAuth2 mailbox ("tok")
// beside a password mailbox ("crash") in one daemon, on the real Dovecot of
// scripts/testenv, whose oauth2 passdb asks the test endpoint
// (scripts/testenv/oauth2_server.py). The OAuth2 mailbox ingests mail; when
// its access tokens are dead at the endpoint and Dovecot drops its connection
// it logs in again with a new token without losing mail;
// once its refresh token is revoked it alone fails — logged, the endpoint's
// error kept as its last error in mailbox_state, its mail left in INBOX —
// while the password mailbox goes on posting.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/daemon_itest_support.h"

namespace {

using mftest::ShellQuote;

std::string Question(const std::string& id) {
  return "From: asker@example.com\r\nTo: help@example.com\r\nSubject: Question " + id + "\r\nMessage-ID: <" +
         id + "@client>\r\nDate: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\nWhat about " + id + "?\r\n";
}

// A form POST (or, without a form, a GET) to the test endpoint's control API; its JSON answer.
nlohmann::json Control(const std::string& url, const std::string& path, const std::string& form = "") {
  auto r = mftest::RunCommand(
      "python3 -c " +
      ShellQuote("import sys, urllib.request; d = sys.argv[2].encode() if len(sys.argv) > 2 else None; "
                 "print(urllib.request.urlopen(sys.argv[1], data=d).read().decode())") +
      " " + ShellQuote(url + path) + (form.empty() ? "" : " " + ShellQuote(form)));
  EXPECT_EQ(r.exit_code, 0) << path << ": " << r.output;
  return nlohmann::json::parse(r.output, nullptr, false);
}

int Issued(const std::string& url, const std::string& user) {
  nlohmann::json stats = Control(url, "/control/stats?user=" + user);
  return stats.is_object() ? stats.value("issued", -1) : -1;
}

// Dovecot drops every IMAP connection of `user` (as a server does when a session's token expires).
void Kick(const std::string& test_dir, const std::string& user) {
  auto r = mftest::RunCommand("doveadm -c " + ShellQuote(test_dir + "/dovecot/dovecot.conf") + " kick " +
                              ShellQuote(user));
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

void Deliver(const mail::ImapOptions& imap, const std::string& user, const std::string& id) {
  mail::ImapOptions o = imap;
  o.username = user;
  auto session = mail::ImapSession::Connect(o);
  ASSERT_TRUE(session) << session.error().message;
  ASSERT_TRUE((*session)->Append("INBOX", Question(id)));
}

// Waits until `sql` answers `want` while the daemon `pid` runs: false at once when it has exited (a
// configuration it refused, a crash), after 120 s otherwise.
bool WaitForRowWhileRunning(const mftest::DaemonSetup& setup, pid_t pid, const std::string& sql,
                            const std::string& want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = forum::QueryScalar(setup.dsn, sql);
    if (r && *r == want) return true;
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ADD_FAILURE() << "mailforumd exited (status " << status << ") while waiting for " << want;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(OAuth2DaemonTest, IngestsSurvivesTokenExpiryAndARevokedGrantFailsOnlyThatMailbox) {
  MAILFORUM_REQUIRE_SERVER(url, "MAILFORUM_TEST_OAUTH2_URL");
  MAILFORUM_REQUIRE_SERVER(client_secret, "MAILFORUM_TEST_OAUTH2_CLIENT_SECRET");
  MAILFORUM_REQUIRE_SERVER(test_dir, "MAILFORUM_TEST_DIR");
  mftest::DaemonSetup setup;
  ASSERT_TRUE(setup.Make("oauthd"));
  const std::string token_user = setup.imap.username + "tok";
  // The user's consent, once: a refresh token whose access tokens live 60 s. Not less: Dovecot delays a
  // login from an address that failed recently (its auth penalty, up to 15 s, and other tests fail logins
  // from 127.0.0.1), and asks the endpoint about the token only after that delay; a token of 2 s could be
  // dead by then (it was, in a CI run of session 11). The test ends tokens itself, with /control/expire.
  const std::string refresh_token =
      Control(url, "/control/grant", "user=" + token_user + "&lifetime=60").value("refresh_token", "");
  ASSERT_FALSE(refresh_token.empty());
  mftest::WriteFile(setup.dir + "/oauth.secret", client_secret + "\n");
  mftest::WriteFile(setup.dir + "/oauth.refresh", refresh_token + "\n");
  // The second mailbox goes into the mailboxes list, before the sections DaemonSetup::Make appends after it
  // (appending it at the end of the file put it under `limits:`, where the daemon refused the file).
  std::string yaml = mftest::ReadFile(setup.config);
  const size_t limits = yaml.find("\nlimits:");
  ASSERT_NE(limits, std::string::npos) << yaml;
  yaml.insert(limits + 1,
              "  - name: tok\n    imap: {host: localhost, port: " + std::to_string(setup.imap.port) +
                  ", tls: implicit, ca_file: " + setup.imap.ca_file + ", username: " + token_user +
                  ", auth: oauth2, oauth2: {token_url: '" + url +
                  "/token', client_id: mailforum-test, client_secret_file: oauth.secret, "
                  "refresh_token_file: oauth.refresh, scope: imap}, poll_interval: 1s}\n"
                  "    after: {action: move, folder: Processed}\n"
                  "    acknowledge: false\n"
                  "    rules: [{name: all, action: thread, category: general}]\n");
  mftest::WriteFile(setup.config, yaml, 0644);
  mftest::DaemonSetup token_box = setup;  // the OAuth2 user's mailbox, read with the shared test password
  token_box.imap.username = token_user;
  const std::string log = setup.dir + "/daemon.log";
  const std::string posted =
      "SELECT string_agg(mailbox || ':' || count, ',' ORDER BY mailbox) FROM "
      "(SELECT mailbox, count(*) FROM inbound_messages WHERE outcome = 'posted' "
      "GROUP BY mailbox) c";

  const pid_t pid = mftest::SpawnDaemon(MAILFORUMD_PATH, {"-c", setup.config}, log);
  Deliver(setup.imap, setup.imap.username, "pw-1");
  Deliver(setup.imap, token_user, "tok-1");
  ASSERT_TRUE(WaitForRowWhileRunning(setup, pid, posted, "crash:1,tok:1")) << mftest::ReadFile(log);

  // Expiry: every access token of the user is dead at the endpoint, and Dovecot drops the session that
  // logged in with one. The mailbox must log in again with a new token and ingest what came meanwhile.
  const int issued = Issued(url, token_user);
  Control(url, "/control/expire", "user=" + token_user);
  Kick(test_dir, token_user);
  Deliver(setup.imap, token_user, "tok-2");
  ASSERT_TRUE(WaitForRowWhileRunning(setup, pid, posted, "crash:1,tok:2")) << mftest::ReadFile(log);
  EXPECT_GT(Issued(url, token_user), issued) << "no new access token after the expiry";
  EXPECT_EQ(token_box.Count("INBOX"), 0u);
  EXPECT_EQ(token_box.Count("Processed"), 2u);

  // The user withdraws consent: the refresh token (and its rotated successors) and its access tokens stop
  // working. In the same daemon, the OAuth2 mailbox fails and keeps its mail; the password mailbox posts.
  Control(url, "/control/revoke", "user=" + token_user);
  Control(url, "/control/expire", "user=" + token_user);
  Kick(test_dir, token_user);
  Deliver(setup.imap, token_user, "tok-3");
  Deliver(setup.imap, setup.imap.username, "pw-2");
  EXPECT_TRUE(WaitForRowWhileRunning(
      setup, pid,
      "SELECT last_error LIKE '%invalid_grant (the refresh token is revoked or unknown)%' "
      "FROM mailbox_state WHERE mailbox = 'tok'",
      "t"))
      << mftest::ReadFile(log);
  EXPECT_TRUE(WaitForRowWhileRunning(setup, pid, posted, "crash:2,tok:2")) << mftest::ReadFile(log);
  EXPECT_EQ(token_box.Count("INBOX"), 1u) << "the OAuth2 mailbox's mail must wait in INBOX";
  EXPECT_EQ(setup.Query("SELECT coalesce(last_error, '') FROM mailbox_state WHERE mailbox = 'crash'"), "");

  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const std::string output = mftest::ReadFile(log);
  EXPECT_NE(output.find("mailbox tok"), std::string::npos) << output;
  EXPECT_NE(output.find("invalid_grant"), std::string::npos) << output;
  EXPECT_EQ(output.find(refresh_token), std::string::npos) << "a secret in the log";
  EXPECT_EQ(output.find(client_secret), std::string::npos) << "a secret in the log";
}

}  // namespace
