// Decoders the MIME parser shares between bodies and header fields: the
// Content-Transfer-Encodings (base64, quoted-printable, uuencode) and RFC 2047
// encoded words. Internal to mail/ (used by mime_parser*.cc and their tests).
//
// All decoders are tolerant: they never fail and never throw; where the input
// is broken they say so through a flag and return their best effort. Time and
// memory are linear in the input.
// Thread-safety: pure functions; safe to call concurrently.
#ifndef MAILFORUM_MAIL_MIME_PARSER_CODEC_H_
#define MAILFORUM_MAIL_MIME_PARSER_CODEC_H_

#include <string>
#include <string_view>

namespace mail::internal {

// Decodes base64 as RFC 2045 asks, skipping whitespace. Padding ends a group of
// four (yielding the bytes it holds), and decoding goes on after it (some
// encoders concatenate separately padded chunks); an incomplete group at the
// very end, without padding, is dropped (as Stalwart's mail-parser does). Sets
// `*clean` to false when the data holds characters outside the base64 alphabet
// (which are skipped); such data is probably not base64 at all.
std::string DecodeBase64(std::string_view in, bool* clean);

// Decodes quoted-printable (RFC 2045): "=XX" (either case), soft line breaks
// "=" CRLF / "=" LF, trailing whitespace on encoded lines dropped. A "=" that
// starts no valid escape is kept literally.
std::string DecodeQuotedPrintable(std::string_view in);

// Decodes the body of a "begin MODE NAME" ... "end" uuencoded block. Sets
// `*clean` to false when there is no begin line (the input is then returned
// unchanged).
std::string DecodeUuencode(std::string_view in, bool* clean);

// What DecodeEncodedWords does where an encoded word touches other text
// without whitespace between them ("[SPAM]=?utf-8?q?Hello?=").
enum class WordJoin {
  kSeparate,   // Insert one space: right for subjects and display names.
  kAsWritten,  // Insert nothing: right for parameter values such as filenames.
};

// Decodes the RFC 2047 encoded words in `text` (a header value or a piece of
// one, possibly still folded; raw 8-bit text must already be UTF-8) and
// unfolds it: a run of whitespace that holds a line break becomes one space,
// and a line break inside an encoded word disappears. Whitespace between two
// encoded words is dropped. Adjacent encoded words in the same charset are
// decoded together, so a multi-byte character split between them survives.
// Encoded words may contain spaces (a common error). Anything that is not a
// well-formed encoded word is kept as written. The result is UTF-8 without NUL
// bytes; it is not trimmed.
std::string DecodeEncodedWords(std::string_view text, WordJoin join);

// What an unstructured header (Subject, or any header shown to a person) says:
// raw 8-bit bytes decoded as undeclared text (charset.h), then
// DecodeEncodedWords with WordJoin::kSeparate, then trimmed.
std::string DecodeHeaderText(std::string_view raw_value);

}  // namespace mail::internal

#endif  // MAILFORUM_MAIL_MIME_PARSER_CODEC_H_
