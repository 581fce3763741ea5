// mailforumctl's subcommands, each a function returning the process exit code
// (base/exit_codes.h). Output for people goes to stdout; diagnostics to stderr.
#ifndef MAILFORUM_CLI_COMMANDS_H_
#define MAILFORUM_CLI_COMMANDS_H_

#include <cstdint>
#include <string>

namespace ctl {

// How the operations commands print their reports.
enum class Format {
  kText,  // for people
  kJson,  // for machines (--json)
};

// check-config -c FILE: prints every diagnostic as file:line:col: message;
// 0 when the file has no errors (warnings allowed), 78 otherwise.
int CheckConfig(const std::string& config_path);

// migrate -c FILE: upgrades the database named by the configuration to this
// build's schema. 0 when current afterwards; 78 for a bad configuration or a
// newer schema; 75 when PostgreSQL is unreachable.
int Migrate(const std::string& config_path);

// parse FILE.eml: prints the JSON of the message (ids, people, subject, date,
// chosen text, trimmed and elided text, attachments, classification with the
// failed recipients of a bounce). 0, or 65 when the file is not an email.
int ParseFile(const std::string& path);

// trim: reads a plain-text body on stdin, prints what the person wrote. Always 0.
int TrimStdin();

// --- operations (cli/operations_format.h says what they print) ---

// route -c FILE --mailbox NAME FILE.eml: a dry run of the pipeline on one
// message, as the daemon would handle it in that mailbox now: its
// classification, every rule tried with why it matched or not, the action
// and outcome, the thread match (reply token, In-Reply-To/References, or a
// new thread in which category), and the mail that would be queued. Changes
// nothing (its database session is read-only). When the database cannot be
// reached it says so, still prints the rule decision, and exits 75 (78 for
// a schema that does not match). 0; 78 for a bad configuration; 64 for an
// unknown mailbox; 65 when the file cannot be read.
int Route(const std::string& config_path, const std::string& mailbox, const std::string& message_path,
          Format format);

// trace -c FILE <message-id|address>: the life of a message — every
// inbound record with that Message-ID (angle brackets optional), the post
// and thread it made, and the outbound mail about it with its fate; or, for
// an address (tried when no message has that id), its last 50 inbound
// messages as above, its bounce score and its last 50 outbound mails.
// 0; 1 when nothing is recorded; 75/78 when the database is unreachable or
// its schema does not match.
int Trace(const std::string& config_path, const std::string& target, Format format);

// status -c FILE: each configured mailbox's state (ok, failing, failed after
// web.health_failure_after, or never contacted), its last success and last
// error, and the outbox backlog, as /healthz reports them. 0 when healthy; 1
// when a mailbox failed; 75/78 when the database is unreachable or its schema
// does not match.
int Status(const std::string& config_path, Format format);

// quarantine -c FILE list: every quarantined message (id, mailbox, UID,
// received, sender, subject, size, reason), oldest first. 0; 75/78 as trace.
int QuarantineList(const std::string& config_path, Format format);

// quarantine -c FILE show ID: a line about the message and its reason on
// stderr, its raw bytes exactly on stdout (so `show ID > msg.eml` keeps the
// message). 0; 1 when there is no such message or it is not quarantined.
int QuarantineShow(const std::string& config_path, int64_t inbound_id);

// quarantine -c FILE retry ID: runs the stored raw bytes through the
// pipeline again for the message's mailbox with the current configuration.
// When the outcome is no longer quarantine, the message's record changes in
// one transaction (forum::Store::ReprocessInbound: its post, thread and
// outbound mail are created as ingestion creates them); otherwise nothing
// changes. The message itself stays in the quarantine folder of the IMAP
// server. Prints the new outcome. 0; 1 when there is no such quarantined
// message; 78 when its mailbox is no longer configured; 75 when the database
// fails (nothing is recorded).
int QuarantineRetry(const std::string& config_path, int64_t inbound_id, Format format);

// outbox -c FILE list [--status S]: the outbound mails (id, kind,
// recipient, Message-ID, status, attempts, next try or sending time, last
// error and reply code), newest first, at most 200. S is pending, sent,
// failed, suppressed, bounced or all; without it, every mail not yet sent
// (pending, failed, suppressed, bounced). 0; 64 for an unknown status;
// 75/78 as trace.
int OutboxList(const std::string& config_path, const std::string& status, Format format);

// outbox -c FILE retry ID: requeues outbound mail ID (failed, suppressed,
// bounced, or even sent) to be sent now with its Message-ID and the bytes
// composed before; its max age counts from now. 0; 1 when there is no such
// mail or it is still pending; 75/78 as trace.
int OutboxRetry(const std::string& config_path, int64_t outbox_id);

// suppressions -c FILE list: every address with a bounce score (score,
// hard and soft bounces, last bounce and its reason, suppressed since),
// highest first, and the threshold (outbox.suppress_score). 0; 75/78 as trace.
int SuppressionsList(const std::string& config_path, Format format);

// suppressions -c FILE clear ADDRESS: forgets the bounce score of ADDRESS,
// so mail to it is sent again (mail already suppressed can be requeued with
// `outbox retry`). 0; 1 when it had no score; 75/78 as trace.
int SuppressionsClear(const std::string& config_path, const std::string& address);

// subscriptions list ADDRESS: what the address unsubscribed from (threads,
// categories, acknowledgements), with how and when.
int SubscriptionsList(const std::string& config_path, const std::string& address, Format format);

// subscriptions clear ADDRESS: forgets every unsubscription of the address,
// so it gets all its mail again. Exit 1 when it had none.
int SubscriptionsClear(const std::string& config_path, const std::string& address);

// test-connection -c FILE [--mailbox NAME]: checks every server as the
// daemon will use it and prints one line per check — "ok", "warning" (works,
// with a caveat) or "FAILED" with the server's answer and a "fix:" line: the
// database (connection, schema version against this build's); each mailbox,
// or only NAME (TLS with the certificate verified, login with a password or
// OAuth2, the folder exists, IDLE and MOVE offered, the after and quarantine
// folders exist or can be created — they are created as the daemon would);
// SMTP (TLS, AUTH, then MAIL FROM our bounce address and RCPT TO our From
// address, RSET without DATA: nothing is sent). No secret is printed. 0 when
// every check passed; 1 otherwise; 64 for an unknown mailbox; 78 for a bad
// configuration.
int TestConnection(const std::string& config_path, const std::string& mailbox);

}  // namespace ctl

#endif  // MAILFORUM_CLI_COMMANDS_H_
