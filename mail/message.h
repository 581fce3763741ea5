// mail::Message: what mailforum knows about one email, in valid UTF-8.
//
// A Message is produced by the MIME parser (mail/mime_parser.h) from raw
// RFC 5322 bytes and read by the classifier, the rules, the thread matcher and
// the store. The parser never throws and never drops a message: broken mail
// still yields a Message, with what could be recovered and a warning per
// problem. Every string is valid UTF-8 without NUL bytes (safe for
// PostgreSQL), except MimePart::body of binary parts, which holds raw bytes.
//
// This header is the only part of mail/ that forum/ may include.
// Thread-safety: a plain value.
#ifndef MAILFORUM_MAIL_MESSAGE_H_
#define MAILFORUM_MAIL_MESSAGE_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mail {

// A mailbox address: "Display Name <local@domain>".
struct Address {
  std::string name;     // decoded display name; may be empty
  std::string address;  // local@domain as written (domain case kept); may be empty for groups/garbage
};

// One top-level header field, its value unfolded and decoded (RFC 2047) to UTF-8.
struct HeaderField {
  std::string name;   // as written, e.g. "X-Auto-Response-Suppress"
  std::string value;  // decoded, unfolded, trimmed
  // The value as the sender wrote it: unfolded and trimmed, raw 8-bit bytes
  // read as undeclared text (so still valid UTF-8 without NUL), but RFC 2047
  // encoded words NOT decoded. Structured fields whose syntax decides trust
  // (Authentication-Results, From) are read from this, because decoding lets
  // text inside a comment or phrase turn into syntax ("=?utf-8?q?=3B?=" is
  // ";"). Filled by the parser; "" in Messages built by hand.
  std::string raw_value = {};
};

// One node of the MIME tree, in depth-first order (part 0 is the root).
struct MimePart {
  enum class Kind {
    kText,       // text/* other than text/html, decoded to UTF-8 in `body`
    kHtml,       // text/html, decoded to UTF-8 in `body`
    kBinary,     // any other leaf (attachment bytes in `body`)
    kMessage,    // message/rfc822 (and message/global): `children` holds its root part
    kMultipart,  // multipart/*: `children` holds its parts
  };
  Kind kind = Kind::kText;
  std::string content_type;  // lower-case "type/subtype"
  std::string charset;       // declared charset ("" when none)
  std::string disposition;   // lower-case "inline" / "attachment" / ""
  std::string filename;      // decoded (RFC 2231 / 2047), "" when none
  std::string content_id;    // without angle brackets, "" when none
  std::string body;          // decoded content (UTF-8 for text kinds, raw bytes otherwise)
  std::vector<int> children;  // indices into Message::parts
  bool encoding_problem = false;  // undecodable transfer encoding or charset; body is best effort
};

// A file attached to the message (RFC 8621 §4.1.4 "attachments").
struct Attachment {
  int part = -1;              // index into Message::parts; the bytes are parts[part].body
  std::string filename;       // "" when the sender gave none
  std::string content_type;   // lower-case
  uint64_t size = 0;          // decoded size in bytes
  std::string sha256;         // lower-case hex of the decoded bytes
  std::string content_id;     // for inline images referenced as cid:
  bool is_inline = false;
};

struct Message {
  // --- identity and threading (ids without angle brackets) ---
  std::string message_id;                // "" when missing or unusable
  std::vector<std::string> in_reply_to;
  std::vector<std::string> references;

  // --- people ---
  std::optional<Address> from;
  std::optional<Address> sender;
  std::vector<Address> reply_to;
  std::vector<Address> to;
  std::vector<Address> cc;
  std::vector<std::string> delivered_to;    // every Delivered-To value (addresses)
  std::vector<std::string> x_original_to;   // every X-Original-To value
  std::optional<std::string> return_path;   // the address in Return-Path; "" for "<>" (null sender)

  // --- description ---
  std::string subject;                      // decoded
  std::optional<std::chrono::system_clock::time_point> date;  // nullopt when missing or unparseable
  std::vector<HeaderField> headers;         // every top-level header, in order

  // --- content (RFC 8621 §4.1.4 body choice) ---
  std::string text_body;                    // the text to post: text/plain parts, or HTML converted to text
  std::string html_body;                    // the HTML body as sent ("" when none)
  bool text_from_html = false;              // text_body was made from html_body
  std::vector<MimePart> parts;              // the whole MIME tree
  std::vector<int> text_body_parts;         // RFC 8621 textBody
  std::vector<int> html_body_parts;         // RFC 8621 htmlBody
  std::vector<Attachment> attachments;      // RFC 8621 attachments

  // --- machine-readable report parts, for the classifier ---
  std::string report_type;                  // multipart/report's report-type parameter, lower-case
  std::string delivery_status;              // message/delivery-status body (RFC 3464), "" when none
  std::string feedback_report;              // message/feedback-report body (RFC 5965), "" when none
  std::string returned_headers;             // headers of the returned message/rfc822 or text/rfc822-headers

  // --- what went wrong while parsing; empty for clean mail ---
  std::vector<std::string> warnings;
  uint64_t raw_size = 0;                    // bytes of the raw message
  bool truncated = false;                   // a size/depth/part limit cut the message short

  // The value of the first header called `name` (case-insensitive), or nullptr.
  const std::string* Header(std::string_view name) const;
  // The values of every header called `name` (case-insensitive), in order.
  std::vector<std::string_view> Headers(std::string_view name) const;
};

}  // namespace mail

#endif  // MAILFORUM_MAIL_MESSAGE_H_
