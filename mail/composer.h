// The composer: each kind of mail the forum sends, rendered to the raw
// RFC 5322 bytes that mail::SmtpTransport::Send() takes (DESIGN.md §4,
// issue 5 "What goes out").
//
// ComposeMessage() is a pure function of its OutboundMail: no I/O, no clock,
// no randomness (the MIME boundary is derived from the Message-ID), so a retry
// of an outbox row produces the same bytes. The output is 7-bit clean with
// CRLF line ends and no line over 78 characters except where a single URL or
// id is longer (never over 998). Header fields are written here: UTF-8 text
// (Subject, display names) as RFC 2047 "Q" encoded words, never raw 8-bit
// (which vmime 0.9.2 mangles towards SMTPUTF8 servers, shared/TESTENV.md
// vmime pitfall 2; its own encoded words also overrun 78 columns, and it
// quotes display names without escaping backslashes). vmime generates the
// MIME body, both parts quoted-printable UTF-8, with a generation context of
// our own; no vmime type or exception leaves composer.cc.
//
// What every message carries: Date, From, To, Subject, Message-ID, Reply-To
// (when given), In-Reply-To and References (when given), Auto-Submitted,
// X-Auto-Response-Suppress: All, Precedence, List-Id / List-Archive /
// List-Unsubscribe (+ List-Unsubscribe-Post for an https link) when given,
// MIME-Version, and a multipart/alternative body: text/plain; charset=utf-8
// and a simple text/html whose every piece of caller text is HTML-escaped.
//
//   kind             Auto-Submitted   Precedence  From display           body
//   kAnswer          auto-generated   list        "Bob via Acme Help"    post + footer
//   kNotification    auto-generated   list        "Bob via Acme Help"    post + footer
//   kAcknowledgement auto-replied     bulk        `from` as given        "received; it is now thread URL"
//   kRejection       auto-replied     bulk        `from` as given        the reason only
//
// Auto-Submitted and Precedence keep vacation responders and our own
// classifier (mail/classifier.h) from answering these messages (DESIGN.md §2
// item 5): "auto-replied" for the direct responses to a message (RFC 3834
// §5), "auto-generated" for the rest; Precedence ("list" for forum traffic,
// which has a List-Id, "bulk" for the automatic notices) quiets the older
// vacation programs that read nothing else.
// A rejection never quotes the rejected message (body_text is ignored; the
// caller must give a fixed subject, not the rejected one), so a forged sender
// cannot use it to relay content (no backscatter amplification). The subject
// of an acknowledgement or rejection is cut at 120 characters (at a
// character boundary, "…" marking the cut) and loses every control
// character, C1 controls and bidirectional overrides included: it may echo
// what a stranger wrote.
// Return-Path is not written: the final MTA adds it from the envelope, which
// ComposeEnvelope() gives.
//
// Thread-safety: pure functions; safe to call concurrently (no vmime default
// context is used or changed).
#ifndef MAILFORUM_MAIL_COMPOSER_H_
#define MAILFORUM_MAIL_COMPOSER_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "mail/smtp_transport.h"

namespace mail {

enum class OutboundKind {
  kAnswer,           // a new post, to the asker and earlier participants, threaded under the question
  kNotification,     // a new thread or post, to a category's watchers
  kAcknowledgement,  // to the asker of a new thread: received, here is the link
  kRejection,        // a rules' rejection notice to the sender
};

// "answer", "notification", "acknowledgement" or "rejection".
std::string_view OutboundKindName(OutboundKind kind);

// One outbound message. Addresses are "local@domain" or "Display Name
// <local@domain>" with an ASCII address (no SMTPUTF8 addresses); ids are
// without angle brackets; texts are UTF-8 (invalid sequences become U+FFFD,
// and control characters in header texts become spaces, so no header can be
// injected through them).
struct OutboundMail {
  OutboundKind kind = OutboundKind::kAnswer;
  std::string message_id;  // ours, "post.17.k3j5@example.com"; the same on every retry. Required.
  std::string from;        // "Acme Help <help@example.com>". Required.
  std::string reply_to;    // the thread's signed reply address; empty: no Reply-To (rejections)
  std::string to;          // the one recipient. Required.
  std::string subject;     // as it goes out; for answers and notifications ReplySubject(thread subject)
  // The parent: for answers to the asker, the Message-ID of the question they
  // sent, so that their client shows the answer under it; otherwise the
  // message this one follows. Empty (or an id that cannot be written, see
  // `references`): no In-Reply-To.
  std::string in_reply_to;
  // The chain, oldest first. in_reply_to is appended when missing; ids that
  // are not printable ASCII without spaces and angle brackets (strangers'
  // mail) are left out, and of a long chain only the first and the last 19 are
  // kept (RFC 5322 §3.6.4 allows trimming; clients thread by the ends).
  std::vector<std::string> references;
  std::string author_name;  // who wrote the post: From shows "<author_name> via <instance_name>"
  std::string body_text;    // the post as stored (trimmed; the elided quoted history is not re-sent)
  std::string thread_url;   // the thread on the web view; empty: no link
  std::string list_id;  // "acme-help.example.com" → List-Id: Acme Help <acme-help.example.com>; empty: none
  std::string list_archive_url;  // List-Archive; empty: none
  // List-Unsubscribe: one or more URIs (https:, mailto:) separated by commas
  // or spaces. With an https URI, List-Unsubscribe-Post (RFC 8058) is added.
  std::string unsubscribe_url;
  // The envelope sender (MAIL FROM), normally VerpAddress(...); used by
  // ComposeEnvelope() only, never written into the message.
  std::string return_path;
  std::chrono::system_clock::time_point date;  // the Date header (written in UTC)
  std::string instance_name;                   // "Acme Help"; empty: the display name of `from`
  std::string rejection_reason;  // kRejection: why, in words for the sender; empty: a generic reason
};

// The message as raw bytes: headers and a multipart/alternative body, CRLF
// line ends, 7-bit, ending with CRLF; the same bytes for the same input.
// Errors (kInvalidInput, naming the field): a missing or malformed
// message_id, from, to or reply_to (CR/LF, spaces, non-ASCII, no '@'); a
// list_id that is not a dot-atom; a URL or URI with spaces, quotes, angle
// brackets or non-ASCII characters, or longer than 900 bytes. kInternal when
// vmime fails (with its message) or the output would break the promises
// above (a bug).
base::Result<std::string> ComposeMessage(const OutboundMail& mail);

// The SMTP envelope of `mail`: MAIL FROM return_path, RCPT TO the bare
// address of `to`. Errors: kInvalidInput for an empty or malformed
// return_path or to.
base::Result<Envelope> ComposeEnvelope(const OutboundMail& mail);

// "Re: " + `subject` without its leading reply prefixes, so that replies do
// not stack "Re: Re: AW:": Re, RE, AW (German), Sv (Nordic), Antw (Dutch),
// Odp (Polish), YNT (Turkish), Réf (French), Rif (Italian), 回复/回覆/答复
// (Chinese), each with an optional counter ("Re[2]:", "Re(2):", "Re^2:"),
// spaces before the colon or a full-width colon. Forward prefixes (Fwd:, Fw:,
// WG:) stay: the thread is about the forwarded message. Leading and trailing
// white space is dropped; an empty subject gives "Re:".
std::string ReplySubject(std::string_view subject);

// The VERP envelope sender of outbox row `outbox_id`: `bounce_template`
// ("bounces+{id}@example.com") with "{id}" replaced by
// "<outbox_id>-<signature>", the signature being 16 base32 characters (80
// bits) of HMAC-SHA256 under `key` in a context of its own (see
// mail/reply_token.h), so that a bounce names the message it is about and
// nobody can forge one for another row. A template without "{id}" is
// returned unchanged. Precondition: outbox_id >= 0 and !key.empty().
std::string VerpAddress(std::string_view bounce_template, int64_t outbox_id, std::string_view key);

// The outbox id in `address` if it has the shape of `bounce_template`
// (case-insensitively: mail systems may change the case of local parts) and
// its signature verifies under `key` (compared in constant time); otherwise
// nullopt, and nothing in it may be trusted.
std::optional<int64_t> ParseVerpAddress(std::string_view bounce_template, std::string_view address,
                                        std::string_view key);

}  // namespace mail

#endif  // MAILFORUM_MAIL_COMPOSER_H_
