// What the MailboxWorker integration tests (daemon/*_itest.cc) share: test
// mail, the coordinates of the test servers, and a fixture that gives each
// test a scratch database, worker options and IMAP helpers. Test-only; linked
// by the tests as mf_daemon_testing.
//
// Thread-safety: a WorkerTest's helpers may be called from the test's thread
// while workers run on others (each helper opens its own connections).
#ifndef MAILFORUM_DAEMON_WORKER_ITEST_SUPPORT_H_
#define MAILFORUM_DAEMON_WORKER_ITEST_SUPPORT_H_

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "daemon/mailbox_worker.h"
#include "mail/imap_session.h"
#include "tests/support/test_env.h"

namespace mailforumd::itest {

// The reply-token key and address template of every worker that Options() makes.
inline constexpr char kReplyKey[] = "worker-itest-reply-key-0123456789abcdef";
inline constexpr char kReplyTemplate[] = "help+{token}@example.com";

// `prefix` followed by a random number: a Dovecot user of its own (the test
// servers give any new user name a fresh, empty Maildir) or a mailbox name.
std::string UniqueName(const std::string& prefix);

// The header fields From, To, Subject, Message-ID (`message_id` without angle
// brackets), a fixed Date and MIME-Version, then `extra_headers` (complete
// CRLF-terminated lines): a message's head up to its Content-Type.
std::string MailHeaders(const std::string& from, const std::string& to, const std::string& subject,
                        const std::string& message_id, const std::string& extra_headers = "");

// A plain-text UTF-8 message from `from` to help@example.com with CRLF line
// ends. `extra_headers` (complete CRLF-terminated lines) go before Content-Type.
std::string Mail(const std::string& from, const std::string& subject, const std::string& message_id,
                 const std::string& body, const std::string& extra_headers = "");

// What the worker tests need of the servers that scripts/testenv/start runs.
struct Servers {
  std::string admin_dsn;      // MAILFORUM_TEST_PG_DSN: superuser, database "postgres"
  uint16_t imaps_port = 0;    // MAILFORUM_TEST_IMAPS_PORT: implicit TLS
  std::string imap_password;  // MAILFORUM_TEST_IMAP_PASSWORD: any user name logs in with it
  std::string ca_file;        // MAILFORUM_TEST_CA_FILE
  std::string imap_home;      // MAILFORUM_TEST_IMAP_HOME: Dovecot's home root
};

// The Servers of a `scripts/testenv/start DIR`, from its DIR/env file.
// Errors: kConfig when the file cannot be read or lacks a variable.
base::Result<Servers> ServersFromEnvFile(const std::string& path);

// Base of the worker tests' fixtures. By default SetUp() readies a scratch
// database named after `db_prefix` on the shared test servers (skipped
// outside scripts/test, failed under it when they are missing); a fixture
// that needs more, or servers of its own, overrides SetUp() and calls Init()
// itself. Init() must succeed before the helpers are used.
class WorkerTest : public ::testing::Test {
 protected:
  explicit WorkerTest(std::string db_prefix = "worker") : db_prefix_(std::move(db_prefix)) {}

  // SIGPIPE ignored (libetpan writes without MSG_NOSIGNAL), as mailforumd's main() does.
  static void SetUpTestSuite();
  void SetUp() override;

  // A fresh, migrated scratch database named after `db_prefix`, with the
  // categories "general" and "it", on `servers`.
  base::Status Init(const Servers& servers, const std::string& db_prefix);

  // A worker of `mailbox` reading Dovecot user `user`'s INBOX, moving
  // processed mail to "Processed", with the rules "it" (subject matches
  // \bvpn\b, category it) and "rest" (category general), reply tokens under
  // kReplyKey, and small batches (7), so that even small tests take several.
  WorkerOptions Options(const std::string& mailbox, const std::string& user) const;

  // A logged-in session as `user`; null (and a test failure) when it cannot connect.
  std::unique_ptr<mail::ImapSession> Imap(const std::string& user) const;

  // Appends `messages`, in order, to `folder` of `user`; a failure fails the test.
  void Append(const std::string& user, const std::vector<std::string>& messages,
              const std::string& folder = "INBOX") const;

  // The number of messages in `folder` of `user`; 9999 when it cannot be selected.
  uint32_t Count(const std::string& user, const std::string& folder) const;

  // The first column of the first row of `sql` on the scratch database ("" and a test failure on error).
  std::string Scalar(const std::string& sql) const;

  // Polls `sql` every 20 ms until its value is `expected` or `timeout` passes; true when it was.
  // A failing query counts as "not yet" (the database may be restarting).
  bool WaitForScalar(const std::string& sql, const std::string& expected,
                     std::chrono::milliseconds timeout) const;

  const std::string db_prefix_;
  Servers servers_;
  std::string dsn_;         // the scratch database
  mail::ImapOptions imap_;  // Dovecot over implicit TLS, without a user name
};

}  // namespace mailforumd::itest

// Declares mailforumd::itest::Servers `var` from the MAILFORUM_TEST_*
// variables of the shared test servers, or ends the test as
// MAILFORUM_REQUIRE_SERVER does (skipped outside scripts/test, failed under it).
// clang-format off
#define MAILFORUM_REQUIRE_WORKER_SERVERS(var)                                                     \
  MAILFORUM_REQUIRE_SERVER(mf_admin_dsn_, "MAILFORUM_TEST_PG_DSN");                               \
  MAILFORUM_REQUIRE_SERVER(mf_imaps_port_, "MAILFORUM_TEST_IMAPS_PORT");                          \
  MAILFORUM_REQUIRE_SERVER(mf_imap_password_, "MAILFORUM_TEST_IMAP_PASSWORD");                    \
  MAILFORUM_REQUIRE_SERVER(mf_ca_file_, "MAILFORUM_TEST_CA_FILE");                                \
  MAILFORUM_REQUIRE_SERVER(mf_imap_home_, "MAILFORUM_TEST_IMAP_HOME");                            \
  const ::mailforumd::itest::Servers var{mf_admin_dsn_, static_cast<uint16_t>(std::stoi(mf_imaps_port_)), \
                                         mf_imap_password_, mf_ca_file_, mf_imap_home_}
// clang-format on

#endif  // MAILFORUM_DAEMON_WORKER_ITEST_SUPPORT_H_
