// One authenticated SMTP connection that submits already-generated messages.
//
// An SmtpTransport is connected, TLS-verified and (optionally) logged in by
// Connect(); Send() then hands one message to the server over that same
// connection, as many times as the caller likes. The bytes of a message are
// sent as given: nothing is re-encoded, no header is added or removed (the
// caller generates Message-ID, Date, Bcc-free headers and so on). vmime does
// the protocol work inside smtp_transport.cc; no vmime type appears here.
//
// Certificates are checked with mail/tls_verify.h (vmime's own verifier checks
// the signature of the last certificate of the chain only, so a forged leaf
// that names a real intermediate as its issuer would pass it). The
// connection uses a socket of our own, not vmime's: it sets TCP_NODELAY
// (vmime's socket stalls ~45 ms per message on Nagle's algorithm and delayed
// ACKs), writes with MSG_NOSIGNAL, never reverse-resolves a numeric host, and
// never throws from inside GnuTLS (vmime's TLS socket rethrows such
// exceptions through an unlocked static list), and refuses to start TLS when
// the server sent more plaintext after its "220" to STARTTLS than was asked
// for (vmime would read those bytes as if they had come through TLS).
//
// Errors carry a kind the caller acts on: kTransient (server unreachable,
// connection lost, timeout, a 4xx reply: try again later), kPermanent (a 5xx
// reply, credentials or certificate refused: the same message will fail the
// same way), kConfig (options that cannot work), kInvalidInput (an envelope or
// message that cannot be sent), kProtocol (a reply that is neither 2xx-5xx,
// or plaintext bytes injected after the answer to STARTTLS).
// Messages name the server ("SMTP localhost:587"), the command and the
// server's reply ("RCPT TO:<x@example.com>: 550 5.1.1 user unknown"); the
// password never appears in them or in the log.
//
// Thread-safety: a transport belongs to one thread; several transports may run
// on several threads at once. The process must have called
// mail::InitializeMailLibraries() (vmime's platform handler, SIGPIPE) first.
#ifndef MAILFORUM_MAIL_SMTP_TRANSPORT_H_
#define MAILFORUM_MAIL_SMTP_TRANSPORT_H_

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

struct SmtpOptions {
  // How the connection is protected.
  enum class Tls {
    kImplicit,  // TLS from the first byte ("smtps", usually port 465).
    kStartTls,  // Plain connect, then STARTTLS, required, before AUTH or mail (usually port 587).
    kNone,      // No TLS: refused unless `host` is loopback (localhost, 127.0.0.0/8, ::1) and resolves to loopback only.
  };
  // Which socket carries the connection. kVmimeStock exists only so that tests
  // can measure what ours saves (shared/TESTENV.md, vmime pitfall 1); it
  // lacks the checks and fixes described above. Never use it in production.
  enum class Socket { kOurs, kVmimeStock };

  std::string host;        // DNS name or IP address; the certificate must name it.
  uint16_t port = 587;
  Tls tls = Tls::kStartTls;
  std::string ca_file;     // PEM file of trusted CAs, every certificate in it; empty: the system trust store.
  std::string tls_sha256;  // Optional pin of the server's leaf certificate (see TlsTrust::sha256_pin).
  std::string username;    // Empty: no AUTH (with auth kPassword).
  std::string password;    // Sent only inside TLS (or to loopback); never logged.
  // How to log in: with `password`, or with an OAuth2 access token from
  // `oauth2` by AUTH XOAUTH2 or OAUTHBEARER (RFC 7628; the server must offer
  // it). When the server refuses the token, Connect() (and a reconnecting
  // Send()) asks `oauth2` for a new one once and tries again. The source is
  // shared, so reconnects reuse its cached token.
  MailAuth auth = MailAuth::kPassword;
  std::shared_ptr<OAuth2TokenSource> oauth2;  // Required with OAuth2, and so is `username`.
  // Per network wait: resolving and connecting (together), each reply, each write.
  std::chrono::milliseconds timeout{30000};
  // Name sent with EHLO. vmime 0.9.2 always sends the local host name (from
  // the process-wide platform handler), so only empty (the default) or
  // exactly that name is accepted; anything else is a kConfig error.
  std::string helo_name;
  Socket socket = Socket::kOurs;
};

// Who a message is from and to, as told to the server (MAIL FROM / RCPT TO);
// independent of the From/To/Cc headers inside the message.
struct Envelope {
  std::string mail_from;                // Bare address "bounces+x@example.com"; the null path "<>" is not supported.
  std::vector<std::string> recipients;  // Bare addresses; at least one.
};

// A server's reply that made a Send() fail.
struct SmtpReply {
  int code = 0;                 // e.g. 550.
  std::string enhanced_status;  // RFC 3463 code such as "5.1.1", or empty when the server gave none.
  std::string text;             // The reply text after the code, lines joined by "; ".
  std::string command;          // The command it answered, e.g. "RCPT TO:<x@example.com>", "DATA".
  std::string recipient;        // For a refused RCPT TO: the refused address; otherwise empty.
};

class SmtpTransport {
 public:
  // Connects to options.host:options.port, protects the connection as
  // options.tls says, verifies the server certificate before anything else is
  // sent on the encrypted stream, then authenticates (SASL, PLAIN or LOGIN as
  // the server offers) when options.username is set, or with an OAuth2 token
  // (XOAUTH2 or OAUTHBEARER) when options.auth says so; the token source's
  // errors (the token endpoint's) are returned as they are, with their kind.
  // Errors: kConfig for tls kNone to a host that is not loopback (refused
  // before any connection is made), an empty host, port 0, an unsupported
  // helo_name, or an unusable CA file or pin; kTransient when the server cannot
  // be reached, greets with an error, the handshake fails or a step times
  // out; kPermanent when the certificate is refused (the message says why,
  // and no credentials were sent), the server refuses STARTTLS with a 5xx, or
  // it rejects the credentials.
  static base::Result<std::unique_ptr<SmtpTransport>> Connect(const SmtpOptions& options);

  SmtpTransport(const SmtpTransport&) = delete;
  SmtpTransport& operator=(const SmtpTransport&) = delete;
  // Disconnect()s.
  ~SmtpTransport();

  // Sends `raw_message`, a complete RFC 5322 message with CRLF line ends, to
  // envelope.recipients. The server receives exactly these bytes (dot-stuffing
  // is undone by it); a message that does not end with CRLF gets one, because
  // SMTP cannot carry an unterminated last line. The connection is reused;
  // when it was dropped since the last call (the server closed an idle
  // connection, answered 421, or the peer vanished), Send() reconnects once
  // and tries again, but never once the message data has started to flow, so
  // a message is not delivered twice by this retry.
  //
  // vmime aborts the whole transaction at the first refused recipient: the
  // message then reaches nobody, and the error (with last_reply()) names that
  // recipient; callers that need per-recipient outcomes send one recipient
  // per call.
  //
  // Errors: kInvalidInput for an empty or malformed envelope address (CR, LF,
  // '<', '>', spaces, no '@'), no recipients, bare CR or LF in the message, or
  // a message starting with '.'; kTransient for a 4xx reply, a lost
  // connection or a timeout; kPermanent for a 5xx reply; the Connect() errors
  // when reconnecting fails. After any failure the connection is closed (a
  // failed transaction can leave pipelined replies unread) and the next
  // Send() reconnects.
  base::Status Send(const Envelope& envelope, std::string_view raw_message);

  // Asks the server whether it would take mail with `envelope` without
  // sending any (mailforumctl test-connection): MAIL FROM, RCPT TO for each
  // recipient, then RSET; never DATA, so nothing is delivered. Reconnects
  // first when the connection was closed. Errors: kInvalidInput for a
  // malformed envelope (as Send()); kTransient for a 4xx reply, a lost
  // connection or a timeout; kPermanent for a 5xx reply (last_reply() has
  // it, its message names the command: "MAIL FROM:<a@example.com>: 553 ...");
  // the Connect() errors when reconnecting fails. After a failure the
  // connection is closed.
  base::Status Probe(const Envelope& envelope);

  // The server's reply behind the last Send()'s failure (including its
  // reconnection), or nullopt when that Send() succeeded or failed without a
  // reply (connection lost, TLS, timeout, invalid input).
  const std::optional<SmtpReply>& last_reply() const;

  // True while the connection is open as far as the socket can tell; Send()
  // checks this itself.
  bool connected() const;

  // Sends QUIT (without waiting for the answer) and closes the connection.
  // Idempotent; a later Send() reconnects.
  void Disconnect();

 private:
  struct Impl;
  explicit SmtpTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mail

#endif  // MAILFORUM_MAIL_SMTP_TRANSPORT_H_
