// How integration tests find the real servers that scripts/test starts.
//
// Each server's address comes from a MAILFORUM_TEST_* environment variable
// (scripts/testenv/start writes them all to one env file). Outside the test
// command a missing variable skips the test with a message; under it
// (MAILFORUM_TEST_REQUIRE_SERVERS=1) a missing server is a failure, so CI
// never passes by skipping.
//
// Variables: MAILFORUM_TEST_PG_DSN (superuser, database "postgres"),
// MAILFORUM_TEST_CA_FILE, MAILFORUM_TEST_IMAP_HOST, MAILFORUM_TEST_IMAP_PORT
// (plain + STARTTLS), MAILFORUM_TEST_IMAPS_PORT (implicit TLS),
// MAILFORUM_TEST_IMAP_PASSWORD (any user name logs in with it),
// MAILFORUM_TEST_IMAP_HOME (Dovecot's home root), MAILFORUM_TEST_TRAP_PORT and
// MAILFORUM_TEST_TRAP_LOG (a TLS server whose certificate names another host,
// logging every byte it receives), MAILFORUM_TEST_SMTP_HOST,
// MAILFORUM_TEST_SMTP_PORT (plain + STARTTLS), MAILFORUM_TEST_SMTPS_PORT
// (implicit TLS), MAILFORUM_TEST_SMTP_PASSWORD (AUTH with any user name),
// MAILFORUM_TEST_SMTP_SPOOL (received mail in new/), MAILFORUM_TEST_OAUTH2_URL
// (the OAuth2 test endpoint, scripts/testenv/oauth2_server.py, that Dovecot's
// oauth2 passdb asks), MAILFORUM_TEST_OAUTH2_CLIENT_ID and
// MAILFORUM_TEST_OAUTH2_CLIENT_SECRET (its public test client).
#ifndef MAILFORUM_TESTS_SUPPORT_TEST_ENV_H_
#define MAILFORUM_TESTS_SUPPORT_TEST_ENV_H_

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace mftest {

// The variable's value, or nullopt when it is unset or empty.
std::optional<std::string> ServerEnv(const char* name);

// True under scripts/test: missing servers are failures, not skips.
bool ServersRequired();

// Root of the source tree (for test data), from MAILFORUM_SOURCE_DIR.
std::string SourceDir();

// A fresh, empty, private directory under $TMPDIR; removed when the test program ends
// (kept when MAILFORUM_KEEP_TEST_DIRS is set).
std::string MakeTempDir(const std::string& prefix);

}  // namespace mftest

// Declares std::string `var` holding the environment variable `name`, or ends
// the current test: skipped outside scripts/test, failed under it.
#define MAILFORUM_REQUIRE_SERVER(var, name)                                                        \
  std::string var;                                                                                 \
  if (auto mf_value_ = ::mftest::ServerEnv(name)) {                                                \
    var = *mf_value_;                                                                              \
  } else if (::mftest::ServersRequired()) {                                                        \
    FAIL() << name << " is not set: the test servers are missing (run scripts/test)";              \
  } else {                                                                                         \
    GTEST_SKIP() << name << " is not set; run scripts/test to start the test servers";            \
  }

#endif  // MAILFORUM_TESTS_SUPPORT_TEST_ENV_H_
