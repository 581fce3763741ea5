// The mailforum configuration: one YAML file (DESIGN.md §6, reference in
// docs/configuration.md) loaded into plain typed structs.
//
// Loading validates everything it can in one pass and reports each problem as
// a Diagnostic with file:line:column and what was expected, so an operator
// fixes a file in one round. Secrets (database DSN, reply-token key,
// passwords) are never written in the file: it names a file or an environment
// variable, and the loader reads the value into a config::Secret, which cannot
// be printed. No diagnostic ever contains a secret value.
//
// Every field below has the default the loader applies when the key is
// absent; fields without one are required. A loaded Config is always complete
// and consistent: ports are set, every rule's category exists, mailbox names
// and category slugs are unique, regexes are compiled.
//
// Thread-safety: loading touches no shared state except reading the process
// environment; a loaded Config is a plain value, safe to read from any number
// of threads.
#ifndef MAILFORUM_CONFIG_CONFIG_H_
#define MAILFORUM_CONFIG_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/regex.h"

namespace config {

// A secret value (password, DSN, key) read at load time from a file or an
// environment variable. It deliberately has no operator<< and no conversion
// to string: the value leaves only through reveal(), which makes every use
// visible in review. Never log or format what reveal() returns.
class Secret {
 public:
  Secret() = default;
  // `source` describes where the value came from, e.g. "file /etc/mailforum/smtp.pass".
  Secret(std::string value, std::string source) : value_(std::move(value)), source_(std::move(source)) {}

  // The secret itself: pass it to the library that needs it, nowhere else.
  const std::string& reveal() const { return value_; }
  // Where the value came from, for messages: "file /etc/mailforum/smtp.pass"
  // or "environment variable MAILFORUM_SMTP_PASSWORD". Never the value.
  std::string source() const { return source_; }

  // Equal when the values are (a secret read again from another file is the same secret). For deciding
  // what a reload changed (daemon/reload_plan.h); never print either side.
  friend bool operator==(const Secret& a, const Secret& b) { return a.value_ == b.value_; }

 private:
  std::string value_;
  std::string source_;
};

// How a connection to a mail server is protected.
enum class TlsMode {
  kImplicit,  // TLS from the first byte (IMAPS 993, SMTPS 465).
  kStartTls,  // Plaintext greeting, then STARTTLS; refuse to go on without it.
  kNone,      // No TLS at all: only allowed to a loopback host.
};

// What happens to a message in the mailbox once its outcome is committed.
enum class AfterAction {
  kSeen,    // Set \Seen and leave it in the folder.
  kMove,    // Move it to AfterConfig::folder.
  kDelete,  // Delete (expunge) it.
};

// What a rule does with the messages it matches.
enum class RuleAction {
  kThread,      // Post it: a new thread in the rule's category, or an answer in its thread.
  kIgnore,      // Record it and do nothing else.
  kReject,      // Record it and send the sender a rejection notice (at most once a day).
  kQuarantine,  // Record it with its raw bytes and move it to the quarantine folder.
};

// The kind of a message as the classifier sees it.
enum class Classification { kNormal, kAutoReply, kBounce, kFeedback, kDeliveryNotice };

// The DMARC result in an Authentication-Results header from a trusted
// authserv-id (RFC 7489 §11.2). kNone is also used when no trusted header says anything.
enum class DmarcResult { kPass, kFail, kNone, kTempError, kPermError };

// How authors are named on the web (web.author_display).
enum class AuthorDisplay {
  kName,    // "name": the display name from From:, a masked address when there is none
  kMasked,  // "masked": always the masked address (jo…@example.com)
};

// The lower-case name used in the YAML file for each enum value ("starttls", "auto_reply", ...).
std::string_view TlsModeName(TlsMode mode);
std::string_view AfterActionName(AfterAction action);
std::string_view RuleActionName(RuleAction action);
std::string_view ClassificationName(Classification kind);
std::string_view DmarcResultName(DmarcResult result);
std::string_view AuthorDisplayName(AuthorDisplay display);

// instance: who this forum is.
struct InstanceConfig {
  // Display name, used in mail From names and page titles. Default: `domain`.
  std::string name;
  // Public address of the web view, http:// or https://, without a trailing
  // slash; links in mail point here. Required.
  std::string base_url;
  // The domain of our own Message-IDs (<post.1.x@domain>). Required.
  std::string domain;

  bool operator==(const InstanceConfig&) const = default;
};

// Where to reach PostgreSQL; `dsn_file` or `dsn_env`.
struct DatabaseConfig {
  // A libpq connection string or URI.
  Secret dsn;
  // The mailbox workers' pooled PostgreSQL connections for their passes
  // (besides the one that holds every mailbox's lock): at most this many
  // mailboxes record at once (issue 10 item 5).
  int mailbox_pool = 4;

  bool operator==(const DatabaseConfig&) const = default;
};

// secrets: keys that are not passwords; `reply_key_file` or `reply_key_env`.
struct SecretsConfig {
  // The HMAC key that signs reply tokens; at least 32 bytes is recommended.
  Secret reply_key;

  bool operator==(const SecretsConfig&) const = default;
};

// How an IMAP or SMTP login proves who we are (imap.auth, smtp.auth).
enum class AuthMethod {
  kPassword,  // "password": LOGIN (or AUTHENTICATE PLAIN) with password_file/password_env
  kOAuth2,    // "oauth2": an OAuth2 access token from imap.oauth2 (Microsoft 365, Gmail)
};

// Which OAuth2 grant gets the access tokens (oauth2.grant).
enum class OAuth2GrantType {
  kRefreshToken,       // "refresh_token": a user's consent, once, gave a refresh token
  kClientCredentials,  // "client_credentials": an application's own identity (an M365 service principal)
};

// Which SASL mechanism carries the token (oauth2.mechanism).
enum class OAuth2Mechanism {
  kXOAuth2,      // "xoauth2": Google's and Microsoft's
  kOAuthBearer,  // "oauthbearer": RFC 7628
};

// The YAML names of the three enums above.
std::string_view AuthMethodName(AuthMethod method);
std::string_view OAuth2GrantTypeName(OAuth2GrantType grant);
std::string_view OAuth2MechanismName(OAuth2Mechanism mechanism);

// imap.oauth2, smtp.oauth2: where and how to get access tokens (docs/oauth2.md).
struct OAuth2Config {
  // The token endpoint: https://, or http:// to a loopback host only. Required.
  std::string token_url;
  // The application (client) id. Required.
  std::string client_id;
  // From `client_secret_file` or `client_secret_env`. Required for
  // client_credentials; optional for refresh_token (a public client has none).
  std::optional<Secret> client_secret;
  // Default: refresh_token.
  OAuth2GrantType grant = OAuth2GrantType::kRefreshToken;
  // From `refresh_token_file` or `refresh_token_env`; set exactly when grant
  // is refresh_token. A rotated refresh token is kept in memory only.
  std::optional<Secret> refresh_token;
  // Space-separated scopes to ask for. Default: none sent.
  std::string scope;
  // Default: xoauth2.
  OAuth2Mechanism mechanism = OAuth2Mechanism::kXOAuth2;
  // PEM bundle of trusted CAs for the token endpoint. Empty: the system trust store.
  std::string ca_file;

  bool operator==(const OAuth2Config&) const = default;
};

// What the IMAP and SMTP sections have in common: how to reach and log in to a server.
struct ServerConfig {
  // Host name or address. Required.
  std::string host;
  // 1..65535. Default: 993 (IMAP, implicit TLS) or 143 (IMAP otherwise);
  // 465 (SMTP implicit), 587 (SMTP starttls), 25 (SMTP none).
  std::uint16_t port = 0;
  // Default: implicit for IMAP, starttls for SMTP.
  TlsMode tls = TlsMode::kImplicit;
  // PEM bundle of trusted CAs. Empty: the system trust store.
  std::string ca_file;
  // Pin: SHA-256 of the server's own certificate (DER), normalized to 64
  // lower-case hex digits. When set, the pin alone decides which certificate
  // is accepted (see mail/tls_verify.h). Empty: the CA and host name checks.
  std::string tls_sha256;
  // Login name; any text. Required for IMAP and with auth oauth2; for SMTP
  // with a password, empty means no AUTH.
  std::string username;
  // From `password_file` or `password_env`; set exactly when `username` is
  // set and `auth` is password.
  std::optional<Secret> password;
  // `auth`: password or oauth2. Default: password.
  AuthMethod auth = AuthMethod::kPassword;
  // `oauth2`: set exactly when auth is kOAuth2.
  std::optional<OAuth2Config> oauth2;

  bool operator==(const ServerConfig&) const = default;
};

// smtp: the server that sends all outbound mail.
struct SmtpConfig : ServerConfig {
  // From header of outbound mail: an address, optionally with a display
  // name ("Acme Help <help@example.com>"). Required.
  std::string from;
  // Reply-To template; "{token}" is replaced by the thread's signed reply
  // token ("help+{token}@example.com"). Required.
  std::string reply_to;
  // The envelope sender (VERP return path) template; "{token}" is replaced
  // by the outbox row's signed id, so that a bounce names the message it is
  // about. Default: "bounces+{token}@" and the domain of `from`.
  std::string bounce_address;

  bool operator==(const SmtpConfig&) const = default;
};

// One forum category (categories: [...]).
struct Category {
  // URL name: lower-case letters, digits and '-'. Unique. Required.
  std::string slug;
  // Display name. Required.
  std::string name;
  // Addresses (lower-cased) that receive every new thread in the category. Default: none.
  std::vector<std::string> watchers;
  // Mailing-list addresses (lower-cased) notified like watchers; their mail
  // carries no unsubscribe link, so no member can unsubscribe the whole list
  // (members filter by List-Id). Default: none.
  std::vector<std::string> lists;
  // Shown on the category page. Default: empty.
  std::string description;
  // Shown on the web. A private category (false) is not listed, searched or
  // served there (404); its mail flows as before. Default: true.
  bool is_public = true;

  bool operator==(const Category&) const = default;
};

// mailboxes[].imap: the IMAP account and folder to watch.
struct ImapConfig : ServerConfig {
  // The folder to fetch from. Default: INBOX.
  std::string folder = "INBOX";
  // Use IMAP IDLE to hear about new mail at once (polling is the fallback). Default: true.
  bool idle = true;
  // How often to poll when IDLE is off or unsupported; also the longest IDLE
  // wait before a re-check. Greater than zero. Default: 60s.
  std::chrono::milliseconds poll_interval{std::chrono::seconds(60)};
  // The longest one network wait may take (connecting, TLS, a command's
  // answer) before the connection counts as lost and is replaced. 1s..10m.
  // Default: 30s.
  std::chrono::milliseconds timeout{std::chrono::seconds(30)};
  // How often an idle connection is proven alive: IDLE is ended (DONE, which
  // the server must answer within `timeout`) and begun again; also the TCP
  // keepalive idle time. A silently dropped connection is noticed within
  // keepalive + timeout. 1s..25m. Default: 60s.
  std::chrono::milliseconds keepalive{std::chrono::seconds(60)};

  bool operator==(const ImapConfig&) const = default;
};

// mailboxes[].after: what to do with a message after its outcome is committed.
struct AfterConfig {
  // Default: seen.
  AfterAction action = AfterAction::kSeen;
  // The destination folder; set exactly when action is kMove.
  std::string folder;

  bool operator==(const AfterConfig&) const = default;
};

// A condition over an inbound message; a tree whose inner nodes are all/any/not.
// Which fields apply depends on `kind`; the others stay empty.
struct Matcher {
  enum class Kind {
    kAll,             // Every child matches (also a match map with several keys).
    kAny,             // At least one child matches.
    kNot,             // The single child does not match.
    kFrom,            // The From address is one of `values` (case-insensitive).
    kFromDomain,      // The From address's domain is one of `values` (case-insensitive, exact).
    kTo,              // Some To address is one of `values`.
    kCc,              // Some Cc address is one of `values`.
    kSubject,         // `regex` matches the decoded subject.
    kBody,            // `regex` matches the text body.
    kHeader,          // `regex` matches the decoded value of some header named `header_name`.
    kHasAttachment,   // Whether the message has an attachment equals `flag`.
    kSizeOver,        // The raw message is larger than `size` bytes.
    kClassification,  // The classifier's verdict is one of `classifications`.
    kDmarc,           // The trusted DMARC result is one of `dmarc`.
  };
  Kind kind = Kind::kAll;
  // kAll, kAny: one or more; kNot: exactly one.
  std::vector<Matcher> children;
  // kFrom, kTo, kCc: addresses; kFromDomain: domains. Lower-cased.
  std::vector<std::string> values;
  // kSubject, kBody, kHeader.
  std::optional<base::Regex> regex;
  // kHeader: the field name as written (compare case-insensitively).
  std::string header_name;
  // kHasAttachment.
  bool flag = false;
  // kSizeOver.
  std::uint64_t size = 0;
  // kClassification.
  std::vector<Classification> classifications;
  // kDmarc.
  std::vector<DmarcResult> dmarc;
};

// One routing rule (mailboxes[].rules[]); the first rule that matches decides.
struct Rule {
  // Unique within the mailbox; shown in traces. Required.
  std::string name;
  // nullopt: the rule matches every message.
  std::optional<Matcher> match;
  // Required.
  RuleAction action = RuleAction::kThread;
  // Slug of an existing category; set exactly when action is kThread.
  std::string category;
  // Tags put on new threads (kThread only). Default: none.
  std::vector<std::string> tags;
  // Text for the rejection notice (kReject only). Empty: a generic text.
  std::string reason;
  // 1-based line of the rule in the file, for traces and dry runs.
  int line = 0;
};

// One watched mailbox (mailboxes: [...]).
struct MailboxConfig {
  // Letters, digits, '.', '_' and '-'; unique. Names the mailbox in the
  // database, logs and `mailforumctl --mailbox`. Required.
  std::string name;
  ImapConfig imap;
  AfterConfig after;
  // Where poison and quarantined messages go; created when missing. Must
  // differ from imap.folder. Default: Quarantine.
  std::string quarantine_folder = "Quarantine";
  // On first contact with a mailbox, only mail younger than this is
  // imported; older mail is left alone. Default: 7d.
  std::chrono::milliseconds import_max_age{std::chrono::hours(7 * 24)};
  // Send the sender of a new thread an acknowledgement with its link. Default: true.
  bool acknowledge = true;
  // Send acknowledgements and rejection notices also to senders whose
  // trusted DMARC result is not `pass`. Anyone can put any address in From:,
  // so a notice to an unverified sender may go to someone who never wrote
  // (backscatter). Default: false (only to senders with dmarc=pass).
  bool notify_unverified_senders = false;
  // First match wins. At least one.
  std::vector<Rule> rules;
};

// limits: protection against oversized and abusive input.
struct LimitsConfig {
  // Larger messages are quarantined unparsed. Default: 25 MiB.
  std::uint64_t max_message_size = 25ull * 1024 * 1024;
  // Of a message over max_message_size only this many raw bytes (its header
  // and the start of its body) are fetched and kept in the quarantine; the
  // rest is never downloaded. Default: 1 MiB.
  std::uint64_t quarantine_keep_bytes = 1ull * 1024 * 1024;
  // A fetch batch holds at most this many bytes of mail (and at most 100
  // messages), so a worker's memory is bounded whatever the mailbox holds; a
  // single message larger than this is still fetched alone. Default: 32 MiB.
  std::uint64_t max_batch_bytes = 32ull * 1024 * 1024;
  // Deeper MIME nesting is quarantined. Default: 32.
  int max_mime_depth = 32;
  // More MIME parts than this are quarantined. Default: 500.
  int max_parts = 500;
  // New threads one sender may open per hour; beyond that, messages are rejected. Default: 20.
  int new_threads_per_sender_per_hour = 20;

  bool operator==(const LimitsConfig&) const = default;
};

// outbox: delivering outbound mail.
struct OutboxConfig {
  // How long a mail is retried after transient failures (connection
  // errors, 4xx replies) before it fails for good. Greater than zero. Default: 3d.
  std::chrono::milliseconds max_age{std::chrono::hours(3 * 24)};
  // No more mail goes to an address whose bounce score reaches this (a hard
  // bounce counts 1.0, a soft one 0.25). Greater than zero. Default: 3.0.
  double suppress_score = 3.0;
  // How many due mails one worker claims at a time; 1..1000. Default: 50.
  int batch = 50;
  // How long a claim lasts: the mails of a daemon that dies while sending
  // are sent again after this (delivery is at least once). At least 1s. Default: 10m.
  std::chrono::milliseconds lease{std::chrono::minutes(10)};
  // The first retry after a transient failure; each later one waits twice as
  // long as the one before, at most 1 hour (with jitter). At least 1s. Default: 1m.
  std::chrono::milliseconds retry_base{std::chrono::minutes(1)};
  // Loop circuit breaker: automatic mail (acknowledgements, notifications,
  // rejection notices; never answers) to an address pauses for loop_cooldown
  // once loop_threshold machine replies (auto-replies, bounces) from it came
  // within loop_window; to a whole domain at loop_domain_threshold.
  // Thresholds 1..100000, defaults 5 and 20; window and cooldown greater
  // than zero, defaults 10m and 1h.
  int loop_threshold = 5;
  int loop_domain_threshold = 20;
  std::chrono::milliseconds loop_window{std::chrono::minutes(10)};
  std::chrono::milliseconds loop_cooldown{std::chrono::hours(1)};
  // At most one acknowledgement per address this often; 0s: no limit. Default: 1h.
  std::chrono::milliseconds acknowledgement_interval{std::chrono::hours(1)};
  // Caps of acknowledgements and rejection notices together, queued in the
  // last hour: to one recipient domain, and overall. Beyond a cap none is
  // queued (the inbound message's trace says so). 1..1000000. Defaults: 20 and 200.
  int auto_replies_per_domain_per_hour = 20;
  int auto_replies_per_hour = 200;

  bool operator==(const OutboxConfig&) const = default;
};

// auth: whose Authentication-Results headers to believe.
struct AuthConfig {
  // authserv-ids (lower-cased) of our own receiving MTAs. Headers from any
  // other id are ignored (anyone can write one). Default: none, so every
  // message's DMARC result is kNone.
  std::vector<std::string> trusted_authserv_ids;

  bool operator==(const AuthConfig&) const = default;
};

// web: the read-only HTTP server. It runs only when the `web:` section is present.
struct WebConfig {
  // Whether the file has a `web:` section (mailforumd serves the site only then).
  bool enabled = false;
  // "host:port" or "[v6]:port" as written; port 0 picks a free port (the
  // daemon logs the one it got). Default: 127.0.0.1:8080.
  std::string listen = "127.0.0.1:8080";
  // `listen` split: the host (without brackets) and the port.
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  // The PostgreSQL text-search configuration of search (a name such as
  // simple, english, german; optionally schema-qualified). Default: simple.
  std::string search_language = "simple";
  // Default: name.
  AuthorDisplay author_display = AuthorDisplay::kName;
  // From `dsn_file` or `dsn_env`: the (read-only) database role the web
  // uses. nullopt: database.dsn.
  std::optional<Secret> dsn;
  // Searches per client address: a burst of `search_burst` (1..100000,
  // default 10), refilled at `search_per_minute` (1..1000000, default 60).
  int search_per_minute = 60;
  int search_burst = 10;
  // Bytes of rendered pages kept in memory. At least 1 MiB. Default: 64 MiB.
  std::uint64_t cache_size = 64ull * 1024 * 1024;
  // A mailbox failing (its last error newer than its last success) longer
  // than this fails /healthz. At least 1s. Default: 10 minutes.
  std::chrono::milliseconds health_failure_after{std::chrono::minutes(10)};

  bool operator==(const WebConfig&) const = default;
};

// daemon: how mailforumd runs.
struct DaemonConfig {
  // How long SIGTERM/SIGINT wait for the loops to finish their batch in
  // hand and close their sessions; a loop still running then is named in the
  // log and the daemon exits non-zero without it. Keep it below the unit's
  // TimeoutStopSec (30s). 1s..10m. Default: 20s.
  std::chrono::milliseconds stop_timeout{std::chrono::seconds(20)};

  bool operator==(const DaemonConfig&) const = default;
};

// log: what to log.
struct LogConfig {
  // debug | info | warning | error. Default: info.
  base::LogLevel level = base::LogLevel::kInfo;
  // text (key=value fields) | json (one object per line). Default: text.
  base::LogFormat format = base::LogFormat::kText;

  bool operator==(const LogConfig&) const = default;
};

struct Config {
  InstanceConfig instance;
  DatabaseConfig database;
  SecretsConfig secrets;
  SmtpConfig smtp;
  // May be empty only when no rule threads.
  std::vector<Category> categories;
  // At least one.
  std::vector<MailboxConfig> mailboxes;
  LimitsConfig limits;
  OutboxConfig outbox;
  AuthConfig auth;
  WebConfig web;
  LogConfig log;
  DaemonConfig daemon;

  // The category or mailbox with that slug or name, or nullptr.
  const Category* FindCategory(std::string_view slug) const;
  const MailboxConfig* FindMailbox(std::string_view name) const;
};

// One problem found while loading.
struct Diagnostic {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;
  int line = 0;    // 1-based; 0 when unknown.
  int column = 0;  // 1-based; 0 when unknown.
  std::string message;

  // "file:line:col: error: message" or "file:line:col: warning: message";
  // the parts that are unknown (0) are left out: "file: error: message".
  std::string ToString() const;
};

struct LoadResult {
  // Set exactly when there are no errors (warnings allowed).
  std::optional<Config> config;
  // Errors and warnings, in file order (by line, then column).
  std::vector<Diagnostic> diagnostics;

  bool ok() const { return config.has_value(); }
};

struct LoadOptions {
  // Which secrets are read. kDatabaseOnly is for mailforum-web, which needs
  // only the database: the SMTP and IMAP passwords and the reply key are not
  // read (neither their files nor their environment variables; their keys
  // are still checked for shape), so they may be absent or unreadable where
  // the web runs. Their Secret values are then empty, with a source that
  // says they were not read. kDatabaseAndReplyKey (mailforum-web) reads the
  // reply key too, which verifies the one-click unsubscribe links.
  enum class Secrets { kAll, kDatabaseOnly, kDatabaseAndReplyKey };
  Secrets secrets = Secrets::kAll;
};

// Reads and validates the file at `path`. Relative secret and CA file paths
// are resolved against the directory of `path`. Never throws; an unreadable
// file is one error with line 0.
LoadResult LoadConfigFile(const std::string& path, const LoadOptions& options = {});

// For tests and `check-config` on standard input: `text` as if read from
// `file_name` (which is used in diagnostics and to resolve relative paths,
// but not read). Never throws.
LoadResult LoadConfigString(std::string_view text, const std::string& file_name, const LoadOptions& options = {});

// Every key the loader accepts, by section, named as docs/configuration.md's
// headings name them: "" (the top level), "instance", "mailboxes",
// "mailboxes[].imap", "rules", "matchers", ... The documentation test checks
// that each is documented and that each documented key is one of these.
struct KnownSection {
  std::string_view name;
  std::vector<std::string_view> keys;
};
std::vector<KnownSection> KnownKeys();

}  // namespace config

#endif  // MAILFORUM_CONFIG_CONFIG_H_
