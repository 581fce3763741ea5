// The MIME parser: raw RFC 5322 / MIME bytes in, mail::Message out.
//
// It never throws and never fails: broken mail is still a Message, with what
// could be recovered and one warning per problem. Everything it produces is
// valid UTF-8 without NUL bytes (see mail/message.h and mail/charset.h), except
// the bytes of binary parts.
//
// The parser is our own code, not vmime's: vmime 0.9.2 parses the MIME tree
// recursively without a depth limit (a 570 KB message of 10,000 nested
// multiparts overflows the stack and kills the process), and its field
// parsers lose data (RFC 2231 continuations with a charset, the space after an
// encoded word, "=XY" in quoted-printable becomes a NUL byte). Charsets go
// through iconv (mail/charset.h).
//
// What it does, in order:
//  - The MIME tree. A part ends where a delimiter of its own multipart starts
//    ("--" + boundary, also when a sender forgot the line break before it, and
//    also as a prefix of a longer line, as Dovecot and mail-parser read it);
//    while inside a multipart only its own delimiter counts. A missing close
//    delimiter, a multipart whose boundary never appears (read as text) and
//    message/rfc822 parts that are not mail (read as text) give a warning, not
//    a failure. message/rfc822 and message/global parts are parsed as nested
//    messages, also when they are base64 or quoted-printable encoded. A header
//    block ends at a blank line or at a line that is no header field (the body
//    then starts there), except that one word (without "@") on a line of its
//    own followed by more header is taken as a field folded without
//    indentation.
//  - Bodies: Content-Transfer-Encoding undone (base64, quoted-printable,
//    uuencode; unknown ones are taken as 8bit); text decoded from its declared
//    charset (or as undeclared text) to UTF-8. A part whose transfer encoding
//    cannot be undone (base64 with characters outside its alphabet) keeps its
//    raw bytes as text; a part the message ends inside (its multipart never
//    closed) is decoded as far as it goes. Both get MimePart::encoding_problem
//    and a warning, and are listed as attachments rather than shown as bodies
//    (as mail-parser does): they are incomplete or not what they claim to be.
//  - Header fields: RFC 2047 encoded words, RFC 2231 parameters, tolerant ids,
//    addresses and dates (mail/mime_parser_fields.h). When a field that
//    matters appears twice in one part (Content-Type, Content-Transfer-Encoding,
//    Content-Disposition), the last one counts.
//  - Body choice (Message::text_body_parts, html_body_parts, attachments):
//    RFC 8621 §4.1.4, computed over the top-level message (parts of attached
//    messages are not bodies). One deviation, because the forum shows text
//    only: an image/audio/video part that RFC 8621 leaves out of
//    `attachments` because it is shown inline in both bodies is listed there
//    too (Attachment::is_inline set), or a photo pasted into a mail would be
//    lost.
//  - text_body: the textBody parts joined (format=flowed undone, line ends as
//    LF); when they are HTML (a message with no plain-text alternative), their
//    text from HtmlToText() and text_from_html set. html_body: the HTML parts of
//    htmlBody as sent.
//  - multipart/report (RFC 6522): report_type, delivery_status,
//    feedback_report and returned_headers from the first report in the
//    top-level message.
//
// Limits (ParseLimits) keep hostile mail cheap: input beyond max_size is not
// read; a container nested deeper than max_depth is kept as one opaque part
// (its raw bytes) instead of being descended into; parts beyond max_parts are
// dropped, and so are header fields beyond 10,000 in one header. Each of these
// sets Message::truncated and adds a warning; the result is still usable.
// Addresses and ids beyond 10,000 in one field are dropped without a word.
// Memory stays within a small multiple of the input size (HTML to text aside:
// see mail/html_to_text.h), and time is linear in it times max_depth.
//
// Thread-safety: ParseMessage and LooksLikeEmail are safe to call
// concurrently; they share no state (no vmime default context, no locale).
#ifndef MAILFORUM_MAIL_MIME_PARSER_H_
#define MAILFORUM_MAIL_MIME_PARSER_H_

#include <cstdint>
#include <string_view>

#include "mail/message.h"

namespace mail {

struct ParseLimits {
  uint64_t max_size = 25 << 20;  // bytes of raw input read; the rest is ignored
  int max_depth = 32;            // nesting of multiparts and attached messages (clamped to 0..256)
  int max_parts = 500;           // MIME parts kept, attached messages' parts included (at least 1)
};

// Parses `raw` (CRLF or LF line ends, or a mix). Never throws, never fails.
Message ParseMessage(std::string_view raw, const ParseLimits& limits = {});

// True when `raw` looks like an email at all: its first line (after an
// optional mbox "From " line) is a syntactically valid header field
// ("Name: value", the name printable ASCII without spaces or colons). Used by
// `mailforumctl parse` to reject files that are not mail.
bool LooksLikeEmail(std::string_view raw);

}  // namespace mail

#endif  // MAILFORUM_MAIL_MIME_PARSER_H_
