// Parsers for the structured header fields the MIME parser reads: address
// lists, message-id lists, dates and the parameterised Content-Type /
// Content-Disposition values. Internal to mail/ (used by mime_parser.cc and
// its tests).
//
// Every parser takes the raw field value (possibly folded, possibly raw 8-bit;
// raw 8-bit is read as undeclared text, see charset.h) and is tolerant the way
// the peers in tests/corpus/mail-parser expect: it never fails, it returns what
// it could recognise, and it takes time linear in the input. Lists stop at
// kMaxListItems entries, so that a hostile header cannot make memory grow
// many times larger than the message.
// Thread-safety: pure functions; safe to call concurrently.
#ifndef MAILFORUM_MAIL_MIME_PARSER_FIELDS_H_
#define MAILFORUM_MAIL_MIME_PARSER_FIELDS_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mail/message.h"

namespace mail::internal {

inline constexpr size_t kMaxListItems = 10000;

// An RFC 5322 address-list, with groups flattened into their members (the
// group names are dropped; an empty group yields nothing). Display names are
// decoded (quoted strings unescaped, RFC 2047 words decoded, also inside
// quotes, which is common). Comments are kept as a fallback name: with a name
// they are appended as "Name (comment)", without one they become the name
// ("joe@example.com (Joe)"). Addresses keep their spelling minus comments and
// folding; an address without angle brackets is recognised by its "@".
std::vector<Address> ParseAddressList(std::string_view raw_value);

// The ids in a Message-ID, In-Reply-To or References value, without angle
// brackets, in order, empty ones dropped. When the value has angle brackets
// only the bracketed ids count (so "(Joe's message of ...)" junk is skipped);
// without brackets each whitespace-separated word is an id.
std::vector<std::string> ParseIdList(std::string_view raw_value);

// An RFC 5322 date (also the obsolete forms: two-digit years, named zones,
// comments anywhere, missing seconds or weekday; a Received-style prefix up to
// the last ";" is skipped). nullopt when no valid day, month and year are
// found, a field is out of range or the year is outside 1900-2200. A missing
// time means midnight; an unknown zone means UTC.
std::optional<std::chrono::system_clock::time_point> ParseDate(std::string_view raw_value);

// A Content-Type or Content-Disposition value.
struct ParameterizedValue {
  std::string value;  // lower case: "text/plain" (whitespace removed), "attachment"; "" when missing
  // Parameter names in lower case, values decoded to UTF-8: RFC 2231 sections
  // joined and percent-decoded in their declared charset, RFC 2047 words
  // decoded, quoted strings unescaped. The first parameter of a name wins.
  std::vector<std::pair<std::string, std::string>> parameters;

  // The value of parameter `name` (lower case), or nullptr.
  const std::string* Parameter(std::string_view name) const;
};
ParameterizedValue ParseParameterizedValue(std::string_view raw_value);

}  // namespace mail::internal

#endif  // MAILFORUM_MAIL_MIME_PARSER_FIELDS_H_
