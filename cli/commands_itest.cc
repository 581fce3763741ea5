// mailforumctl and mailforumd as an operator runs them: the real binaries,
// the example configuration, and the real PostgreSQL of scripts/test.
#include <gtest/gtest.h>

#include <string>

#include "cli/test_config.h"
#include "forum/migrations.h"
#include "forum/scratch_database.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace {

using mftest::InstallExampleConfig;
using mftest::RunCommand;
using mftest::ShellQuote;

constexpr int kExitConfig = 78;

std::string Ctl(const std::string& args) { return std::string(MAILFORUMCTL_PATH) + " " + args; }
std::string Daemon(const std::string& args) { return std::string(MAILFORUMD_PATH) + " " + args; }

TEST(CheckConfigTest, ExampleConfigurationIsValidOnceItsSecretFilesExist) {
  const std::string dir = mftest::MakeTempDir("mfctl");
  const std::string path = InstallExampleConfig(dir, "host=127.0.0.1 dbname=x");
  auto r = RunCommand(Ctl("check-config -c " + ShellQuote(path)));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(CheckConfigTest, ErrorsExit78WithFileLineColumn) {
  const std::string dir = mftest::MakeTempDir("mfctl");
  const std::string path = dir + "/bad.yaml";
  mftest::WriteFile(path, "instance:\n  domian: example.com\n", 0644);
  auto r = RunCommand(Ctl("check-config -c " + ShellQuote(path)));
  EXPECT_EQ(r.exit_code, kExitConfig) << r.output;
  EXPECT_NE(r.output.find(path + ":2:3: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("domain"), std::string::npos) << r.output;  // the suggestion
}

TEST(CheckConfigTest, MissingFileExit78) {
  auto r = RunCommand(Ctl("check-config -c /nonexistent/mailforum.yaml"));
  EXPECT_EQ(r.exit_code, kExitConfig) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/mailforum.yaml"), std::string::npos) << r.output;
}

TEST(CliUsageTest, UnknownCommandIsAUsageError) {
  auto r = RunCommand(Ctl("frobnicate"));
  EXPECT_EQ(r.exit_code, 64) << r.output;
  auto d = RunCommand(Daemon(""));
  EXPECT_EQ(d.exit_code, 64) << d.output;
}

class MigrateAndStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
    auto dsn = forum::CreateScratchDatabase(admin, "cli");
    ASSERT_TRUE(dsn) << dsn.error().message;
    dsn_ = *dsn;
    dir_ = mftest::MakeTempDir("mfctl");
    config_ = InstallExampleConfig(dir_, dsn_);
    ASSERT_TRUE(mftest::PointAtTestServers(config_)) << "the test IMAP and SMTP servers are missing";
  }
  std::string dsn_, dir_, config_;
};

TEST_F(MigrateAndStartTest, DaemonRefusesUnmigratedDatabaseThenStartsAfterMigrate) {
  auto refused = RunCommand(Daemon("--once -c " + ShellQuote(config_)));
  EXPECT_EQ(refused.exit_code, kExitConfig) << refused.output;
  EXPECT_NE(refused.output.find("mailforumctl migrate"), std::string::npos) << refused.output;

  auto migrated = RunCommand(Ctl("migrate -c " + ShellQuote(config_)));
  ASSERT_EQ(migrated.exit_code, 0) << migrated.output;
  EXPECT_NE(migrated.output.find("applied migration 0001"), std::string::npos) << migrated.output;
  auto again = RunCommand(Ctl("migrate -c " + ShellQuote(config_)));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(again.output.find("applied migration"), std::string::npos) << again.output;

  auto started = RunCommand(Daemon("--once -c " + ShellQuote(config_)));
  EXPECT_EQ(started.exit_code, 0) << started.output;
  // The daemon synchronised the example's categories into the database.
  auto count = forum::QueryScalar(dsn_, "SELECT count(*) FROM categories");
  ASSERT_TRUE(count);
  EXPECT_NE(*count, "0");
  // The DSN (it holds the database password) never appears in any output.
  const std::string password = dsn_.substr(dsn_.find("password=") + 9, 8);
  for (const auto* out : {&refused.output, &migrated.output, &started.output}) {
    EXPECT_EQ(out->find(password), std::string::npos) << *out;
  }
}

TEST_F(MigrateAndStartTest, DaemonRefusesNewerSchema) {
  ASSERT_EQ(RunCommand(Ctl("migrate -c " + ShellQuote(config_))).exit_code, 0);
  ASSERT_TRUE(forum::QueryScalar(dsn_, "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')"));
  auto refused = RunCommand(Daemon("--once -c " + ShellQuote(config_)));
  EXPECT_EQ(refused.exit_code, kExitConfig) << refused.output;
  EXPECT_NE(refused.output.find("newer"), std::string::npos) << refused.output;
  auto migrate = RunCommand(Ctl("migrate -c " + ShellQuote(config_)));
  EXPECT_EQ(migrate.exit_code, kExitConfig) << migrate.output;
}

TEST_F(MigrateAndStartTest, DaemonStopsCleanlyOnSigterm) {
  ASSERT_EQ(RunCommand(Ctl("migrate -c " + ShellQuote(config_))).exit_code, 0);
  const std::string log = ShellQuote(dir_ + "/daemon.log");
  // Start it in the background, wait until it is up (up to 60 s: ctest runs tests side by side on a busy
  // machine), SIGTERM it by its pid, report its exit status.
  auto r = RunCommand(Daemon("-c " + ShellQuote(config_)) + " >" + log + " 2>&1 & pid=$!; " +
                      "for i in $(seq 1 600); do grep -q 'mailforumd started' " + log +
                      " && break; sleep 0.1; done; kill -TERM $pid; wait $pid; echo \"rc=$?\"");
  EXPECT_NE(r.output.find("rc=0"), std::string::npos) << r.output;
  const std::string daemon_log = mftest::ReadFile(dir_ + "/daemon.log");
  EXPECT_NE(daemon_log.find("stopping on SIGTERM"), std::string::npos) << daemon_log;
}

}  // namespace

namespace {

TEST(ParseCommandTest, PrintsTheMessageAsJson) {
  const std::string eml = mftest::SourceDir() + "/tests/corpus/talon/tests/fixtures/standard_replies/gmail.eml";
  auto r = RunCommand(Ctl("parse " + ShellQuote(eml)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const char* key : {"\"message_id\"", "\"from\"", "\"subject\"", "\"trimmed\"", "\"elided\"",
                          "\"attachments\"", "\"classification\"", "\"kind\": \"normal\""}) {
    EXPECT_NE(r.output.find(key), std::string::npos) << key << " missing in\n" << r.output;
  }
}

TEST(ParseCommandTest, BounceListsFailedRecipients) {
  const std::string eml =
      mftest::SourceDir() + "/tests/corpus/sisimai/set-of-emails/maildir/bsd/lhost-postfix-04.eml";
  auto r = RunCommand(Ctl("parse " + ShellQuote(eml)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"kind\": \"bounce\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"failed_recipients\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"bounce\": \"hard\""), std::string::npos) << r.output;
}

TEST(ParseCommandTest, AFileThatIsNotMailIsAClearError) {
  const std::string dir = mftest::MakeTempDir("mfparse");
  mftest::WriteFile(dir + "/not.eml", "\x89PNG\r\n\x1a\n binary junk without any header\n");
  auto r = RunCommand(Ctl("parse " + ShellQuote(dir + "/not.eml")));
  EXPECT_EQ(r.exit_code, 65) << r.output;
  EXPECT_NE(r.output.find("not an email"), std::string::npos) << r.output;
  auto missing = RunCommand(Ctl("parse " + ShellQuote(dir + "/missing.eml")));
  EXPECT_NE(missing.exit_code, 0) << missing.output;
}

TEST(TrimCommandTest, TrimsStandardInput) {
  const std::string dir = mftest::MakeTempDir("mftrim");
  mftest::WriteFile(dir + "/body.txt",
                    "Thanks, that fixed it.\n\nOn Tue, 24 Nov 2026 at 10:00, Bob <bob@example.com> wrote:\n> Try "
                    "restarting the VPN client.\n");
  auto r = RunCommand(Ctl("trim < " + ShellQuote(dir + "/body.txt")));
  // RunCommand feeds /dev/null to the outer shell; the inner redirection wins.
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "Thanks, that fixed it.\n");
}

}  // namespace
