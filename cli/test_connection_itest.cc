// mailforumctl test-connection against the real servers (issue 11 item 6):
// the example configuration pointed at the test PostgreSQL, Dovecot and SMTP
// sink passes every check (exit 0); an unmigrated database, a wrong IMAP
// password, a missing folder and a closed SMTP port each print FAILED with
// the server's answer and a fix, and exit 1; no secret ever appears in the
// output.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cli/test_config.h"
#include "forum/scratch_database.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return 0;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

// Replaces the first `from` in the file at `path`.
void Edit(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = mftest::ReadFile(path);
  const auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from;
  text.replace(at, from.size(), to);
  mftest::WriteFile(path, text, 0644);
}

class TestConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
    MAILFORUM_REQUIRE_SERVER(smtp_password, "MAILFORUM_TEST_SMTP_PASSWORD");
    MAILFORUM_REQUIRE_SERVER(imap_password, "MAILFORUM_TEST_IMAP_PASSWORD");
    auto db = forum::CreateScratchDatabase(admin, "testconn");
    ASSERT_TRUE(db) << db.error().message;
    dsn_ = *db;
    dir_ = mftest::MakeTempDir("mftestconn");
    config_ = mftest::InstallExampleConfig(dir_, dsn_);
    ASSERT_TRUE(mftest::PointAtTestServers(config_));
    mftest::WriteFile(dir_ + "/smtp.pass", smtp_password + "\n");
    secrets_ = {smtp_password, imap_password, mftest::ReadFile(dir_ + "/reply.key")};
    secrets_.back().pop_back();  // its newline
    // The database password is in the DSN ("password=..."), which must not be printed either.
    const auto at = dsn_.find("password=");
    ASSERT_NE(at, std::string::npos) << "the test DSN has a password";
    secrets_.push_back(dsn_.substr(at + 9, dsn_.find(' ', at) - at - 9));
  }

  // Runs test-connection; checks that no secret is in its output.
  mftest::CommandResult Run(const std::string& args = "") {
    auto r = mftest::RunCommand(std::string(MAILFORUMCTL_PATH) + " test-connection -c " +
                                mftest::ShellQuote(config_) + args);
    for (const std::string& secret : secrets_) {
      EXPECT_FALSE(secret.empty());
      EXPECT_FALSE(Contains(r.output, secret)) << "a secret in the output:\n" << r.output;
    }
    std::printf("$ mailforumctl test-connection%s (exit %d)\n%s", args.c_str(), r.exit_code,
                r.output.c_str());
    return r;
  }

  std::string dsn_;
  std::string dir_;
  std::string config_;
  std::vector<std::string> secrets_;
};

TEST_F(TestConnectionTest, EveryCheckOkOnTheTestServersAndEachFailureSaysWhatToFix) {
  // Before `migrate`: the schema is missing.
  auto r = Run();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "database: FAILED: schema version 0, this build needs ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "  fix: run `mailforumctl migrate -c FILE`")) << r.output;

  auto migrated =
      mftest::RunCommand(std::string(MAILFORUMCTL_PATH) + " migrate -c " + mftest::ShellQuote(config_));
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  r = Run();
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* line :
       {"database: ok: connected; schema version ", "mailbox help: imap localhost:",
        ": ok: TLS, certificate verified, logged in as help@example.com", "mailbox help: IDLE: ok: offered",
        "mailbox help: MOVE: ok: offered", "mailbox help: folder INBOX: ok: exists",
        "mailbox help: after folder Processed: ok:", "mailbox help: quarantine folder Quarantine: ok:",
        ": ok: STARTTLS, certificate verified, logged in as help@example.com",
        "RCPT TO:<help@example.com>: ok: accepted (no DATA sent; RSET)"}) {
    EXPECT_TRUE(Contains(r.output, line)) << "missing: " << line << "\n" << r.output;
  }
  EXPECT_FALSE(Contains(r.output, "FAILED")) << r.output;
  // --mailbox: only that mailbox; an unknown one is a usage error.
  EXPECT_EQ(Run(" --mailbox help").exit_code, 0);
  r = Run(" --mailbox nosuch");
  EXPECT_EQ(r.exit_code, 64) << r.output;
  EXPECT_TRUE(Contains(r.output, "no mailbox named 'nosuch'")) << r.output;

  // A wrong IMAP password.
  const std::string imap_pass = mftest::ReadFile(dir_ + "/imap.pass");
  mftest::WriteFile(dir_ + "/imap.pass", "not-the-password\n");
  r = Run();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "mailbox help: imap localhost:")) << r.output;
  EXPECT_TRUE(Contains(r.output, ": FAILED: ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "  fix: check imap.username and the password in imap.password_file"))
      << r.output;
  EXPECT_TRUE(Contains(r.output, "database: ok")) << "the other checks still run\n" << r.output;
  mftest::WriteFile(dir_ + "/imap.pass", imap_pass);

  // A folder that does not exist.
  Edit(config_, "folder: INBOX", "folder: NoSuchFolder");
  r = Run();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "mailbox help: folder NoSuchFolder: FAILED: ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "  fix: create the folder on the server, or set imap.folder")) << r.output;
  Edit(config_, "folder: NoSuchFolder", "folder: INBOX");

  // Nothing listens on the SMTP port.
  const int closed = ClosedPort();
  ASSERT_GT(closed, 0);
  Edit(config_, "port: " + *mftest::ServerEnv("MAILFORUM_TEST_SMTP_PORT"), "port: " + std::to_string(closed));
  r = Run();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "smtp localhost:" + std::to_string(closed) + ": FAILED: ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "  fix: check smtp.host, smtp.port and smtp.tls")) << r.output;
  EXPECT_TRUE(Contains(r.output, "mailbox help: folder INBOX: ok")) << r.output;
}

}  // namespace
