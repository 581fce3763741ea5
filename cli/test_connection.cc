// mailforumctl test-connection: each server of the configuration checked as
// the daemon will use it, one line per check (ok, FAILED with the server's
// answer and a fix to try, or a warning that does not fail).
#include <cstdio>
#include <memory>
#include <string>

#include "base/exit_codes.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/connection_checks.h"
#include "engine/mail_options_from_config.h"
#include "engine/pipeline_config.h"
#include "forum/migrations.h"
#include "forum/store.h"
#include "mail/imap_session.h"
#include "mail/smtp_transport.h"

namespace ctl {
namespace {

// Prints the checks' lines as they come and remembers whether one failed.
class Report {
 public:
  void Ok(const std::string& what, const std::string& detail) { Print(what + ": ok: " + detail); }
  void Warning(const std::string& what, const std::string& detail, const std::string& fix) {
    Print(what + ": warning: " + detail);
    if (!fix.empty()) Print("  fix: " + fix);
  }
  void Failed(const std::string& what, const std::string& answer, const std::string& fix) {
    failed_ = true;
    Print(what + ": FAILED: " + answer);
    if (!fix.empty()) Print("  fix: " + fix);
  }
  bool failed() const { return failed_; }

 private:
  static void Print(const std::string& line) {
    const std::string text = Printable(line) + "\n";
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  bool failed_ = false;
};

std::string TlsName(config::TlsMode tls) {
  switch (tls) {
    case config::TlsMode::kImplicit:
      return "TLS";
    case config::TlsMode::kStartTls:
      return "STARTTLS";
    case config::TlsMode::kNone:
      return "no TLS (loopback only)";
  }
  return "";
}

// What the login and TLS lines say about a connection that worked.
std::string Connected(const config::ServerConfig& server) {
  std::string text = TlsName(server.tls);
  if (server.tls != config::TlsMode::kNone) {
    text += server.tls_sha256.empty() ? ", certificate verified" : ", certificate matches tls_sha256";
  }
  if (server.auth == config::AuthMethod::kOAuth2)
    return text + ", logged in as " + server.username + " (OAuth2)";
  if (server.username.empty()) return text + ", no login (smtp.username is empty)";
  return text + ", logged in as " + server.username;
}

void CheckDatabase(const config::Config& cfg, Report& report) {
  auto store = forum::Store::Connect(cfg.database.dsn.reveal());
  if (!store) {
    report.Failed("database", store.error().message, FixFor(Check::kDatabase, store.error()));
    return;
  }
  auto version = (*store)->SchemaVersion();
  if (!version) {
    report.Failed("database", version.error().message, FixFor(Check::kDatabase, version.error()));
    return;
  }
  const int needed = forum::RequiredSchemaVersion();
  const std::string versions =
      "schema version " + std::to_string(*version) + ", this build needs " + std::to_string(needed);
  if (*version == needed) {
    report.Ok("database", "connected; " + versions);
  } else {
    report.Failed("database", versions, SchemaFix(*version, needed));
  }
}

void CheckFolder(mail::ImapSession& session, const std::string& what, const std::string& folder, bool create,
                 Report& report) {
  auto selected = session.Select(folder);
  if (selected) {
    report.Ok(what, "exists (" + std::to_string(selected->exists) + " messages)");
    return;
  }
  if (!create) {
    report.Failed(what, selected.error().message, FixFor(Check::kFolder, selected.error()));
    return;
  }
  if (auto created = session.CreateFolder(folder); !created.ok()) {
    report.Failed(what, created.error().message, FixFor(Check::kCreateFolder, created.error()));
    return;
  }
  report.Ok(what, "did not exist; created (the daemon creates it too)");
}

void CheckMailbox(const config::MailboxConfig& box, Report& report) {
  const std::string name = "mailbox " + box.name;
  const std::string server = name + ": imap " + box.imap.host + ":" + std::to_string(box.imap.port);
  auto session = mail::ImapSession::Connect(engine::ImapOptionsFor(box));
  if (!session) {
    report.Failed(server, session.error().message, FixFor(Check::kImapLogin, session.error()));
    return;
  }
  report.Ok(server, Connected(box.imap));
  mail::ImapSession& imap = **session;
  if (imap.HasCapability("IDLE")) {
    report.Ok(name + ": IDLE", "offered");
  } else if (box.imap.idle) {
    report.Warning(name + ": IDLE",
                   "not offered; the daemon polls every " +
                       std::to_string(box.imap.poll_interval.count() / 1000) + " s instead",
                   "set imap.idle: false to say so, or a shorter imap.poll_interval");
  }
  if (imap.HasCapability("MOVE")) {
    report.Ok(name + ": MOVE", "offered");
  } else if (imap.HasCapability("UIDPLUS")) {
    report.Warning(name + ": MOVE", "not offered; UIDPLUS is, so messages are copied and expunged instead",
                   "");
  } else {
    report.Failed(name + ": MOVE", "the server offers neither MOVE nor UIDPLUS",
                  "use a server that offers MOVE (RFC 6851) or UIDPLUS (RFC 4315): without them messages "
                  "cannot be moved to the quarantine folder safely");
  }
  CheckFolder(imap, name + ": folder " + box.imap.folder, box.imap.folder, /*create=*/false, report);
  if (box.after.action == config::AfterAction::kMove) {
    CheckFolder(imap, name + ": after folder " + box.after.folder, box.after.folder, /*create=*/true, report);
  }
  CheckFolder(imap, name + ": quarantine folder " + box.quarantine_folder, box.quarantine_folder,
              /*create=*/true, report);
  (void)imap.Logout();
}

// Our envelope sender as the outbox sends it: the VERP return path with a made-up id (or From without one).
std::string ProbeSender(const config::Config& cfg) {
  std::string sender = engine::VerpTemplate(cfg);
  if (sender.empty()) return engine::BareAddress(cfg.smtp.from);
  if (const auto at = sender.find("{id}"); at != std::string::npos) sender.replace(at, 4, "0");
  return sender;
}

void CheckSmtp(const config::Config& cfg, Report& report) {
  const std::string server = "smtp " + cfg.smtp.host + ":" + std::to_string(cfg.smtp.port);
  auto smtp = mail::SmtpTransport::Connect(engine::SmtpOptionsFor(cfg.smtp));
  if (!smtp) {
    report.Failed(server, smtp.error().message, FixFor(Check::kSmtpLogin, smtp.error()));
    return;
  }
  report.Ok(server, Connected(cfg.smtp));
  // The envelope the outbox uses: our VERP return path (here with a made-up id) to our own address.
  mail::Envelope probe;
  probe.mail_from = ProbeSender(cfg);
  probe.recipients = {engine::BareAddress(cfg.smtp.from)};
  const std::string what =
      server + ": MAIL FROM:<" + probe.mail_from + "> RCPT TO:<" + probe.recipients[0] + ">";
  auto probed = (*smtp)->Probe(probe);
  if (!probed.ok()) {
    report.Failed(what, probed.error().message, FixFor(Check::kSmtpProbe, probed.error()));
    return;
  }
  report.Ok(what, "accepted (no DATA sent; RSET)");
}

}  // namespace

int TestConnection(const std::string& config_path, const std::string& mailbox) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  if (!mailbox.empty() && cfg->FindMailbox(mailbox) == nullptr) {
    std::fprintf(stderr, "mailforumctl test-connection: no mailbox named '%s' in %s\n", mailbox.c_str(),
                 config_path.c_str());
    return base::kExitUsage;
  }
  Report report;
  CheckDatabase(*cfg, report);
  for (const auto& box : cfg->mailboxes) {
    if (mailbox.empty() || box.name == mailbox) CheckMailbox(box, report);
  }
  CheckSmtp(*cfg, report);
  return report.failed() ? base::kExitFailure : base::kExitOk;
}

}  // namespace ctl
