// Charset decoding for the MIME parser: every byte sequence that leaves the
// parser as text goes through here and comes out as valid UTF-8 without NUL
// bytes (safe for PostgreSQL).
//
// Declared charsets are decoded with glibc's iconv (this file and charset.cc
// are the only places that see it), after mapping the names mail really uses
// to the superset a browser would use: ISO-8859-1 and US-ASCII → windows-1252,
// GB2312 → GB18030, Shift_JIS → windows-31J, EUC-KR → CP949, ISO-2022-JP →
// ISO-2022-JP-2. Bytes that are invalid in their charset become U+FFFD; a
// multi-byte character cut off by the end of the text (a truncation, e.g. an odd
// last byte of UTF-16) is dropped, as Stalwart's mail-parser does. When a
// multi-byte charset does not fit the bytes at all, the usual mislabels are
// tried: UTF-8, and the siblings of its family (ISO-2022-JP / EUC-JP /
// Shift_JIS, GB18030 / Big5), as mail from Japanese carriers needs.
// Undeclared text (raw 8-bit headers, parts without a charset parameter, unknown
// charset names) stays as it is when it is valid UTF-8, is decoded as
// ISO-2022-JP when it carries that charset's escape sequences, and is read as
// windows-1252 otherwise.
//
// Thread-safety: all functions are safe to call concurrently; iconv
// descriptors are cached per thread.
#ifndef MAILFORUM_MAIL_CHARSET_H_
#define MAILFORUM_MAIL_CHARSET_H_

#include <string>
#include <string_view>

namespace mail {

struct DecodedText {
  std::string text;           // Valid UTF-8, no NUL bytes.
  bool had_errors = false;    // Some bytes were invalid in the charset and became U+FFFD.
  bool known_charset = true;  // False when the charset name was not recognised (text is then
                              // decoded as undeclared text).
  bool relabelled = false;    // The declared charset did not fit; another one (above) did.
};

// Decodes `bytes` written in `charset` (a MIME charset name in any case,
// possibly quoted, possibly with an RFC 2231 "*language" suffix). An empty
// charset means "undeclared". Never fails.
DecodedText DecodeCharset(std::string_view bytes, std::string_view charset);

// Decodes text whose charset nobody declared: valid UTF-8 stays (minus NULs),
// ISO-2022-JP escape sequences are honoured, anything else is windows-1252.
std::string DecodeUndeclared(std::string_view bytes);

// Valid UTF-8 stays; each maximal invalid subsequence becomes one U+FFFD (the
// Unicode/WHATWG practice); NUL bytes are removed.
std::string SanitizeUtf8(std::string_view bytes);

// Appends the UTF-8 encoding of the code point `cp` (at most U+10FFFF).
void AppendUtf8(std::string& out, char32_t cp);

// True when `bytes` is well-formed UTF-8 (NUL bytes allowed).
bool IsValidUtf8(std::string_view bytes);

// The longest prefix of the UTF-8 text `text` that is at most `max_bytes`
// long and ends on a character boundary (never in the middle of a multi-byte
// sequence). Every cut of text that leaves the parser or the classifier goes
// through here, so that a cut never produces invalid UTF-8.
std::string_view CutUtf8(std::string_view text, size_t max_bytes);

}  // namespace mail

#endif  // MAILFORUM_MAIL_CHARSET_H_
