#include "base/regex.h"

#include <re2/re2.h>

#include <utility>

namespace base {

Regex::Regex(std::string pattern, std::shared_ptr<const re2::RE2> re)
    : pattern_(std::move(pattern)), re_(std::move(re)) {}

Result<Regex> Regex::Compile(std::string_view pattern) {
  RE2::Options options;
  // RE2 would otherwise print the error to stderr itself; we return it instead.
  options.set_log_errors(false);
  auto re = std::make_shared<const re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), options);
  if (!re->ok()) return MakeError(ErrorKind::kInvalidInput, "invalid regular expression: " + re->error());
  return Regex(std::string(pattern), std::move(re));
}

bool Regex::PartialMatch(std::string_view text) const {
  return re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

}  // namespace base
