#include "cli/connection_checks.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string_view>

namespace ctl {
namespace {

bool Mentions(const std::string& message, std::initializer_list<std::string_view> words) {
  std::string lower = message;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (std::string_view w : words) {
    if (lower.find(w) != std::string::npos) return true;
  }
  return false;
}

// The fixes common to the IMAP and SMTP connections; `section` is "imap" or "smtp".
std::string ServerFix(const base::Error& error, const std::string& section, const std::string& ports) {
  const std::string& m = error.message;
  if (Mentions(m, {"oauth2", "token"})) {
    return "check " + section +
           ".oauth2 (token_url, client_id, the client secret and refresh token files) and "
           "that the account may use the mechanism; see docs/oauth2.md";
  }
  if (Mentions(m, {"certificate", "pin mismatch"})) {
    return "set " + section + ".ca_file to the CA bundle that signed the server's certificate (or " +
           section + ".tls_sha256 to pin it), and check that " + section +
           ".host is a name the certificate holds";
  }
  if (Mentions(m, {"starttls"})) {
    return "set " + section + ".tls to what the server offers (" + ports + ")";
  }
  if (error.kind == base::ErrorKind::kConfig)
    return "correct the " + section + ": section as the message says";
  if (error.kind == base::ErrorKind::kTransient) {
    return "check " + section + ".host, " + section + ".port and " + section + ".tls (" + ports +
           "), that the server runs, and that no firewall blocks this host";
  }
  return "";
}

}  // namespace

std::string FixFor(Check check, const base::Error& error) {
  const std::string& m = error.message;
  switch (check) {
    case Check::kDatabase:
      if (Mentions(m, {"password", "authentication failed", "role"})) {
        return "check the user and password in database.dsn_file (or dsn_env)";
      }
      if (Mentions(m, {"does not exist"})) {
        return "create the database (docs/admin-guide.md, install) or correct dbname in database.dsn_file";
      }
      return "check that PostgreSQL runs and that database.dsn_file (host, port, dbname) points at it";
    case Check::kImapLogin: {
      const std::string fix = ServerFix(error, "imap", "implicit: usually port 993; starttls: 143");
      if (!fix.empty()) return fix;
      return "check imap.username and the password in imap.password_file (or password_env) with a mail "
             "client; some providers need an app password or OAuth2 (docs/oauth2.md)";
    }
    case Check::kFolder:
      return "create the folder on the server, or set imap.folder to an existing one (names are "
             "case-sensitive, "
             "subfolders as the server separates them, e.g. INBOX.Support or INBOX/Support)";
    case Check::kCreateFolder:
      return "create the folder on the server by hand, or give the account the right to create folders";
    case Check::kSmtpLogin: {
      const std::string fix = ServerFix(error, "smtp", "implicit: usually port 465; starttls: 587");
      if (!fix.empty()) return fix;
      return "check smtp.username and the password in smtp.password_file (or password_env); some providers "
             "need an app password or OAuth2 (docs/oauth2.md)";
    }
    case Check::kSmtpProbe:
      if (Mentions(m, {"rcpt to"})) {
        return "the server refuses our own address (smtp.from) as a recipient: check that smtp.from is a "
               "real "
               "mailbox the server delivers to";
      }
      return "the server refuses our envelope sender: allow smtp.username to send as smtp.from and as the "
             "bounce address (smtp.bounce_address, with any +suffix), or change them";
  }
  return "";
}

std::string SchemaFix(int version, int needed) {
  if (version < needed) return "run `mailforumctl migrate -c FILE` (back up the database first)";
  return "this mailforum is older than the database's schema: install the version that upgraded it";
}

}  // namespace ctl
