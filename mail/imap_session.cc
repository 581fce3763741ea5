#include "mail/imap_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>

#include "base/host.h"
#include "base/log.h"
#include "mail/oauth2.h"
#include "mail/tcp_connect.h"
#include "mail/tls_verify.h"

// libetpan last, and only in this file: its headers define INLINE, TRUE, FALSE
// and function-like macros (shared/TESTENV.md, pitfall 4).
#include <libetpan/libetpan.h>

// Exported by Debian's libetpan (built with TLS), but declared by mailstream_ssl.h only when the includer
// defines USE_SSL, which would also change other declarations. Used by FailReadsAtEof below.
extern "C" mailstream_low_driver* mailstream_ssl_driver;

namespace mail {
namespace {

using base::Error;
using base::ErrorKind;
using base::MakeError;
using Clock = std::chrono::steady_clock;

// RFC 2177: servers may log out a client that idles for 30 minutes.
constexpr std::chrono::milliseconds kMaxIdle = std::chrono::minutes(25);

// Server response codes (RFC 5530 and Dovecot's) after which the same command
// may well succeed later.
constexpr const char* kTransientCodes[] = {"UNAVAILABLE", "INUSE", "SERVERBUG", "LIMIT", "OVERQUOTA",
                                           "EXPUNGEISSUED"};

// libetpan's own failure codes; any other code is a command's NO.
struct LibraryFailure {
  int code;
  ErrorKind kind;
  const char* text;
  bool closes_session;  // the connection can no longer be trusted to be in step
  bool server_spoke;    // the server's text belongs to this failure (else it is a stale one)
};
constexpr LibraryFailure kLibraryFailures[] = {
    {MAILIMAP_ERROR_STREAM, ErrorKind::kTransient, "connection lost or timed out", true, false},
    {MAILIMAP_ERROR_PARSE, ErrorKind::kTransient, "cannot parse the server's answer", true, false},
    {MAILIMAP_ERROR_FATAL, ErrorKind::kTransient, "server ended the session (BYE)", true, true},
    {MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION, ErrorKind::kTransient, "server refused the connection", true, true},
    {MAILIMAP_ERROR_CONNECTION_REFUSED, ErrorKind::kTransient, "connection refused", true, false},
    {MAILIMAP_ERROR_SSL, ErrorKind::kTransient, "TLS failure", true, false},
    // A BAD answer or a tag out of step: we cannot tell which, so trust the connection no more.
    {MAILIMAP_ERROR_PROTOCOL, ErrorKind::kProtocol, "server answered BAD or out of step", true, true},
    {MAILIMAP_ERROR_MEMORY, ErrorKind::kInternal, "out of memory", false, false},
    {MAILIMAP_ERROR_BAD_STATE, ErrorKind::kInternal, "command not allowed in this state (no folder selected?)",
     false, false},
};


// libetpan waits in whole seconds.
time_t TimeoutSeconds(std::chrono::milliseconds timeout) {
  return std::max<time_t>(1, static_cast<time_t>((timeout.count() + 999) / 1000));
}

// libetpan 1.9.4 (Debian 12) reads an IMAP literal in a loop that ends only when a read fails with -1.
// When the connection ends in the middle of a literal (a reset mid-FETCH over plain TCP: the first read
// fails, every later one returns 0, end of file), the loop reads again for ever at full CPU, past every
// timeout and Interrupt(); upstream fixed it in 2026 (commit 68de795, "Handle EOF while reading IMAP
// literals"), in no Debian release yet. An IMAP client never expects the server to end the stream in
// the middle of a read, so each stream's low layer gets a copy of its driver whose read reports end of
// file as a failure; the rest of the driver is libetpan's.
template <mailstream_low_driver** kDriver>
ssize_t ReadFailingAtEof(mailstream_low* low, void* buffer, size_t count) {
  const ssize_t n = (*kDriver)->mailstream_read(low, buffer, count);
  return n == 0 && count > 0 ? -1 : n;
}

template <mailstream_low_driver** kDriver>
mailstream_low_driver* EofFailingCopy() {
  static mailstream_low_driver copy = [] {
    mailstream_low_driver d = **kDriver;
    d.mailstream_read = ReadFailingAtEof<kDriver>;
    return d;
  }();
  return &copy;
}

// Gives `stream`'s current low layer (plain or TLS) the driver that fails at end of file.
void FailReadsAtEof(mailstream* stream) {
  mailstream_low* low = mailstream_get_low(stream);
  if (low == nullptr) return;
  if (low->driver == mailstream_socket_driver) low->driver = EofFailingCopy<&mailstream_socket_driver>();
  if (low->driver == mailstream_ssl_driver) low->driver = EofFailingCopy<&mailstream_ssl_driver>();
}

template <typename T, typename F>
void ForEach(clist* list, F&& visit) {
  if (list == nullptr) return;
  for (clistiter* it = clist_begin(list); it != nullptr; it = clist_next(it)) {
    visit(static_cast<T*>(clist_content(it)));
  }
}

// --- owners of libetpan and system handles ---

// Closes the stream (no LOGOUT, which could block on a dead or untrusted peer) and frees the session.
struct SessionDeleter {
  void operator()(mailimap* imap) const {
    if (imap->imap_stream != nullptr) {
      mailstream_unsetup_idle(imap->imap_stream);
      mailstream_close(imap->imap_stream);
      imap->imap_stream = nullptr;
    }
    mailimap_free(imap);
  }
};
using SessionPtr = std::unique_ptr<mailimap, SessionDeleter>;

// Owns a libetpan value freed by `Free`.
template <auto Free>
struct FreeWith {
  template <typename T>
  void operator()(T* value) const {
    Free(value);
  }
};
using SetPtr = std::unique_ptr<mailimap_set, FreeWith<mailimap_set_free>>;
using FlagListPtr = std::unique_ptr<mailimap_flag_list, FreeWith<mailimap_flag_list_free>>;
using FetchTypePtr = std::unique_ptr<mailimap_fetch_type, FreeWith<mailimap_fetch_type_free>>;
using SearchKeyPtr = std::unique_ptr<mailimap_search_key, FreeWith<mailimap_search_key_free>>;
using StoreAttPtr = std::unique_ptr<mailimap_store_att_flags, FreeWith<mailimap_store_att_flags_free>>;
using StreamPtr = std::unique_ptr<mailstream, FreeWith<mailstream_close>>;

// " (3 messages)", for command descriptions in errors.
std::string Messages(size_t count) { return " (" + std::to_string(count) + " messages)"; }

Error OutOfMemory() { return MakeError(ErrorKind::kInternal, "out of memory building an IMAP command"); }

// --- hosts and TCP ---

bool IsIpLiteral(const std::string& host) {
  std::array<unsigned char, sizeof(in6_addr)> buf{};
  return inet_pton(AF_INET, host.c_str(), buf.data()) == 1 || inet_pton(AF_INET6, host.c_str(), buf.data()) == 1;
}

// --- TLS ---

// libetpan calls this before its handshake: send SNI for host names (RFC 6066 forbids it for IP literals).
void SetServerName(struct mailstream_ssl_context* context, void* data) {
  auto* server_name = static_cast<std::string*>(data);
  if (!server_name->empty()) mailstream_ssl_set_server_name(context, server_name->data());
}

std::vector<std::string> PeerCertificates(mailstream* stream) {
  std::vector<std::string> chain;
  carray* certs = mailstream_get_certificate_chain(stream);
  if (certs == nullptr) return chain;
  for (unsigned i = 0; i < carray_count(certs); ++i) {
    const auto* der = static_cast<const MMAPString*>(carray_get(certs, i));
    chain.emplace_back(der->str, der->len);
  }
  mailstream_certificate_chain_free(certs);
  return chain;
}

// --- flags, sets, dates ---

bool IsAtom(std::string_view text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return c > 0x20 && c < 0x7f && std::strchr("(){%*\"\\]", c) == nullptr;
  });
}

base::Result<mailimap_flag*> MakeFlag(std::string_view name) {
  if (!name.empty() && name.front() == '\\') {
    std::string system(name.substr(1));
    mailimap_flag* flag = nullptr;
    if (strcasecmp(system.c_str(), "Seen") == 0) {
      flag = mailimap_flag_new_seen();
    } else if (strcasecmp(system.c_str(), "Deleted") == 0) {
      flag = mailimap_flag_new_deleted();
    } else if (strcasecmp(system.c_str(), "Answered") == 0) {
      flag = mailimap_flag_new_answered();
    } else if (strcasecmp(system.c_str(), "Flagged") == 0) {
      flag = mailimap_flag_new_flagged();
    } else if (strcasecmp(system.c_str(), "Draft") == 0) {
      flag = mailimap_flag_new_draft();
    } else if (IsAtom(system)) {
      char* copy = strdup(system.c_str());
      flag = copy != nullptr ? mailimap_flag_new_flag_extension(copy) : nullptr;
      if (flag == nullptr) free(copy);
    } else {
      return MakeError(ErrorKind::kInvalidInput, "malformed IMAP flag '" + std::string(name) + "'");
    }
    if (flag == nullptr) return OutOfMemory();
    return flag;
  }
  if (!IsAtom(name)) return MakeError(ErrorKind::kInvalidInput, "malformed IMAP flag '" + std::string(name) + "'");
  char* copy = strdup(std::string(name).c_str());
  mailimap_flag* flag = copy != nullptr ? mailimap_flag_new_flag_keyword(copy) : nullptr;
  if (flag == nullptr) {
    free(copy);
    return OutOfMemory();
  }
  return flag;
}

base::Result<FlagListPtr> MakeFlagList(const std::vector<std::string>& names) {
  FlagListPtr list(mailimap_flag_list_new_empty());
  if (!list) return OutOfMemory();
  for (const std::string& name : names) {
    base::Result<mailimap_flag*> flag = MakeFlag(name);
    if (!flag.ok()) return flag.error();
    if (mailimap_flag_list_add(list.get(), *flag) != MAILIMAP_NO_ERROR) {
      mailimap_flag_free(*flag);
      return OutOfMemory();
    }
  }
  return list;
}

// A UID set of ranges ("3:7,9"). UID 0 is refused: libetpan writes 0 as "*",
// which would name the newest message instead of none.
base::Result<SetPtr> MakeUidSet(std::vector<uint32_t> uids) {
  std::sort(uids.begin(), uids.end());
  uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
  if (!uids.empty() && uids.front() == 0) return MakeError(ErrorKind::kInvalidInput, "UID 0 does not exist");
  SetPtr set(mailimap_set_new_empty());
  if (!set) return OutOfMemory();
  for (size_t i = 0; i < uids.size();) {
    size_t j = i;
    while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
    if (mailimap_set_add_interval(set.get(), uids[i], uids[j]) != MAILIMAP_NO_ERROR) return OutOfMemory();
    i = j + 1;
  }
  return set;
}

std::chrono::system_clock::time_point ToTimePoint(const mailimap_date_time* date) {
  if (date == nullptr) return {};
  std::tm tm{};
  tm.tm_year = date->dt_year - 1900;
  tm.tm_mon = date->dt_month - 1;
  tm.tm_mday = date->dt_day;
  tm.tm_hour = date->dt_hour;
  tm.tm_min = date->dt_min;
  tm.tm_sec = date->dt_sec;
  // The zone is +hhmm as an integer (-0700 is -700).
  const int zone = std::abs(date->dt_zone);
  const int offset = (date->dt_zone < 0 ? -1 : 1) * ((zone / 100) * 3600 + (zone % 100) * 60);
  return std::chrono::system_clock::from_time_t(timegm(&tm) - offset);
}

// `att` as a message; without a body section (`need_body` false) an answer
// that carries only the UID, size and date counts too.
std::optional<ImapMessage> ToMessage(mailimap_msg_att* att, bool need_body = true) {
  ImapMessage message;
  bool has_body = !need_body;
  ForEach<mailimap_msg_att_item>(att->att_list, [&](mailimap_msg_att_item* item) {
    if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC) return;
    const mailimap_msg_att_static* value = item->att_data.att_static;
    switch (value->att_type) {
      case MAILIMAP_MSG_ATT_UID:
        message.uid = value->att_data.att_uid;
        break;
      case MAILIMAP_MSG_ATT_RFC822_SIZE:
        message.size = value->att_data.att_rfc822_size;
        break;
      case MAILIMAP_MSG_ATT_INTERNALDATE:
        message.internal_date = ToTimePoint(value->att_data.att_internal_date);
        break;
      case MAILIMAP_MSG_ATT_BODY_SECTION:
        if (const mailimap_msg_att_body_section* body = value->att_data.att_body_section) {
          if (body->sec_body_part != nullptr) message.raw.assign(body->sec_body_part, body->sec_length);
          has_body = true;
        }
        break;
      default:
        break;
    }
  });
  if (message.uid == 0 || !has_body) return std::nullopt;  // e.g. an unsolicited flag update
  return message;
}

}  // namespace

// --- the session ---

struct ImapSession::Impl {
  explicit Impl(const ImapOptions& o) : options(o), where("IMAP " + o.host + ":" + std::to_string(o.port)) {
    options.password.clear();  // needed for LOGIN only, which Connect() passes on directly
  }

  // An Error for libetpan's `code` from `command`. Closes the session when the
  // code means the connection can no longer be trusted to be in step.
  Error CommandError(int code, const std::string& command);
  Error NotConnected() const {
    return MakeError(ErrorKind::kTransient, "the session is closed after an earlier error")
        .WithContext(where);
  }
  void Close();
  bool Has(std::string_view capability) const;
  base::Status RefreshCapabilities();
  base::Status Login(const ImapOptions& credentials);
  base::Status LoginOAuth2();
  base::Result<bool> AuthenticateOnce(std::string_view mechanism, const std::string& initial);
  base::Status StartTls();
  base::Status VerifyPeer(mailstream* stream) const;
  base::Result<std::vector<uint32_t>> Search(mailimap_search_key* key, const std::string& command);
  base::Status AddFlag(mailimap_set* set, size_t count, std::string_view flag);
  base::Status ExpungeUids(mailimap_set* set, size_t count);
  bool Changed(uint32_t exists_before) const;
  int WaitForActivity(std::chrono::milliseconds wait);

  ImapOptions options;  // without the password
  const std::string where;
  SessionPtr imap;  // null once closed
  std::vector<std::string> capabilities;
  bool selected = false;
  // The UID after those the last UidsFrom in the selected folder found (Idle() looks past it).
  std::optional<uint32_t> next_uid;
  int auth_attempts = 0;     // numbers our own AUTHENTICATE tags
  std::string last_refusal;  // the text of the server's last NO to AUTHENTICATE
  std::atomic<bool> interrupt_pending{false};

  // Interrupt() runs on other threads: it reaches the stream only through
  // interrupt_stream, which is cleared under the mutex before the stream is closed.
  std::mutex interrupt_mu;
  mailstream* interrupt_stream = nullptr;  // guarded by interrupt_mu
};

Error ImapSession::Impl::CommandError(int code, const std::string& command) {
  std::string server_text;
  std::string code_atom;
  if (imap) {
    if (imap->imap_response != nullptr && *imap->imap_response != '\0') server_text = imap->imap_response;
    if (imap->imap_response_info != nullptr && imap->imap_response_info->rsp_atom != nullptr) {
      code_atom = imap->imap_response_info->rsp_atom;
    }
  }
  const std::string said = server_text.empty() ? "" : ": " + server_text;
  for (const LibraryFailure& failure : kLibraryFailures) {
    if (failure.code != code) continue;
    if (failure.closes_session) Close();
    return MakeError(failure.kind, failure.text + (failure.server_spoke ? said : ""))
        .WithContext(where + ": " + command);
  }
  // Otherwise it is the command's own error: the server said NO.
  ErrorKind kind = ErrorKind::kPermanent;
  for (const char* transient : kTransientCodes) {
    if (strcasecmp(code_atom.c_str(), transient) == 0) kind = ErrorKind::kTransient;
  }
  const std::string text = "server said NO" + (code_atom.empty() ? "" : " [" + code_atom + "]") + said;
  return MakeError(kind, text).WithContext(where + ": " + command);
}

void ImapSession::Impl::Close() {
  {
    std::lock_guard<std::mutex> lock(interrupt_mu);
    interrupt_stream = nullptr;
  }
  imap.reset();
  selected = false;
}

bool ImapSession::Impl::Has(std::string_view capability) const {
  const std::string wanted(capability);
  return std::any_of(capabilities.begin(), capabilities.end(),
                     [&wanted](const std::string& c) { return strcasecmp(c.c_str(), wanted.c_str()) == 0; });
}

base::Status ImapSession::Impl::RefreshCapabilities() {
  mailimap_capability_data* data = nullptr;
  if (int rc = mailimap_capability(imap.get(), &data); rc != MAILIMAP_NO_ERROR) {
    return CommandError(rc, "CAPABILITY");
  }
  capabilities.clear();
  ForEach<struct mailimap_capability>(data->cap_list, [this](struct mailimap_capability* cap) {
    if (cap->cap_type == MAILIMAP_CAPABILITY_AUTH_TYPE && cap->cap_data.cap_auth_type != nullptr) {
      capabilities.push_back(std::string("AUTH=") + cap->cap_data.cap_auth_type);
    } else if (cap->cap_type == MAILIMAP_CAPABILITY_NAME && cap->cap_data.cap_name != nullptr) {
      capabilities.emplace_back(cap->cap_data.cap_name);
    }
  });
  mailimap_capability_data_free(data);
  return {};
}

base::Status ImapSession::Impl::VerifyPeer(mailstream* stream) const {
  base::Status verified = VerifyServerCertificate(PeerCertificates(stream), options.host,
                                                  TlsTrust{options.ca_file, options.tls_sha256});
  if (!verified.ok()) return verified.error().WithContext(where);
  return {};
}

base::Status ImapSession::Impl::StartTls() {
  if (int rc = mailimap_starttls(imap.get()); rc != MAILIMAP_NO_ERROR) return CommandError(rc, "STARTTLS");
  mailstream* stream = imap->imap_stream;
  // Anything already buffered was sent before the handshake, unprotected, yet
  // would be read as if it came through TLS (response injection): refuse.
  if (stream->read_buffer_len > 0) {
    Close();
    return MakeError(ErrorKind::kProtocol, "server sent data after its STARTTLS answer").WithContext(where);
  }
  mailstream_low* plain = mailstream_get_low(stream);
  std::string server_name = IsIpLiteral(options.host) ? "" : options.host;
  mailstream_low* tls = mailstream_low_tls_open_with_callback_timeout(
      mailstream_low_get_fd(plain), TimeoutSeconds(options.timeout), SetServerName, &server_name);
  if (tls == nullptr) {
    Close();
    return MakeError(ErrorKind::kTransient, "TLS handshake after STARTTLS failed").WithContext(where);
  }
  mailstream_low_free(plain);  // frees the plain layer only; the descriptor now belongs to `tls`
  mailstream_set_low(stream, tls);
  FailReadsAtEof(stream);
  if (base::Status verified = VerifyPeer(stream); !verified.ok()) {
    Close();
    return verified;
  }
  // What the server announced before TLS may have been forged: ask again.
  return RefreshCapabilities();
}

base::Status ImapSession::Impl::Login(const ImapOptions& credentials) {
  if (credentials.auth != ImapOptions::Auth::kPassword) return LoginOAuth2();
  const std::string& user = credentials.username;
  int rc = MAILIMAP_NO_ERROR;
  std::string command;
  if (Has("LOGINDISABLED")) {
    if (!Has("AUTH=PLAIN")) {
      return MakeError(ErrorKind::kPermanent, "server disables LOGIN and offers no AUTH=PLAIN").WithContext(where);
    }
    command = "AUTHENTICATE PLAIN as " + user;
    rc = mailimap_authenticate(imap.get(), "PLAIN", options.host.c_str(), nullptr, nullptr, user.c_str(),
                               user.c_str(), credentials.password.c_str(), nullptr);
  } else {
    command = "LOGIN as " + user;
    rc = mailimap_login(imap.get(), user.c_str(), credentials.password.c_str());
  }
  if (rc != MAILIMAP_NO_ERROR) return CommandError(rc, command);
  // The capabilities change with authentication (MOVE, UIDPLUS, ...).
  return RefreshCapabilities();
}

// One AUTHENTICATE with an initial response, written by hand: libetpan has no
// OAUTHBEARER, and its XOAUTH2 cannot answer the server's error challenge, so
// a refused token would cost the connection. True: accepted; false: refused
// (NO; the session stays usable); an error otherwise. The token is never in a message.
base::Result<bool> ImapSession::Impl::AuthenticateOnce(std::string_view mechanism,
                                                       const std::string& initial) {
  const std::string command = "AUTHENTICATE " + std::string(mechanism) + " as " + options.username;
  const std::string tag = "mfauth" + std::to_string(++auth_attempts);
  mailstream* stream = imap->imap_stream;
  auto send = [stream](const std::string& bytes) {
    return mailstream_write(stream, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
           mailstream_flush(stream) == 0;
  };
  auto lost = [&] {
    Close();
    return MakeError(ErrorKind::kTransient, "connection lost during " + command).WithContext(where);
  };
  bool initial_sent = Has("SASL-IR");  // RFC 4959: the response rides on the command
  std::string line = tag + " AUTHENTICATE " + std::string(mechanism);
  if (initial_sent) line += " " + EncodeBase64(initial);
  if (!send(line + "\r\n")) return lost();
  for (;;) {
    const char* got = mailimap_read_line(imap.get());
    if (got == nullptr) return lost();
    std::string_view reply(got);
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.remove_suffix(1);
    if (reply.rfind("+", 0) == 0) {
      // The first challenge asks for the initial response; a later one carries the server's error
      // (RFC 7628 §3.2.3, XOAUTH2 alike), which the client acknowledges to get the tagged NO.
      std::string answer = initial_sent ? (mechanism == "OAUTHBEARER" ? "AQ==" : "") : EncodeBase64(initial);
      initial_sent = true;
      if (!send(answer + "\r\n")) return lost();
      continue;
    }
    if (reply.rfind(tag + " ", 0) != 0) continue;  // untagged data (CAPABILITY): read on
    std::string_view status = reply.substr(tag.size() + 1);
    if (status.rfind("OK", 0) == 0) return true;
    if (status.rfind("NO", 0) == 0) {
      last_refusal = std::string(status.substr(std::min<size_t>(3, status.size())));
      return false;
    }
    Close();
    return MakeError(ErrorKind::kProtocol, command + ": server answered " + std::string(status))
        .WithContext(where);
  }
}

base::Status ImapSession::Impl::LoginOAuth2() {
  const bool bearer = options.auth == ImapOptions::Auth::kOAuthBearer;
  const std::string mechanism = bearer ? "OAUTHBEARER" : "XOAUTH2";
  if (!options.oauth2)
    return MakeError(ErrorKind::kConfig, "OAuth2 login without a token source").WithContext(where);
  if (!Has("AUTH=" + mechanism)) {
    return MakeError(ErrorKind::kPermanent, "server does not offer AUTH=" + mechanism).WithContext(where);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    // The cached token first; when the server refuses it, one new token (it may have been revoked early).
    auto token = attempt == 0 ? options.oauth2->AccessToken() : options.oauth2->RefreshAccessToken();
    if (!token) return token.error().WithContext(where);
    const std::string initial =
        bearer ? OAuthBearerResponse(options.username, options.host, options.port, *token)
               : XOAuth2Response(options.username, *token);
    auto accepted = AuthenticateOnce(mechanism, initial);
    if (!accepted) return accepted.error();
    if (*accepted) {
      imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;  // we spoke for libetpan: tell it
      return RefreshCapabilities();
    }
  }
  return MakeError(ErrorKind::kPermanent, "AUTHENTICATE " + mechanism + " as " + options.username +
                                              " refused a freshly issued token: " + last_refusal)
      .WithContext(where);
}

base::Result<std::vector<uint32_t>> ImapSession::Impl::Search(mailimap_search_key* key,
                                                              const std::string& command) {
  SearchKeyPtr owned_key(key);
  if (!owned_key) return OutOfMemory();
  clist* found = nullptr;
  if (int rc = mailimap_uid_search(imap.get(), nullptr, owned_key.get(), &found); rc != MAILIMAP_NO_ERROR) {
    return CommandError(rc, command);
  }
  std::vector<uint32_t> uids;
  ForEach<uint32_t>(found, [&uids](uint32_t* uid) { uids.push_back(*uid); });
  if (found != nullptr) mailimap_search_result_free(found);
  std::sort(uids.begin(), uids.end());
  return uids;
}

base::Status ImapSession::Impl::AddFlag(mailimap_set* set, size_t count, std::string_view flag) {
  const std::string command = "UID STORE +FLAGS " + std::string(flag) + Messages(count);
  base::Result<FlagListPtr> flags = MakeFlagList({std::string(flag)});
  if (!flags.ok()) return flags.error().WithContext(where + ": " + command);
  StoreAttPtr store(mailimap_store_att_flags_new_add_flags_silent(flags->get()));
  if (!store) return OutOfMemory();
  flags->release();  // now owned by `store`
  if (int rc = mailimap_uid_store(imap.get(), set, store.get()); rc != MAILIMAP_NO_ERROR) {
    return CommandError(rc, command);
  }
  return {};
}

base::Status ImapSession::Impl::ExpungeUids(mailimap_set* set, size_t count) {
  if (base::Status deleted = AddFlag(set, count, "\\Deleted"); !deleted.ok()) return deleted;
  if (int rc = mailimap_uid_expunge(imap.get(), set); rc != MAILIMAP_NO_ERROR) {
    return CommandError(rc, "UID EXPUNGE" + Messages(count));
  }
  return {};
}

bool ImapSession::Impl::Changed(uint32_t exists_before) const {
  if (imap->imap_selection_info != nullptr && imap->imap_selection_info->sel_exists != exists_before) return true;
  const mailimap_response_info* info = imap->imap_response_info;
  return info != nullptr && info->rsp_expunged != nullptr && clist_count(info->rsp_expunged) > 0;
}

// Waits until the server sends something, Interrupt() is called or `wait`
// passes; returns a MAILSTREAM_IDLE_* code.
int ImapSession::Impl::WaitForActivity(std::chrono::milliseconds wait) {
  mailstream* stream = imap->imap_stream;
  // Data that libetpan has already read would not wake poll(): look first.
  if (stream->read_buffer_len > 0) return MAILSTREAM_IDLE_HASDATA;
  return mailstream_wait_idle(stream, static_cast<int>(TimeoutSeconds(wait)));
}

ImapSession::ImapSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ImapSession::~ImapSession() {
  if (impl_) impl_->Close();
}

base::Result<std::unique_ptr<ImapSession>> ImapSession::Connect(const ImapOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  const std::string& where = impl->where;
  if (options.host.empty()) return MakeError(ErrorKind::kConfig, "IMAP host is empty");
  if (options.username.empty()) return MakeError(ErrorKind::kConfig, "IMAP user name is empty").WithContext(where);
  if (options.timeout.count() <= 0) {
    return MakeError(ErrorKind::kConfig, "IMAP timeout must be positive").WithContext(where);
  }
  const bool plain_only = options.tls == ImapOptions::Tls::kNone;
  if (plain_only && !base::IsLoopbackHost(options.host)) {
    return MakeError(ErrorKind::kConfig,
                     "tls: none sends the password in clear text and is allowed only to a loopback host "
                     "(localhost, 127.0.0.0/8, ::1)")
        .WithContext(where);
  }
  if (!options.tls_sha256.empty()) {
    if (base::Result<std::string> pin = NormalizeSha256Pin(options.tls_sha256); !pin.ok()) {
      return pin.error().WithContext(where);
    }
  }

  TcpOptions tcp;
  tcp.timeout = options.timeout;
  tcp.keepalive = options.keepalive;
  tcp.policy = plain_only ? AddressPolicy::kLoopbackOnly : AddressPolicy::kAny;
  base::Result<UniqueFd> fd = TcpConnect(options.host, options.port, tcp);
  if (!fd.ok()) return fd.error().WithContext(where);
  // libetpan waits with select(): a descriptor at or over FD_SETSIZE (1024) aborts the process
  // (glibc's fd_set check). Each session holds its socket and two pipes of libetpan's (read
  // cancellation, IDLE interruption), allocated after it: refuse rather than abort.
  if (fd->get() > FD_SETSIZE - 8) {
    return MakeError(ErrorKind::kTransient,
                     "too many open descriptors for libetpan's select() (socket " +
                         std::to_string(fd->get()) + ", limit " + std::to_string(FD_SETSIZE) +
                         "): this process holds too many connections; run fewer mailboxes per daemon")
        .WithContext(where);
  }

  const time_t seconds = TimeoutSeconds(options.timeout);
  impl->imap.reset(mailimap_new(0, nullptr));
  if (!impl->imap) return OutOfMemory().WithContext(where);
  mailimap_set_timeout(impl->imap.get(), seconds);

  StreamPtr stream;
  if (options.tls == ImapOptions::Tls::kImplicit) {
    std::string server_name = IsIpLiteral(options.host) ? "" : options.host;
    stream.reset(mailstream_ssl_open_with_callback_timeout(fd->get(), seconds, SetServerName, &server_name));
    if (!stream) return MakeError(ErrorKind::kTransient, "TLS handshake failed").WithContext(where);
    fd->release();  // the stream closes it now
    // Verify before reading even the greeting from an unknown peer.
    if (base::Status verified = impl->VerifyPeer(stream.get()); !verified.ok()) return verified.error();
  } else {
    stream.reset(mailstream_socket_open_timeout(fd->get(), seconds));
    if (!stream) return OutOfMemory().WithContext(where);
    fd->release();
  }

  FailReadsAtEof(stream.get());
  // mailimap_connect() takes the stream whatever it returns.
  int rc = mailimap_connect(impl->imap.get(), stream.release());
  if (rc != MAILIMAP_NO_ERROR_AUTHENTICATED && rc != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
    return impl->CommandError(rc, "greeting");
  }
  const bool preauthenticated = rc == MAILIMAP_NO_ERROR_AUTHENTICATED;
  if (options.tls == ImapOptions::Tls::kStartTls) {
    if (preauthenticated) {
      return MakeError(ErrorKind::kProtocol, "server pre-authenticated the session before STARTTLS")
          .WithContext(where);
    }
    if (base::Status tls = impl->StartTls(); !tls.ok()) return tls.error();
  } else if (base::Status caps = impl->RefreshCapabilities(); !caps.ok()) {
    return caps.error();
  }
  if (!preauthenticated) {
    if (base::Status login = impl->Login(options); !login.ok()) return login.error();
  }

  // Once per stream, so that Idle() can wait and Interrupt() can wake it (TESTENV pitfall 5).
  mailstream* connected = impl->imap->imap_stream;
  if (mailstream_setup_idle(connected) < 0) return OutOfMemory().WithContext(where);
  {
    std::lock_guard<std::mutex> lock(impl->interrupt_mu);
    impl->interrupt_stream = connected;
  }
  base::LogDebug(where + ": logged in as " + options.username);
  return std::unique_ptr<ImapSession>(new ImapSession(std::move(impl)));
}

bool ImapSession::alive() const { return impl_->imap != nullptr; }

bool ImapSession::HasCapability(std::string_view name) const { return impl_->Has(name); }

base::Result<ImapFolderState> ImapSession::Select(std::string_view folder) {
  if (!impl_->imap) return impl_->NotConnected();
  const std::string name(folder);
  impl_->selected = false;
  impl_->next_uid.reset();
  if (int rc = mailimap_select(impl_->imap.get(), name.c_str()); rc != MAILIMAP_NO_ERROR) {
    return impl_->CommandError(rc, "SELECT " + name);
  }
  const mailimap_selection_info* info = impl_->imap->imap_selection_info;
  if (info == nullptr || info->sel_uidvalidity == 0) {
    return MakeError(ErrorKind::kProtocol, "server sent no UIDVALIDITY")
        .WithContext(impl_->where + ": SELECT " + name);
  }
  impl_->selected = true;
  return ImapFolderState{info->sel_uidvalidity, info->sel_uidnext, info->sel_exists};
}

base::Status ImapSession::CreateFolder(std::string_view folder) {
  if (!impl_->imap) return impl_->NotConnected();
  const std::string name(folder);
  const int rc = mailimap_create(impl_->imap.get(), name.c_str());
  if (rc == MAILIMAP_NO_ERROR) return {};
  const mailimap_response_info* info = impl_->imap->imap_response_info;
  if (rc == MAILIMAP_ERROR_CREATE && info != nullptr && info->rsp_atom != nullptr &&
      strcasecmp(info->rsp_atom, "ALREADYEXISTS") == 0) {
    return {};
  }
  Error error = impl_->CommandError(rc, "CREATE " + name);
  if (rc != MAILIMAP_ERROR_CREATE) return error;
  // A server without RFC 5530 response codes: see whether the folder is there.
  clist* listed = nullptr;
  if (mailimap_list(impl_->imap.get(), "", name.c_str(), &listed) != MAILIMAP_NO_ERROR) return error;
  const bool exists = listed != nullptr && clist_count(listed) > 0;
  if (listed != nullptr) mailimap_list_result_free(listed);
  if (exists) return {};
  return error;
}

base::Result<std::optional<uint32_t>> ImapSession::Append(std::string_view folder, std::string_view message,
                                                          const std::vector<std::string>& flags) {
  if (!impl_->imap) return impl_->NotConnected();
  const std::string name(folder);
  if (message.empty()) {
    return MakeError(ErrorKind::kInvalidInput, "empty message").WithContext(impl_->where + ": APPEND to " + name);
  }
  base::Result<FlagListPtr> flag_list = MakeFlagList(flags);
  if (!flag_list.ok()) return flag_list.error().WithContext(impl_->where + ": APPEND to " + name);
  uint32_t uidvalidity = 0;
  uint32_t uid = 0;
  const int rc = mailimap_uidplus_append(impl_->imap.get(), name.c_str(), flags.empty() ? nullptr : flag_list->get(),
                                         nullptr, message.data(), message.size(), &uidvalidity, &uid);
  if (rc != MAILIMAP_NO_ERROR) return impl_->CommandError(rc, "APPEND to " + name);
  if (uid == 0) return std::optional<uint32_t>();
  return std::optional<uint32_t>(uid);
}

base::Result<std::vector<uint32_t>> ImapSession::UidSearchAll() {
  if (!impl_->imap) return impl_->NotConnected();
  return impl_->Search(mailimap_search_key_new_all(), "UID SEARCH ALL");
}

base::Result<std::vector<uint32_t>> ImapSession::UidsFrom(uint32_t first_uid) {
  if (!impl_->imap) return impl_->NotConnected();
  first_uid = std::max<uint32_t>(first_uid, 1);
  SetPtr range(mailimap_set_new_interval(first_uid, 0));  // first_uid:*
  if (!range) return OutOfMemory();
  mailimap_search_key* key = mailimap_search_key_new_uid(range.get());
  if (key != nullptr) range.release();  // now owned by `key`
  base::Result<std::vector<uint32_t>> uids =
      impl_->Search(key, "UID SEARCH UID " + std::to_string(first_uid) + ":*");
  if (!uids.ok()) return uids;
  // "n:*" always includes the highest UID, even when it is below n.
  std::vector<uint32_t>& list = uids.value();
  list.erase(std::remove_if(list.begin(), list.end(), [first_uid](uint32_t uid) { return uid < first_uid; }),
             list.end());
  impl_->next_uid = list.empty() ? first_uid : *std::max_element(list.begin(), list.end()) + 1;
  return uids;
}

base::Result<std::vector<ImapMessageInfo>> ImapSession::FetchInfo(const std::vector<uint32_t>& uids) {
  auto fetched = Fetch(uids, Body::kNone, 0);
  if (!fetched) return fetched.error();
  std::vector<ImapMessageInfo> out;
  out.reserve(fetched->size());
  for (const ImapMessage& m : *fetched) out.push_back({m.uid, m.size, m.internal_date});
  return out;
}

base::Result<std::vector<ImapMessage>> ImapSession::FetchBatch(const std::vector<uint32_t>& uids,
                                                               uint32_t first_bytes) {
  return Fetch(uids, first_bytes > 0 ? Body::kFirstBytes : Body::kWhole, first_bytes);
}

base::Result<std::vector<ImapMessage>> ImapSession::Fetch(const std::vector<uint32_t>& uids, Body body,
                                                          uint32_t first_bytes) {
  if (!impl_->imap) return impl_->NotConnected();
  if (uids.empty()) return std::vector<ImapMessage>();
  const std::string command = "UID FETCH" + Messages(uids.size());
  base::Result<SetPtr> set = MakeUidSet(uids);
  if (!set.ok()) return set.error().WithContext(impl_->where + ": " + command);

  FetchTypePtr type(mailimap_fetch_type_new_fetch_att_list_empty());
  if (!type) return OutOfMemory();
  std::vector<mailimap_fetch_att*> atts = {mailimap_fetch_att_new_uid(), mailimap_fetch_att_new_rfc822_size(),
                                           mailimap_fetch_att_new_internaldate()};
  if (body == Body::kWhole) atts.push_back(mailimap_fetch_att_new_body_peek_section(mailimap_section_new(nullptr)));
  if (body == Body::kFirstBytes) {
    atts.push_back(mailimap_fetch_att_new_body_peek_section_partial(mailimap_section_new(nullptr), 0, first_bytes));
  }
  for (size_t i = 0; i < atts.size(); ++i) {
    if (atts[i] == nullptr || mailimap_fetch_type_new_fetch_att_list_add(type.get(), atts[i]) != MAILIMAP_NO_ERROR) {
      for (size_t j = i; j < atts.size(); ++j) {
        if (atts[j] != nullptr) mailimap_fetch_att_free(atts[j]);
      }
      return OutOfMemory();
    }
  }

  clist* fetched = nullptr;
  if (int rc = mailimap_uid_fetch(impl_->imap.get(), set->get(), type.get(), &fetched); rc != MAILIMAP_NO_ERROR) {
    return impl_->CommandError(rc, command);
  }
  std::vector<uint32_t> wanted(uids);
  std::sort(wanted.begin(), wanted.end());
  std::vector<ImapMessage> messages;
  // Free each answer as soon as it is copied, so the batch is held about once, not twice.
  ForEach<mailimap_msg_att>(fetched, [&](mailimap_msg_att* att) {
    std::optional<ImapMessage> message = ToMessage(att, body != Body::kNone);
    mailimap_msg_att_free(att);
    if (message && std::binary_search(wanted.begin(), wanted.end(), message->uid)) {
      messages.push_back(std::move(*message));
    }
  });
  if (fetched != nullptr) clist_free(fetched);
  std::sort(messages.begin(), messages.end(),
            [](const ImapMessage& a, const ImapMessage& b) { return a.uid < b.uid; });
  return messages;
}

base::Status ImapSession::StoreFlags(const std::vector<uint32_t>& uids, std::string_view flag) {
  if (!impl_->imap) return impl_->NotConnected();
  if (uids.empty()) return {};
  base::Result<SetPtr> set = MakeUidSet(uids);
  if (!set.ok()) return set.error().WithContext(impl_->where + ": UID STORE");
  return impl_->AddFlag(set->get(), uids.size(), flag);
}

base::Status ImapSession::Move(const std::vector<uint32_t>& uids, std::string_view folder) {
  if (!impl_->imap) return impl_->NotConnected();
  if (uids.empty()) return {};
  const std::string name(folder);
  const std::string count = Messages(uids.size());
  base::Result<SetPtr> set = MakeUidSet(uids);
  if (!set.ok()) return set.error().WithContext(impl_->where + ": move to " + name);
  if (HasCapability("MOVE")) {
    if (int rc = mailimap_uid_move(impl_->imap.get(), set->get(), name.c_str()); rc != MAILIMAP_NO_ERROR) {
      return impl_->CommandError(rc, "UID MOVE to " + name + count);
    }
    return {};
  }
  if (!HasCapability("UIDPLUS")) {
    return MakeError(ErrorKind::kPermanent,
                     "server offers neither MOVE nor UIDPLUS, so messages cannot be moved without "
                     "expunging other clients' deleted mail")
        .WithContext(impl_->where + ": move to " + name);
  }
  if (int rc = mailimap_uid_copy(impl_->imap.get(), set->get(), name.c_str()); rc != MAILIMAP_NO_ERROR) {
    return impl_->CommandError(rc, "UID COPY to " + name + count);
  }
  return impl_->ExpungeUids(set->get(), uids.size());
}

base::Status ImapSession::Delete(const std::vector<uint32_t>& uids) {
  if (!impl_->imap) return impl_->NotConnected();
  if (uids.empty()) return {};
  if (!HasCapability("UIDPLUS")) {
    return MakeError(ErrorKind::kPermanent,
                     "server lacks UIDPLUS, so messages cannot be deleted without expunging other "
                     "clients' deleted mail")
        .WithContext(impl_->where + ": delete");
  }
  base::Result<SetPtr> set = MakeUidSet(uids);
  if (!set.ok()) return set.error().WithContext(impl_->where + ": delete");
  return impl_->ExpungeUids(set->get(), uids.size());
}

base::Result<IdleOutcome> ImapSession::Idle(std::chrono::milliseconds max_wait) {
  Impl& s = *impl_;
  if (!s.imap) return s.NotConnected();
  if (!s.selected || s.imap->imap_selection_info == nullptr) {
    return MakeError(ErrorKind::kInternal, "IDLE needs a selected folder").WithContext(s.where);
  }
  max_wait = std::clamp(max_wait, std::chrono::milliseconds(0), kMaxIdle);
  const Clock::time_point deadline = Clock::now() + max_wait;
  // Mail that arrived after the caller's last UidsFrom was announced (EXISTS) in the reply to a later
  // command, such as a post-action, if at all: IDLE does not announce it again. One search finds it.
  if (s.next_uid) {
    base::Result<std::vector<uint32_t>> newer = UidsFrom(*s.next_uid);
    if (!newer) return newer.error();
    if (!newer->empty()) return IdleOutcome::kChanged;
  }
  const uint32_t exists_before = s.imap->imap_selection_info->sel_exists;
  const bool idle = HasCapability("IDLE");
  // In slices of at most `keepalive`: ending each with DONE (or NOOP), which the server must answer
  // within the timeout, proves the connection alive; a silently dropped one fails here.
  const auto keepalive = std::max(s.options.keepalive, std::chrono::milliseconds(1000));
  for (;;) {
    const auto left =
        std::min(keepalive, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (idle) {
      if (int rc = mailimap_idle(s.imap.get()); rc != MAILIMAP_NO_ERROR) return s.CommandError(rc, "IDLE");
      // A change the server announced before its go-ahead was read with it: nothing more will come.
      if (s.Changed(exists_before)) {
        if (int rc = mailimap_idle_done(s.imap.get()); rc != MAILIMAP_NO_ERROR)
          return s.CommandError(rc, "DONE");
        return IdleOutcome::kChanged;
      }
    }
    const int woke = s.WaitForActivity(std::max(left, std::chrono::milliseconds(0)));
    if (woke == MAILSTREAM_IDLE_INTERRUPTED) s.interrupt_pending = false;  // its wake-up is used up
    if (idle) {
      if (int rc = mailimap_idle_done(s.imap.get()); rc != MAILIMAP_NO_ERROR) return s.CommandError(rc, "DONE");
    } else if (int rc = mailimap_noop(s.imap.get()); rc != MAILIMAP_NO_ERROR) {
      return s.CommandError(rc, "NOOP");
    }
    switch (woke) {
      case MAILSTREAM_IDLE_INTERRUPTED:
        return IdleOutcome::kInterrupted;
      case MAILSTREAM_IDLE_HASDATA:
        if (s.Changed(exists_before)) return IdleOutcome::kChanged;
        break;  // keep-alive chatter ("* OK Still here"): wait on
      case MAILSTREAM_IDLE_TIMEOUT:
        if (s.Changed(exists_before)) return IdleOutcome::kChanged;
        break;  // a slice ended: the connection is alive; IDLE again until the deadline
      default:
        return MakeError(ErrorKind::kInternal, "waiting for IDLE notifications failed").WithContext(s.where);
    }
    if (Clock::now() >= deadline) return IdleOutcome::kTimeout;
  }
}

void ImapSession::Interrupt() {
  std::lock_guard<std::mutex> lock(impl_->interrupt_mu);
  if (impl_->interrupt_stream == nullptr) return;
  // One wake-up per pending interrupt: several calls before the next Idle() end only that one.
  if (impl_->interrupt_pending.exchange(true)) return;
  mailstream_interrupt_idle(impl_->interrupt_stream);
}

base::Status ImapSession::Logout() {
  Impl& s = *impl_;
  if (!s.imap) return {};
  {
    std::lock_guard<std::mutex> lock(s.interrupt_mu);
    s.interrupt_stream = nullptr;
  }
  mailstream_unsetup_idle(s.imap->imap_stream);
  // mailimap_logout() closes the stream whatever the answer.
  const int rc = mailimap_logout(s.imap.get());
  base::Status result;
  if (rc != MAILIMAP_NO_ERROR) result = s.CommandError(rc, "LOGOUT");
  s.Close();
  return result;
}

}  // namespace mail
