#include "cli/connection_checks.h"

#include <gtest/gtest.h>

namespace ctl {
namespace {

base::Error E(base::ErrorKind kind, const std::string& message) { return base::Error{kind, message}; }

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ConnectionChecksTest, DatabaseFixes) {
  EXPECT_TRUE(Has(FixFor(Check::kDatabase, E(base::ErrorKind::kTransient,
                                             "FATAL: password authentication failed for user \"mf\"")),
                  "user and password in database.dsn_file"));
  EXPECT_TRUE(
      Has(FixFor(Check::kDatabase, E(base::ErrorKind::kTransient, "FATAL: database \"mf\" does not exist")),
          "create the database"));
  EXPECT_TRUE(Has(FixFor(Check::kDatabase, E(base::ErrorKind::kTransient, "connection refused")),
                  "that PostgreSQL runs"));
  EXPECT_TRUE(Has(SchemaFix(0, 7), "mailforumctl migrate"));
  EXPECT_TRUE(Has(SchemaFix(3, 7), "mailforumctl migrate"));
  EXPECT_TRUE(Has(SchemaFix(8, 7), "older than the database"));
}

TEST(ConnectionChecksTest, ServerFixesByWhatWentWrong) {
  const auto kPermanent = base::ErrorKind::kPermanent;
  const auto kTransient = base::ErrorKind::kTransient;
  EXPECT_TRUE(
      Has(FixFor(Check::kImapLogin, E(kPermanent, "IMAP localhost:993: LOGIN as help: server said NO")),
          "check imap.username and the password in imap.password_file"));
  EXPECT_TRUE(Has(
      FixFor(Check::kImapLogin, E(kPermanent, "certificate for localhost is not valid: signer not found")),
      "set imap.ca_file"));
  EXPECT_TRUE(Has(FixFor(Check::kImapLogin, E(kTransient, "IMAP localhost:993: cannot connect: refused")),
                  "check imap.host, imap.port and imap.tls"));
  EXPECT_TRUE(Has(FixFor(Check::kImapLogin, E(kPermanent, "OAuth2 token for mailbox help: invalid_grant")),
                  "imap.oauth2"));
  EXPECT_TRUE(Has(FixFor(Check::kSmtpLogin, E(kTransient, "SMTP localhost:1: connect: Connection refused")),
                  "check smtp.host, smtp.port and smtp.tls (implicit: usually port 465"));
  EXPECT_TRUE(
      Has(FixFor(Check::kSmtpLogin, E(kPermanent, "SMTP x:587: connect: authentication as u refused")),
          "check smtp.username and the password in smtp.password_file"));
  EXPECT_TRUE(Has(FixFor(Check::kSmtpLogin, E(kPermanent, "SMTP x:587: STARTTLS refused: 502")),
                  "set smtp.tls to what the server offers"));
}

TEST(ConnectionChecksTest, FolderAndProbeFixes) {
  EXPECT_TRUE(
      Has(FixFor(Check::kFolder, E(base::ErrorKind::kPermanent, "SELECT X: server said NO [NONEXISTENT]")),
          "set imap.folder"));
  EXPECT_TRUE(Has(FixFor(Check::kCreateFolder, E(base::ErrorKind::kPermanent, "CREATE Q: server said NO")),
                  "create the folder on the server by hand"));
  EXPECT_TRUE(Has(FixFor(Check::kSmtpProbe, E(base::ErrorKind::kPermanent,
                                              "SMTP x:587: RCPT TO:<help@example.com>: 550 no such user")),
                  "smtp.from is a real mailbox"));
  EXPECT_TRUE(Has(
      FixFor(Check::kSmtpProbe,
             E(base::ErrorKind::kPermanent, "SMTP x:587: MAIL FROM:<bounces+0@example.com>: 553 not owned")),
      "allow smtp.username to send as smtp.from"));
}

}  // namespace
}  // namespace ctl
