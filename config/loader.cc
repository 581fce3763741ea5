// The configuration schema: each section of the YAML file read into its
// struct, then the checks that span sections (category references, unique
// names). LoadConfigFile and LoadConfigString live here.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <string>
#include <utility>

#include "base/host.h"
#include "config/config.h"
#include "config/enums.h"
#include "config/reader.h"
#include "config/rules.h"
#include "config/values.h"

namespace config {
namespace {

using internal::Need;
using internal::Reader;
using internal::Section;
using internal::UniqueNames;
using internal::Value;

constexpr std::uint64_t kMaxConfigSize = 16 * 1024 * 1024;
constexpr std::size_t kMinReplyKeySize = 32;

constexpr std::string_view kTopKeys[] = {"instance", "database", "secrets", "smtp", "categories", "mailboxes",
                                         "limits",   "outbox",   "auth",    "web",  "log",        "daemon"};
constexpr std::string_view kInstanceKeys[] = {"name", "base_url", "domain"};
constexpr std::string_view kDatabaseKeys[] = {"dsn_file", "dsn_env", "mailbox_pool"};
constexpr std::string_view kSecretsKeys[] = {"reply_key_file", "reply_key_env"};
constexpr std::string_view kSmtpKeys[] = {"host",     "port",     "tls",          "ca_file",       "tls_sha256",
                                          "username", "auth",     "oauth2",       "password_file", "password_env",
                                          "from",     "reply_to", "bounce_address"};
constexpr std::string_view kImapKeys[] = {
    "host",   "port", "tls",           "ca_file", "tls_sha256", "username", "password_file", "password_env",
    "folder", "idle", "poll_interval", "auth",    "oauth2",     "timeout",  "keepalive"};
constexpr std::string_view kOAuth2Keys[] = {"token_url",
                                            "client_id",
                                            "client_secret_file",
                                            "client_secret_env",
                                            "grant",
                                            "refresh_token_file",
                                            "refresh_token_env",
                                            "scope",
                                            "mechanism",
                                            "ca_file"};
constexpr std::string_view kCategoryKeys[] = {"slug", "name", "watchers", "lists", "description", "public"};
constexpr std::string_view kMailboxKeys[] = {"name",           "imap",        "after", "quarantine_folder",
                                             "import_max_age", "acknowledge", "notify_unverified_senders",
                                             "rules"};
constexpr std::string_view kAfterKeys[] = {"action", "folder"};
constexpr std::string_view kLimitsKeys[] = {"max_message_size", "quarantine_keep_bytes", "max_batch_bytes",
                                            "max_mime_depth",   "max_parts", "new_threads_per_sender_per_hour"};
constexpr std::string_view kOutboxKeys[] = {"max_age",        "suppress_score",        "batch",
                                            "lease",          "loop_threshold",        "loop_domain_threshold",
                                            "loop_window",    "loop_cooldown",         "acknowledgement_interval",
                                            "auto_replies_per_domain_per_hour",        "auto_replies_per_hour",
                                            "retry_base"};
constexpr std::string_view kAuthKeys[] = {"trusted_authserv_ids"};
constexpr std::string_view kWebKeys[] = {"listen",       "search_language",   "author_display", "dsn_file",
                                          "dsn_env",      "search_per_minute", "search_burst",   "cache_size",
                                         "health_failure_after"};
constexpr std::string_view kLogKeys[] = {"level", "format"};
constexpr std::string_view kDaemonKeys[] = {"stop_timeout"};

enum class Protocol { kImap, kSmtp };

bool AllOf(std::string_view text, bool (*allowed)(char)) {
  for (char c : text) {
    if (!allowed(c)) return false;
  }
  return true;
}

bool IsSlugChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }
bool IsNameChar(char c) { return IsSlugChar(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '_'; }
// Text that goes into mail headers and IMAP commands: no control characters.
bool IsPrintable(char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; }

bool IsIpAddress(const std::string& host) {
  in6_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1 || inet_pton(AF_INET6, host.c_str(), &addr) == 1;
}

// `value` if `valid` accepts it; otherwise reports "key: <problem>" and returns nullopt.
template <typename T, typename Valid>
std::optional<T> Checked(Reader& r, const Value& v, std::optional<T> value, Valid valid,
                         std::string_view problem) {
  if (value && !valid(*value)) {
    r.Error(v.mark, v.key + ": " + std::string(problem));
    return std::nullopt;
  }
  return value;
}

// A string that `valid` accepts; otherwise reports "key: expected <expected>, got '<text>'".
std::optional<std::string> Text(Reader& r, const Value& v, bool (*valid)(const std::string&),
                                std::string_view expected) {
  auto text = r.String(v);
  if (text && !valid(*text)) {
    r.Error(v.mark, v.key + ": expected " + std::string(expected) + ", got '" + *text + "'");
    return std::nullopt;
  }
  return text;
}

bool IsSlug(const std::string& t) { return AllOf(t, IsSlugChar); }
bool IsMailboxName(const std::string& t) { return AllOf(t, IsNameChar); }
bool IsPrintableText(const std::string& t) { return AllOf(t, IsPrintable); }
bool IsHost(const std::string& t) { return internal::IsValidDomain(t) || IsIpAddress(t); }
bool IsHeaderAddress(const std::string& t) { return internal::HeaderAddress(t).has_value(); }
// A text-search configuration name, optionally schema-qualified: an SQL identifier or two.
bool IsRegconfig(const std::string& t) {
  if (t.empty() || t.size() > 127 || t.front() == '.' || t.back() == '.' || std::count(t.begin(), t.end(), '.') > 1) {
    return false;
  }
  return AllOf(t, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'; });
}
// An address template: an address once "{token}" in it is replaced.
bool IsTokenTemplate(const std::string& t) {
  std::string sample = t;
  std::size_t token = sample.find("{token}");
  if (token == std::string::npos) return false;
  return IsHeaderAddress(sample.replace(token, 7, "token"));
}

constexpr std::string_view kAddressExpected =
    "an email address like help@example.com or Name <help@example.com>";

class Loader {
 public:
  Loader(Reader& reader, const LoadOptions& options)
      : r_(reader),
        mail_secrets_(options.secrets == LoadOptions::Secrets::kAll ? internal::SecretRead::kValue
                                                                    : internal::SecretRead::kShapeOnly),
        reply_key_read_(options.secrets == LoadOptions::Secrets::kDatabaseOnly
                            ? internal::SecretRead::kShapeOnly
                            : internal::SecretRead::kValue) {}

  Config Load(const YAML::Node& root) {
    Section top(r_, Value{root, root.Mark(), root.Mark(), "configuration"}, "at the top level", kTopKeys);
    if (auto v = top.Get("instance", Need::kRequired)) ReadInstance(*v);
    if (auto v = top.Get("database", Need::kRequired)) {
      Section s(r_, *v, "in database", kDatabaseKeys);
      if (auto dsn = s.SecretValue("dsn", Need::kRequired)) config_.database.dsn = std::move(*dsn);
      config_.database.mailbox_pool = s.Int("mailbox_pool", 1, 64).value_or(config_.database.mailbox_pool);
    }
    if (auto v = top.Get("secrets", Need::kRequired)) ReadSecrets(*v);
    if (auto v = top.Get("smtp", Need::kRequired)) ReadSmtp(*v);
    if (auto v = top.Get("categories")) ReadCategories(*v);
    if (auto v = top.Get("mailboxes", Need::kRequired)) ReadMailboxes(*v);
    if (auto v = top.Get("limits")) ReadLimits(*v);
    if (auto v = top.Get("outbox")) ReadOutbox(*v);
    if (auto v = top.Get("auth")) {
      Section s(r_, *v, "in auth", kAuthKeys);
      config_.auth.trusted_authserv_ids =
          s.Read("trusted_authserv_ids", Need::kOptional, [&](const Value& ids) {
             return r_.List(ids, "authserv-ids", true, [&](const Value& id) {
               auto host = Text(r_, id, IsHost, "a host name");
               return host ? std::optional(internal::Lower(*host)) : std::nullopt;
             });
           }).value_or(std::vector<std::string>{});
    }
    if (auto v = top.Get("web")) ReadWeb(*v);
    if (auto v = top.Get("log")) {
      Section s(r_, *v, "in log", kLogKeys);
      config_.log.level = s.Enum<base::LogLevel>("level", internal::kLogLevels).value_or(config_.log.level);
      config_.log.format = s.Enum<base::LogFormat>("format", internal::kLogFormats).value_or(config_.log.format);
    }
    if (auto v = top.Get("daemon")) {
      Section s(r_, *v, "in daemon", kDaemonKeys);
      if (auto t = s.Get("stop_timeout")) {
        config_.daemon.stop_timeout =
            DurationBetween(*t, std::chrono::seconds(1), std::chrono::minutes(10), "1s and 10m")
                .value_or(config_.daemon.stop_timeout);
      }
    }
    CheckCategoryReferences();
    return std::move(config_);
  }

 private:
  void ReadInstance(const Value& v) {
    Section s(r_, v, "in instance", kInstanceKeys);
    config_.instance.domain =
        s.Read("domain", Need::kRequired, [&](const Value& d) { return r_.Domain(d); }).value_or("");
    config_.instance.base_url =
        s.Read("base_url", Need::kRequired, [&](const Value& u) { return Url(u); }).value_or("");
    config_.instance.name = s.Read("name", Need::kOptional, [&](const Value& n) {
                               return Text(r_, n, IsPrintableText, "text without control characters");
                             }).value_or(config_.instance.domain);
  }

  std::optional<std::string> Url(const Value& v) {
    auto url = r_.String(v);
    if (!url) return std::nullopt;
    std::string_view rest = *url;
    bool scheme = rest.starts_with("https://") || rest.starts_with("http://");
    if (scheme) rest.remove_prefix(rest.find("//") + 2);
    if (!scheme || rest.empty() || rest.front() == '/' ||
        !AllOf(rest, [](char c) { return c > 0x20 && c != 0x7f; })) {
      r_.Error(v.mark, v.key + ": expected an http:// or https:// URL, got '" + *url + "'");
      return std::nullopt;
    }
    while (url->back() == '/') url->pop_back();
    return url;
  }

  void ReadSecrets(const Value& v) {
    Section s(r_, v, "in secrets", kSecretsKeys);
    auto key = s.SecretValue("reply_key", Need::kRequired, reply_key_read_);
    if (!key) return;
    if (reply_key_read_ == internal::SecretRead::kValue && key->reveal().size() < kMinReplyKeySize) {
      r_.Warning(s.mark(), "the reply key (" + key->source() + ") is shorter than " +
                               std::to_string(kMinReplyKeySize) +
                               " bytes; make one with: openssl rand -base64 32");
    }
    config_.secrets.reply_key = std::move(*key);
  }

  // The keys IMAP and SMTP share: host, port, tls, ca_file, tls_sha256, username, password.
  void ReadServer(Section& s, ServerConfig& server, Protocol protocol) {
    const bool imap = protocol == Protocol::kImap;
    auto host = s.Read("host", Need::kRequired,
                       [&](const Value& h) { return Text(r_, h, IsHost, "a host name or IP address"); });
    server.host = host.value_or("");
    server.tls =
        s.Enum<TlsMode>("tls", internal::kTlsModes).value_or(imap ? TlsMode::kImplicit : TlsMode::kStartTls);
    if (auto port = s.Read("port", Need::kOptional, [&](const Value& p) { return r_.Port(p); })) {
      server.port = *port;
    } else if (imap) {
      server.port = server.tls == TlsMode::kImplicit ? 993 : 143;
    } else {
      server.port = server.tls == TlsMode::kImplicit ? 465 : server.tls == TlsMode::kStartTls ? 587 : 25;
    }
    server.ca_file =
        s.Read("ca_file", Need::kOptional, [&](const Value& f) { return CaFile(f); }).value_or("");
    server.tls_sha256 =
        s.Read("tls_sha256", Need::kOptional, [&](const Value& p) { return Pin(p); }).value_or("");
    server.username = s.String("username", imap ? Need::kRequired : Need::kOptional).value_or("");
    const bool has_username = s.Get("username").has_value();
    server.auth = s.Enum<AuthMethod>("auth", internal::kAuthMethods).value_or(AuthMethod::kPassword);
    if (server.auth == AuthMethod::kOAuth2) {
      // A token, not a password: a password key here is a mistake worth saying.
      for (std::string_view key : {"password_file", "password_env"}) {
        if (auto given = s.Get(key)) {
          r_.Error(given->key_mark, std::string(key) + ": auth: oauth2 uses no password");
        }
      }
      if (!imap && !has_username) {
        r_.Error(s.Get("auth")->key_mark, "auth: oauth2 needs 'username' in smtp (the account of the token)");
      }
      if (auto v = s.Get("oauth2", Need::kRequired)) server.oauth2 = ReadOAuth2(*v);
      ReadServerTls(s, server, host);
      return;
    }
    if (auto given = s.Get("oauth2")) r_.Error(given->key_mark, "oauth2 needs auth: oauth2");
    server.password =
        s.SecretValue("password", has_username ? Need::kRequired : Need::kOptional, mail_secrets_);
    if (!imap && !has_username && server.password) {
      auto password_key = s.Get("password_file");
      if (!password_key) password_key = s.Get("password_env");
      r_.Error(password_key->key_mark, "a password without a username; add 'username' in smtp");
    }
    ReadServerTls(s, server, host);
  }

  // The checks of `tls` that need the host.
  void ReadServerTls(Section& s, const ServerConfig& server, const std::optional<std::string>& host) {
    if (server.tls == TlsMode::kNone && host && !base::IsLoopbackHost(*host)) {
      r_.Error(s.Get("tls")->mark,
               "tls: none to '" + *host +
                   "': plaintext is only allowed to loopback (localhost, 127.0.0.0/8, ::1)");
    }
    if (server.tls == TlsMode::kNone) {
      for (std::string_view key : {"ca_file", "tls_sha256"}) {
        if (auto given = s.Get(key)) {
          r_.Warning(given->key_mark, std::string(key) + " has no effect with tls: none");
        }
      }
    }
  }

  // imap.oauth2: the token endpoint and the grant.
  OAuth2Config ReadOAuth2(const Value& v) {
    Section s(r_, v, "in oauth2", kOAuth2Keys);
    OAuth2Config o;
    o.token_url = s.Read("token_url", Need::kRequired, [&](const Value& u) -> std::optional<std::string> {
                     auto text = r_.String(u);
                     if (!text) return std::nullopt;
                     if (std::string problem = base::SecretUrlProblem(*text); !problem.empty()) {
                       r_.Error(u.mark, "token_url: " + problem + ", got '" + *text + "'");
                       return std::nullopt;
                     }
                     return text;
                   }).value_or("");
    o.client_id = s.String("client_id", Need::kRequired).value_or("");
    o.grant = s.Enum<OAuth2GrantType>("grant", internal::kOAuth2Grants).value_or(o.grant);
    const bool refresh = o.grant == OAuth2GrantType::kRefreshToken;
    o.client_secret =
        s.SecretValue("client_secret", refresh ? Need::kOptional : Need::kRequired, mail_secrets_);
    if (refresh) {
      o.refresh_token = s.SecretValue("refresh_token", Need::kRequired, mail_secrets_);
    } else {
      for (std::string_view key : {"refresh_token_file", "refresh_token_env"}) {
        if (auto given = s.Get(key)) {
          r_.Error(given->key_mark, std::string(key) + ": grant: client_credentials uses no refresh token");
        }
      }
    }
    o.scope = s.String("scope").value_or("");
    o.mechanism = s.Enum<OAuth2Mechanism>("mechanism", internal::kOAuth2Mechanisms).value_or(o.mechanism);
    o.ca_file = s.Read("ca_file", Need::kOptional, [&](const Value& f) { return CaFile(f); }).value_or("");
    return o;
  }

  // A CA bundle for a mail server or token endpoint: a readable file, resolved beside the configuration.
  std::optional<std::string> CaFile(const Value& f) {
    // The web does not talk to mail servers: their CA files need not exist where it runs.
    if (mail_secrets_ == internal::SecretRead::kShapeOnly) return r_.FilePath(f);
    return r_.ReadableFile(f);
  }

  // A certificate pin: 64 hex digits, colons allowed; stored lower-case without colons.
  std::optional<std::string> Pin(const Value& v) {
    auto text = r_.String(v);
    if (!text) return std::nullopt;
    std::string hex;
    for (char c : *text) {
      if (c != ':') hex += c;
    }
    hex = internal::Lower(hex);
    if (hex.size() != 64 ||
        !AllOf(hex, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); })) {
      r_.Error(v.mark, v.key + ": expected the SHA-256 of the server certificate as 64 hex digits, got '" +
                           *text + "'");
      return std::nullopt;
    }
    return hex;
  }

  void ReadSmtp(const Value& v) {
    Section s(r_, v, "in smtp", kSmtpKeys);
    ReadServer(s, config_.smtp, Protocol::kSmtp);
    config_.smtp.from = s.Read("from", Need::kRequired, [&](const Value& f) {
                           return Text(r_, f, IsHeaderAddress, kAddressExpected);
                         }).value_or("");
    config_.smtp.reply_to =
        s.Read("reply_to", Need::kRequired, [&](const Value& t) {
           return Text(r_, t, IsTokenTemplate,
                       "an address template containing {token}, like help+{token}@example.com");
         }).value_or("");
    config_.smtp.bounce_address =
        s.Read("bounce_address", Need::kOptional, [&](const Value& t) {
           return Text(r_, t, IsTokenTemplate,
                       "an address template containing {token}, like bounces+{token}@example.com");
         }).value_or("");
    // The default: bounces+{token}@ the domain of `from`.
    if (!s.Get("bounce_address") && !config_.smtp.from.empty()) {
      const std::string address = internal::HeaderAddress(config_.smtp.from).value_or("");
      config_.smtp.bounce_address = "bounces+{token}" + internal::Lower(address.substr(address.rfind('@')));
    }
  }

  // The required key `key` of `s`, checked as Text() does; nullopt also when
  // an earlier item of the list used the same value (reported by `names`).
  std::optional<std::string> UniqueName(Section& s, std::string_view key, UniqueNames& names,
                                        bool (*valid)(const std::string&), std::string_view expected) {
    auto v = s.Get(key, Need::kRequired);
    if (!v) return std::nullopt;
    auto text = Text(r_, *v, valid, expected);
    if (!text || !names.Add(r_, *text, v->mark)) return std::nullopt;
    return text;
  }

  void ReadCategories(const Value& v) {
    auto items = r_.Items(v, "categories", true);
    if (!items) return;
    UniqueNames slugs("category slug");
    for (const Value& item : *items) {
      Section s(r_, item, "in category", kCategoryKeys);
      Category category;
      auto slug = UniqueName(s, "slug", slugs, IsSlug, "lower-case letters, digits and '-'");
      category.name = s.String("name", Need::kRequired).value_or("");
      category.description = s.String("description").value_or("");
      category.is_public = s.Bool("public").value_or(category.is_public);
      for (auto [key, addresses] : {std::pair{"watchers", &category.watchers}, {"lists", &category.lists}}) {
        *addresses = s.Read(key, Need::kOptional, [&](const Value& w) {
                        return r_.List(w, "addresses", true, [&](const Value& a) { return r_.Address(a); });
                      }).value_or(std::vector<std::string>{});
      }
      if (!slug) continue;
      category.slug = *slug;
      config_.categories.push_back(std::move(category));
    }
  }

  void ReadMailboxes(const Value& v) {
    auto items = r_.Items(v, "mailboxes", false);
    if (!items) return;
    UniqueNames names("mailbox name");
    for (const Value& item : *items) {
      Section s(r_, item, "in mailbox", kMailboxKeys);
      MailboxConfig mailbox;
      mailbox.name =
          UniqueName(s, "name", names, IsMailboxName, "letters, digits, '.', '_' and '-'").value_or("");
      if (auto imap = s.Get("imap", Need::kRequired)) ReadImap(*imap, mailbox.imap);
      if (auto after = s.Get("after")) ReadAfter(*after, mailbox);
      if (auto quarantine = s.Get("quarantine_folder")) {
        mailbox.quarantine_folder = Folder(*quarantine).value_or(mailbox.quarantine_folder);
        CheckNotSourceFolder(*quarantine, mailbox.quarantine_folder, mailbox.imap.folder);
      }
      mailbox.import_max_age = s.Duration("import_max_age").value_or(mailbox.import_max_age);
      mailbox.acknowledge = s.Bool("acknowledge").value_or(mailbox.acknowledge);
      mailbox.notify_unverified_senders =
          s.Bool("notify_unverified_senders").value_or(mailbox.notify_unverified_senders);
      if (auto rules = s.Get("rules", Need::kRequired)) {
        for (internal::ReadRule& rule : internal::ReadRules(r_, *rules)) {
          if (rule.rule.action == RuleAction::kThread) {
            references_.push_back({rule.rule.category, rule.category_mark});
          }
          mailbox.rules.push_back(std::move(rule.rule));
        }
      }
      config_.mailboxes.push_back(std::move(mailbox));
    }
  }

  // A duration longer than 0s.
  std::optional<std::chrono::milliseconds> PositiveDuration(const Value& v) {
    return Checked(
        r_, v, r_.Duration(v), [](std::chrono::milliseconds d) { return d.count() > 0; },
        "must be longer than 0s");
  }

  // An IMAP folder name: printable text.
  std::optional<std::string> Folder(const Value& v) {
    return Text(r_, v, IsPrintableText, "a folder name without control characters");
  }

  // Moving processed or quarantined mail into the folder being read would fetch it again, forever.
  void CheckNotSourceFolder(const Value& v, const std::string& folder, const std::string& source) {
    if (folder == source) {
      r_.Error(v.mark, v.key + ": must differ from the folder being read ('" + source + "')");
    }
  }

  void ReadImap(const Value& v, ImapConfig& imap) {
    Section s(r_, v, "in imap", kImapKeys);
    ReadServer(s, imap, Protocol::kImap);
    imap.folder =
        s.Read("folder", Need::kOptional, [&](const Value& f) { return Folder(f); }).value_or(imap.folder);
    imap.idle = s.Bool("idle").value_or(imap.idle);
    if (auto interval = s.Get("poll_interval")) {
      imap.poll_interval = PositiveDuration(*interval).value_or(imap.poll_interval);
    }
    if (auto t = s.Get("timeout")) {
      imap.timeout = DurationBetween(*t, std::chrono::seconds(1), std::chrono::minutes(10), "1s and 10m")
                         .value_or(imap.timeout);
    }
    if (auto k = s.Get("keepalive")) {
      imap.keepalive = DurationBetween(*k, std::chrono::seconds(1), std::chrono::minutes(25), "1s and 25m")
                           .value_or(imap.keepalive);
    }
  }

  // A duration within [low, high]; `range` says so in the error.
  std::optional<std::chrono::milliseconds> DurationBetween(const Value& v, std::chrono::milliseconds low,
                                                           std::chrono::milliseconds high,
                                                           const std::string& range) {
    return Checked(
        r_, v, r_.Duration(v), [low, high](std::chrono::milliseconds d) { return d >= low && d <= high; },
        "must be between " + range);
  }

  void ReadAfter(const Value& v, MailboxConfig& mailbox) {
    Section s(r_, v, "in after", kAfterKeys);
    AfterConfig& after = mailbox.after;
    after.action =
        s.Enum<AfterAction>("action", internal::kAfterActions, Need::kRequired).value_or(after.action);
    auto folder = s.Get("folder");
    if (after.action != AfterAction::kMove) {
      if (folder) {
        r_.Warning(folder->key_mark,
                   "folder has no effect with action: " + std::string(AfterActionName(after.action)) +
                       " (only with action: move)");
      }
      return;
    }
    if (!folder) {
      s.Missing("key 'folder'", "needed for action: move");
      return;
    }
    after.folder = Folder(*folder).value_or("");
    CheckNotSourceFolder(*folder, after.folder, mailbox.imap.folder);
  }

  void ReadLimits(const Value& v) {
    Section s(r_, v, "in limits", kLimitsKeys);
    LimitsConfig& limits = config_.limits;
    if (auto size = s.Get("max_message_size")) {
      limits.max_message_size =
          Checked(
              r_, *size, r_.Size(*size), [](std::uint64_t n) { return n > 0; }, "must be greater than 0")
              .value_or(limits.max_message_size);
    }
    for (auto [key, field] : {std::pair{"quarantine_keep_bytes", &limits.quarantine_keep_bytes},
                              std::pair{"max_batch_bytes", &limits.max_batch_bytes}}) {
      if (auto size = s.Get(key)) {
        *field = Checked(
                     r_, *size, r_.Size(*size), [](std::uint64_t n) { return n > 0; }, "must be greater than 0")
                     .value_or(*field);
      }
    }
    limits.max_mime_depth = s.Int("max_mime_depth", 1, 1000).value_or(limits.max_mime_depth);
    limits.max_parts = s.Int("max_parts", 1, 100000).value_or(limits.max_parts);
    limits.new_threads_per_sender_per_hour =
        s.Int("new_threads_per_sender_per_hour", 1, 100000).value_or(limits.new_threads_per_sender_per_hour);
  }

  void ReadOutbox(const Value& v) {
    Section s(r_, v, "in outbox", kOutboxKeys);
    OutboxConfig& outbox = config_.outbox;
    if (auto age = s.Get("max_age")) outbox.max_age = PositiveDuration(*age).value_or(outbox.max_age);
    if (auto score = s.Get("suppress_score")) {
      outbox.suppress_score =
          Checked(
              r_, *score, r_.Number(*score), [](double n) { return n > 0; }, "must be greater than 0")
              .value_or(outbox.suppress_score);
    }
    outbox.batch = s.Int("batch", 1, 1000).value_or(outbox.batch);
    for (auto [key, field] : {std::pair{"lease", &outbox.lease}, std::pair{"retry_base", &outbox.retry_base}}) {
      if (auto d = s.Get(key)) {
        *field = Checked(
                     r_, *d, r_.Duration(*d),
                     [](std::chrono::milliseconds ms) { return ms >= std::chrono::seconds(1); }, "must be at least 1s")
                     .value_or(*field);
      }
    }
    outbox.loop_threshold = s.Int("loop_threshold", 1, 100000).value_or(outbox.loop_threshold);
    outbox.loop_domain_threshold = s.Int("loop_domain_threshold", 1, 100000).value_or(outbox.loop_domain_threshold);
    if (auto w = s.Get("loop_window")) outbox.loop_window = PositiveDuration(*w).value_or(outbox.loop_window);
    if (auto c = s.Get("loop_cooldown")) outbox.loop_cooldown = PositiveDuration(*c).value_or(outbox.loop_cooldown);
    if (auto interval = s.Get("acknowledgement_interval")) {
      outbox.acknowledgement_interval =
          Checked(
              r_, *interval, r_.Duration(*interval),
              [](std::chrono::milliseconds d) { return d >= std::chrono::milliseconds(0); }, "must not be negative")
              .value_or(outbox.acknowledgement_interval);
    }
    outbox.auto_replies_per_domain_per_hour = s.Int("auto_replies_per_domain_per_hour", 1, 1000000)
                                                  .value_or(outbox.auto_replies_per_domain_per_hour);
    outbox.auto_replies_per_hour =
        s.Int("auto_replies_per_hour", 1, 1000000).value_or(outbox.auto_replies_per_hour);
  }

  void ReadWeb(const Value& v) {
    Section s(r_, v, "in web", kWebKeys);
    WebConfig& web = config_.web;
    web.enabled = true;
    if (auto listen = s.Get("listen")) ReadListen(*listen);
    if (auto language = s.Get("search_language")) {
      web.search_language = Text(r_, *language, IsRegconfig, "a text-search configuration name like simple or english")
                                .value_or(web.search_language);
    }
    web.author_display =
        s.Enum<AuthorDisplay>("author_display", internal::kAuthorDisplays).value_or(web.author_display);
    web.dsn = s.SecretValue("dsn", Need::kOptional);
    web.search_per_minute = s.Int("search_per_minute", 1, 1000000).value_or(web.search_per_minute);
    web.search_burst = s.Int("search_burst", 1, 100000).value_or(web.search_burst);
    if (auto size = s.Get("cache_size")) {
      web.cache_size = Checked(
                           r_, *size, r_.Size(*size), [](std::uint64_t n) { return n >= (1u << 20); },
                           "must be at least 1MiB")
                           .value_or(web.cache_size);
    }
    if (auto after = s.Get("health_failure_after")) {
      web.health_failure_after = Checked(
                                     r_, *after, r_.Duration(*after),
                                     [](std::chrono::milliseconds d) { return d >= std::chrono::seconds(1); },
                                     "must be at least 1s")
                                     .value_or(web.health_failure_after);
    }
  }

  void ReadListen(const Value& listen) {
    auto text = r_.String(listen);
    if (!text) return;
    // "host:port" or "[v6]:port"; port 0 picks a free port.
    std::size_t colon = text->rfind(':');
    std::string host = colon == std::string::npos ? "" : text->substr(0, colon);
    std::string port = colon == std::string::npos ? "" : text->substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int number = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (!IsHost(host) || port.empty() || ec != std::errc() || end != port.data() + port.size() ||
        number < 0 || number > 65535) {
      r_.Error(listen.mark,
               "listen: expected host:port like 127.0.0.1:8080 or [::1]:8080, got '" + *text + "'");
      return;
    }
    config_.web.listen = *text;
    config_.web.host = host;
    config_.web.port = static_cast<std::uint16_t>(number);
  }

  void CheckCategoryReferences() {
    for (const auto& [slug, mark] : references_) {
      if (config_.FindCategory(slug) != nullptr) continue;
      std::string message = "category: unknown category '" + slug + "'";
      std::string names;
      std::optional<std::string> close;
      for (const Category& category : config_.categories) {
        names += (names.empty() ? "" : ", ") + category.slug;
        if (internal::EditDistance(slug, category.slug) <= 2 && !close) close = category.slug;
      }
      if (close) {
        message += "; did you mean '" + *close + "'?";
      } else if (names.empty()) {
        message += "; no categories are defined";
      } else {
        message += "; the categories are: " + names;
      }
      r_.Error(mark, message);
    }
  }

  Reader& r_;
  const internal::SecretRead mail_secrets_;    // how the SMTP/IMAP passwords are read
  const internal::SecretRead reply_key_read_;  // how the reply key is read
  Config config_;
  std::vector<std::pair<std::string, YAML::Mark>> references_;  // Categories named by thread rules.
};

std::string DirectoryOf(const std::string& path) {
  std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

LoadResult LoadConfigString(std::string_view text, const std::string& file_name, const LoadOptions& options) {
  LoadResult result;
  Reader reader(file_name, DirectoryOf(file_name));
  try {
    YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) {
      reader.Error(YAML::Mark::null_mark(), "the configuration is empty");
    } else {
      Config config = Loader(reader, options).Load(root);
      if (!reader.has_errors()) result.config = std::move(config);
    }
  } catch (const YAML::ParserException& e) {
    reader.Error(e.mark, "invalid YAML: " + e.msg);
  } catch (const YAML::Exception& e) {
    reader.Error(e.mark, "cannot read the configuration: " + e.msg);
  } catch (const std::exception& e) {
    reader.Error(YAML::Mark::null_mark(), std::string("cannot load the configuration: ") + e.what());
  }
  if (reader.has_errors()) result.config.reset();
  result.diagnostics = reader.TakeDiagnostics();
  return result;
}

LoadResult LoadConfigFile(const std::string& path, const LoadOptions& options) {
  internal::FileContent file = internal::ReadRegularFile(path, kMaxConfigSize);
  if (!file.ok) {
    LoadResult result;
    result.diagnostics.push_back({Diagnostic::Severity::kError, path, 0, 0, file.error});
    return result;
  }
  return LoadConfigString(file.data, path, options);
}

std::vector<KnownSection> KnownKeys() {
  auto list = [](std::span<const std::string_view> keys) {
    return std::vector<std::string_view>(keys.begin(), keys.end());
  };
  return {
      {"", list(kTopKeys)},
      {"instance", list(kInstanceKeys)},
      {"database", list(kDatabaseKeys)},
      {"secrets", list(kSecretsKeys)},
      {"smtp", list(kSmtpKeys)},
      {"categories", list(kCategoryKeys)},
      {"mailboxes", list(kMailboxKeys)},
      {"mailboxes[].imap", list(kImapKeys)},
      {"mailboxes[].imap.oauth2", list(kOAuth2Keys)},
      {"mailboxes[].after", list(kAfterKeys)},
      {"rules", internal::RuleKeys()},
      {"matchers", internal::MatcherKeyNames()},
      {"auth", list(kAuthKeys)},
      {"limits", list(kLimitsKeys)},
      {"outbox", list(kOutboxKeys)},
      {"web", list(kWebKeys)},
      {"log", list(kLogKeys)},
      {"daemon", list(kDaemonKeys)},
  };
}

}  // namespace config
