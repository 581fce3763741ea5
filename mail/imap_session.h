// One authenticated IMAP connection: the mailbox side of the gateway.
//
// An ImapSession is connected, TLS-verified and logged in by Connect(); its
// methods then issue one IMAP command each (Move and Delete may need three)
// and wait for the answer, bounded by ImapOptions::timeout. libetpan does the
// protocol work inside imap_session.cc; no libetpan type appears here.
//
// Certificates: libetpan verifies none, so Connect() checks the server's chain
// with mail/tls_verify.h right after the TLS handshake (implicit TLS, or
// STARTTLS), before anything else is read or sent on the encrypted stream —
// in particular before LOGIN.
//
// Errors carry a kind the caller acts on: kTransient (connection refused or
// lost, timeout, server unavailable: reconnect later), kPermanent (credentials
// or certificate refused, a NO the server will repeat), kConfig (options that
// cannot work), kProtocol (the server answered BAD), kInternal (a bug or an
// allocation failure). Messages name the server ("IMAP localhost:993"), the
// command and the folder. After a lost connection or an answer that cannot be
// parsed the session is dead: every later call fails with kTransient and the
// caller connects a new session.
//
// Thread-safety: a session is used by one thread at a time (the mailbox
// pass hands it to its prefetch thread and back by thread start and join).
// The only exception is Interrupt(), which any thread may call while the
// owner waits in Idle().
// Several sessions may run on several threads at once. The process must have
// called mail::InitializeMailLibraries() (SIGPIPE ignored) first.
#ifndef MAILFORUM_MAIL_IMAP_SESSION_H_
#define MAILFORUM_MAIL_IMAP_SESSION_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mail/oauth2.h"

namespace mail {

struct ImapOptions {
  // How the connection is protected.
  enum class Tls {
    kImplicit,  // TLS from the first byte (usually port 993).
    kStartTls,  // Plain connect, then STARTTLS before anything else (usually port 143).
    kNone,      // No TLS at all: refused unless `host` is loopback.
  };

  std::string host;          // DNS name or IP address; the certificate must name it.
  uint16_t port = 993;
  Tls tls = Tls::kImplicit;
  std::string ca_file;       // PEM file of trusted CAs; empty: the system trust store.
  std::string tls_sha256;    // Optional pin of the server certificate (see TlsTrust::sha256_pin).
  std::string username;
  std::string password;      // Sent only inside TLS (or to loopback); never logged.
  // How to log in: with `password`, or with an OAuth2 access token from
  // `oauth2` by AUTHENTICATE XOAUTH2 or OAUTHBEARER (RFC 7628). When the
  // server refuses the token, Connect() asks `oauth2` for a new one once and
  // tries again. The source is shared, so reconnects reuse its cached token.
  using Auth = MailAuth;
  Auth auth = Auth::kPassword;
  std::shared_ptr<OAuth2TokenSource> oauth2;  // Required for kXOAuth2 and kOAuthBearer.
  std::chrono::milliseconds timeout{30000};  // Per network wait; libetpan rounds it up to whole seconds.
  // How often Idle() proves the connection alive (DONE, answered within
  // `timeout`, then IDLE again; NOOP without IDLE), and the socket's TCP
  // keepalive idle time: a silently dropped connection fails within
  // keepalive + timeout. Rounded up to whole seconds.
  std::chrono::milliseconds keepalive{60000};
};

// What SELECT reports about a folder.
struct ImapFolderState {
  uint32_t uidvalidity = 0;  // Changes when the folder's UIDs are renumbered.
  uint32_t uidnext = 0;      // The UID the next message will get (a lower bound); 0 if the server did not say.
  uint32_t exists = 0;       // Number of messages.
};

// One message as fetched.
struct ImapMessage {
  uint32_t uid = 0;
  std::string raw;    // The whole message (BODY.PEEK[]), byte for byte; fetching does not set \Seen.
  uint32_t size = 0;  // RFC822.SIZE as the server reports it.
  std::chrono::system_clock::time_point internal_date;  // When the server received it.
};

// What a message is before its bytes are fetched (ImapSession::FetchInfo).
struct ImapMessageInfo {
  uint32_t uid = 0;
  uint32_t size = 0;  // RFC822.SIZE
  std::chrono::system_clock::time_point internal_date;
};

// Why Idle() returned.
enum class IdleOutcome {
  kChanged,      // The server reported new or removed messages in the selected folder.
  kTimeout,      // max_wait passed without a change.
  kInterrupted,  // Another thread called Interrupt().
};

class ImapSession {
 public:
  // Connects to options.host:options.port, protects the connection as
  // options.tls says, verifies the server certificate, then logs in (LOGIN, or
  // AUTHENTICATE PLAIN when the server disables LOGIN; with options.auth
  // OAuth2, AUTHENTICATE XOAUTH2 or OAUTHBEARER with a token from
  // options.oauth2, whose errors — the token endpoint's — are returned as
  // they are, with their kind).
  // Errors: kConfig for tls kNone to a host that is not loopback (refused
  // before any connection is made), an empty host or user name, or an
  // unusable CA file or pin; kTransient when the server cannot be reached, the
  // handshake fails or a step times out; kPermanent when the certificate is
  // refused (the message names host:port and why, and no credentials were
  // sent), the server refuses STARTTLS, or it rejects the credentials;
  // kProtocol when the server misbehaves around STARTTLS.
  static base::Result<std::unique_ptr<ImapSession>> Connect(const ImapOptions& options);

  ImapSession(const ImapSession&) = delete;
  ImapSession& operator=(const ImapSession&) = delete;
  // Closes the connection without LOGOUT (so it never blocks); call Logout() for a polite end.
  ~ImapSession();

  // True until the connection is lost, Logout() is called, or an answer could not be parsed.
  bool alive() const;

  // Whether the server announced `name` (case-insensitive) in its latest
  // CAPABILITY, e.g. "IDLE", "MOVE", "UIDPLUS", "AUTH=PLAIN".
  bool HasCapability(std::string_view name) const;

  // Selects `folder` read-write; later message commands act on it. Folder names
  // are sent as given (non-ASCII names must already be modified UTF-7).
  // Errors: kPermanent when the folder does not exist or cannot be selected.
  base::Result<ImapFolderState> Select(std::string_view folder);

  // Creates `folder`; success when it exists already.
  base::Status CreateFolder(std::string_view folder);

  // Appends `message` to `folder` with `flags` (e.g. "\\Seen"; none by default).
  // IMAP needs CRLF line ends: bare LFs in `message` are sent as CRLF. Returns
  // the new message's UID when the server tells it (UIDPLUS), else nullopt.
  // Errors: kPermanent when the folder does not exist or the server refuses
  // the message; kInvalidInput for a malformed flag or an empty message.
  base::Result<std::optional<uint32_t>> Append(std::string_view folder, std::string_view message,
                                               const std::vector<std::string>& flags = {});

  // UIDs of all messages in the selected folder, ascending.
  base::Result<std::vector<uint32_t>> UidSearchAll();
  // UIDs >= first_uid in the selected folder, ascending (never the highest UID
  // below first_uid, which a plain "UID first:*" search would return).
  base::Result<std::vector<uint32_t>> UidsFrom(uint32_t first_uid);

  // The size and arrival time of the given messages (UID FETCH of UID,
  // RFC822.SIZE and INTERNALDATE: a few dozen bytes each, whatever the
  // messages hold), so that the caller can decide what to fetch and how.
  // UIDs that no longer exist are missing from the result, which is in
  // ascending UID order. Errors as FetchBatch.
  base::Result<std::vector<ImapMessageInfo>> FetchInfo(const std::vector<uint32_t>& uids);

  // Fetches the given messages of the selected folder with one UID FETCH:
  // whole, or with `first_bytes` > 0 only their first `first_bytes` bytes
  // (BODY.PEEK[]<0.first_bytes>; `size` still reports the whole message).
  // The whole answer is held in memory, so the caller bounds memory by the
  // batch it passes (FetchInfo tells the sizes). UIDs that no longer exist
  // are missing from the result, which is in ascending UID order.
  // Errors: kInvalidInput for UID 0; kTransient when the server reports the
  // messages expunged meanwhile (search again).
  base::Result<std::vector<ImapMessage>> FetchBatch(const std::vector<uint32_t>& uids, uint32_t first_bytes = 0);

  // Adds `flag` (e.g. "\\Seen", "\\Deleted" or a keyword) to the given messages;
  // an empty list sends nothing. Errors: kInvalidInput for a malformed flag or UID 0.
  base::Status StoreFlags(const std::vector<uint32_t>& uids, std::string_view flag);

  // Moves the given messages of the selected folder to `folder`: UID MOVE when
  // the server offers MOVE, else UID COPY, \Deleted and UID EXPUNGE of exactly
  // these UIDs (UIDPLUS). Errors: kPermanent when the server offers neither
  // (a plain EXPUNGE could remove other clients' deleted mail) or `folder`
  // does not exist.
  base::Status Move(const std::vector<uint32_t>& uids, std::string_view folder);

  // Removes the given messages: \Deleted, then UID EXPUNGE of exactly these
  // UIDs. Errors: kPermanent when the server lacks UIDPLUS.
  base::Status Delete(const std::vector<uint32_t>& uids);

  // Waits in IDLE on the selected folder until the server reports a change
  // (new or expunged messages), `max_wait` passes (rounded up to whole
  // seconds; at most 25 minutes, since servers may drop a client idle for 30),
  // or Interrupt() is called. Keep-alive chatter from the server is not a
  // change. Every ImapOptions::keepalive it ends IDLE (DONE) and begins it
  // again, so a connection dropped silently on the way fails within
  // keepalive + timeout (kTransient) instead of waiting out `max_wait`.
  // Without the IDLE capability it sleeps (interruptibly) and then asks with
  // NOOP, every keepalive too. The caller re-fetches after kChanged and simply
  // calls Idle() again after kTimeout. Mail that arrived after the last
  // UidsFrom (announced, if at all, in the reply to a later command, which
  // IDLE does not repeat) is kChanged at once: Idle() first searches past the
  // UIDs that UidsFrom found. Errors: kInternal without a selected
  // folder; the usual errors of a lost connection.
  base::Result<IdleOutcome> Idle(std::chrono::milliseconds max_wait);

  // Makes the Idle() in progress return kInterrupted soon, or, when none is in
  // progress, the next one at once. Any thread may call it at any time while
  // the session object exists; it never blocks.
  void Interrupt();

  // Says LOGOUT and closes the connection; the session is dead afterwards.
  // Errors only describe the goodbye: the connection is closed either way.
  base::Status Logout();

 private:
  struct Impl;
  explicit ImapSession(std::unique_ptr<Impl> impl);
  enum class Body { kNone, kWhole, kFirstBytes };
  base::Result<std::vector<ImapMessage>> Fetch(const std::vector<uint32_t>& uids, Body body, uint32_t first_bytes);

  std::unique_ptr<Impl> impl_;
};

}  // namespace mail

#endif  // MAILFORUM_MAIL_IMAP_SESSION_H_
