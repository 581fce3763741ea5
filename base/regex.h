// base::Regex: a compiled regular expression that is safe to run over hostile
// input.
//
// It wraps RE2 (linear-time matching, no backtracking, Perl-like syntax
// including inline flags such as "(?i)"); this file and regex.cc are the only
// places in the project that see RE2. Matching never throws and takes time
// linear in the length of the text, so rule regexes written by operators
// cannot be turned into a denial of service by the subjects and bodies that
// strangers send.
//
// Thread-safety: a Regex is immutable after Compile(); copies share the
// compiled program, and any number of threads may match with the same Regex
// or its copies at once.
#ifndef MAILFORUM_BASE_REGEX_H_
#define MAILFORUM_BASE_REGEX_H_

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

namespace re2 {
class RE2;
}  // namespace re2

namespace base {

class Regex {
 public:
  // Compiles `pattern` (RE2 syntax, text and pattern as UTF-8). On failure
  // returns ErrorKind::kInvalidInput with a message saying what is wrong, taken
  // from RE2, e.g. "invalid regular expression: missing ): (abc".
  static Result<Regex> Compile(std::string_view pattern);

  // True when the regex matches anywhere in `text` (anchor with ^ and $ to
  // match the whole text). `.` does not match a newline unless the pattern
  // says "(?s)"; ^ and $ match at line boundaries only with "(?m)".
  bool PartialMatch(std::string_view text) const;

  // The pattern as given to Compile().
  const std::string& pattern() const { return pattern_; }

 private:
  Regex(std::string pattern, std::shared_ptr<const re2::RE2> re);

  std::string pattern_;
  std::shared_ptr<const re2::RE2> re_;  // Never null.
};

}  // namespace base

#endif  // MAILFORUM_BASE_REGEX_H_
