// ASCII helpers shared by the MIME parser's files and HTML to text. Internal
// to mail/. Mail syntax is ASCII: these never look at a locale, so they are
// safe on any bytes and in any thread.
#ifndef MAILFORUM_MAIL_MIME_PARSER_TEXT_H_
#define MAILFORUM_MAIL_MIME_PARSER_TEXT_H_

#include <string>
#include <string_view>

#include "base/ascii.h"

namespace mail::internal {

inline bool IsBlank(char c) { return c == ' ' || c == '\t'; }
inline bool IsSpace(char c) { return IsBlank(c) || c == '\r' || c == '\n'; }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

using base::AsciiLower;
inline bool EqualsNoCase(std::string_view a, std::string_view b) { return base::EqualsIgnoreCase(a, b); }

// `s` without leading and trailing spaces, tabs and line breaks.
inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// The value of a hex digit, or -1.
inline int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace mail::internal

#endif  // MAILFORUM_MAIL_MIME_PARSER_TEXT_H_
