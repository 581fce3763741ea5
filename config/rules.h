// Reading a mailbox's routing rules and their matcher trees. Internal to config/.
//
// Thread-safety: as Reader.
#ifndef MAILFORUM_CONFIG_RULES_H_
#define MAILFORUM_CONFIG_RULES_H_

#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/reader.h"

namespace config::internal {

// A rule as read, with where its category was named, so the loader can check
// the category once all categories are known (they may come later in the file).
struct ReadRule {
  Rule rule;
  YAML::Mark category_mark;
};

// The rules in the list `rules` (a non-empty list of maps). Problems are
// reported; a rule without a valid name or action is left out. Rules after
// one without `match` draw a warning (they are never used).
std::vector<ReadRule> ReadRules(Reader& reader, const Value& rules);

// One matcher map ("match: {...}", or an item of all/any, or the operand of
// not). A map with several keys is their conjunction. nullopt when nothing in
// it could be read.
std::optional<Matcher> ReadMatcher(Reader& reader, const Value& value);

// The keys of a rule and of a matcher map (for config::KnownKeys).
std::vector<std::string_view> RuleKeys();
const std::vector<std::string_view>& MatcherKeyNames();

}  // namespace config::internal

#endif  // MAILFORUM_CONFIG_RULES_H_
