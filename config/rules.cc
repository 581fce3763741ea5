#include "config/rules.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/enums.h"

namespace config::internal {
namespace {

using Kind = Matcher::Kind;

struct MatcherKey {
  std::string_view key;
  Kind kind;
};

constexpr MatcherKey kMatcherKeys[] = {
    {"all", Kind::kAll},
    {"any", Kind::kAny},
    {"not", Kind::kNot},
    {"from", Kind::kFrom},
    {"from_domain", Kind::kFromDomain},
    {"to", Kind::kTo},
    {"cc", Kind::kCc},
    {"subject", Kind::kSubject},
    {"body", Kind::kBody},
    {"header", Kind::kHeader},
    {"has_attachment", Kind::kHasAttachment},
    {"size_over", Kind::kSizeOver},
    {"classification", Kind::kClassification},
    {"dmarc", Kind::kDmarc},
};

constexpr std::string_view kRuleKeys[] = {"name", "match", "action", "category", "tags", "reason"};
constexpr std::string_view kHeaderKeys[] = {"name", "regex"};

// RFC 5322 field name: printable US-ASCII except ':'.
bool IsHeaderName(std::string_view name) {
  for (char c : name) {
    if (c < 33 || c > 126 || c == ':') return false;
  }
  return !name.empty();
}

std::optional<Matcher> ReadHeaderMatcher(Reader& reader, const Value& value) {
  Section s(reader, value, "in header", kHeaderKeys);
  auto name = s.String("name", Need::kRequired);
  auto regex = s.Read("regex", Need::kRequired, [&](const Value& v) { return reader.Regex(v); });
  if (name && !IsHeaderName(*name)) {
    reader.Error(s.Get("name")->mark, "name: '" + *name + "' is not a header field name");
    name.reset();
  }
  if (!name || !regex) return std::nullopt;
  Matcher m;
  m.kind = Kind::kHeader;
  m.header_name = *name;
  m.regex = std::move(regex);
  return m;
}

// A non-empty list of enum names; empty when it is not one (reported).
template <typename E>
std::vector<E> EnumList(Reader& reader, const Value& v, std::string_view what, std::span<const EnumName<E>> table) {
  auto values = reader.List(v, what, false, [&](const Value& item) { return reader.Enum<E>(item, table); });
  return values.value_or(std::vector<E>{});
}

// The leaf or inner matcher for one key of a match map.
std::optional<Matcher> ReadCondition(Reader& reader, Kind kind, const Value& v) {
  Matcher m;
  m.kind = kind;
  auto address = [&](const Value& item) { return reader.Address(item); };
  switch (kind) {
    case Kind::kAll:
    case Kind::kAny: {
      auto children =
          reader.List(v, "matchers", false, [&](const Value& item) { return ReadMatcher(reader, item); });
      if (!children || children->empty()) return std::nullopt;
      m.children = std::move(*children);
      return m;
    }
    case Kind::kNot: {
      auto child = ReadMatcher(reader, v);
      if (!child) return std::nullopt;
      m.children.push_back(std::move(*child));
      return m;
    }
    case Kind::kFrom:
    case Kind::kTo:
    case Kind::kCc:
      if (auto values = reader.List(v, "addresses", false, address)) m.values = std::move(*values);
      break;
    case Kind::kFromDomain:
      if (auto values = reader.List(v, "domains", false, [&](const Value& i) { return reader.Domain(i); })) {
        m.values = std::move(*values);
      }
      break;
    case Kind::kSubject:
    case Kind::kBody:
      m.regex = reader.Regex(v);
      if (!m.regex) return std::nullopt;
      return m;
    case Kind::kHeader:
      return ReadHeaderMatcher(reader, v);
    case Kind::kHasAttachment: {
      auto flag = reader.Bool(v);
      if (!flag) return std::nullopt;
      m.flag = *flag;
      return m;
    }
    case Kind::kSizeOver: {
      auto size = reader.Size(v);
      if (!size) return std::nullopt;
      m.size = *size;
      return m;
    }
    case Kind::kClassification:
      m.classifications = EnumList<Classification>(reader, v, "classifications", kClassifications);
      if (m.classifications.empty()) return std::nullopt;
      return m;
    case Kind::kDmarc:
      m.dmarc = EnumList<DmarcResult>(reader, v, "DMARC results", kDmarcResults);
      if (m.dmarc.empty()) return std::nullopt;
      return m;
  }
  if (m.values.empty()) return std::nullopt;
  return m;
}

std::optional<Rule> ReadOneRule(Reader& reader, Section& s) {
  Rule rule;
  rule.line = s.mark().line + 1;
  auto name = s.String("name", Need::kRequired);
  auto action = s.Enum<RuleAction>("action", kRuleActions, Need::kRequired);
  // A rule whose matcher has errors is still read, to check the rest of it.
  if (auto match = s.Get("match")) rule.match = ReadMatcher(reader, *match);
  auto category = s.String("category");
  auto tags = s.Read("tags", Need::kOptional, [&](const Value& v) {
    return reader.List(v, "tags", true, [&](const Value& i) { return reader.String(i); });
  });
  auto reason = s.String("reason");
  if (!name || !action) return std::nullopt;
  rule.name = *name;
  rule.action = *action;
  const std::string action_name(RuleActionName(*action));
  auto no_effect = [&](std::string_view key, std::string_view needed) {
    reader.Warning(s.Get(key)->key_mark, std::string(key) + " has no effect with action: " + action_name +
                                             " (only with action: " + std::string(needed) + ")");
  };
  if (*action == RuleAction::kThread) {
    if (!category) {
      if (!s.Get("category")) s.Missing("key 'category'", "needed for action: thread");
      return std::nullopt;
    }
    rule.category = *category;
    rule.tags = tags.value_or(std::vector<std::string>{});
  } else {
    if (category) no_effect("category", "thread");
    if (tags) no_effect("tags", "thread");
  }
  if (reason) {
    if (*action == RuleAction::kReject) {
      rule.reason = *reason;
    } else {
      no_effect("reason", "reject");
    }
  }
  return rule;
}

}  // namespace

const std::vector<std::string_view>& MatcherKeyNames() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const MatcherKey& key : kMatcherKeys) out.push_back(key.key);
    return out;
  }();
  return names;
}

std::vector<std::string_view> RuleKeys() { return {std::begin(kRuleKeys), std::end(kRuleKeys)}; }

std::optional<Matcher> ReadMatcher(Reader& reader, const Value& value) {
  Section s(reader, value, "in match", MatcherKeyNames());
  if (value.node.IsNull() || (value.node.IsMap() && value.node.size() == 0)) {
    reader.Error(value.mark, value.key + ": expected at least one condition (leave '" + value.key +
                                 "' out to match every message)");
    return std::nullopt;
  }
  std::vector<Matcher> conditions;
  bool all_read = value.node.IsMap();
  for (const Value& field : s.fields()) {
    for (const MatcherKey& key : kMatcherKeys) {
      if (key.key != field.key) continue;
      auto condition = ReadCondition(reader, key.kind, field);
      if (condition) {
        conditions.push_back(std::move(*condition));
      } else {
        all_read = false;
      }
    }
  }
  if (!all_read || conditions.empty()) return std::nullopt;
  if (conditions.size() == 1) return std::move(conditions.front());
  Matcher all;
  all.kind = Kind::kAll;
  all.children = std::move(conditions);
  return all;
}

std::vector<ReadRule> ReadRules(Reader& reader, const Value& rules) {
  std::vector<ReadRule> out;
  auto items = reader.Items(rules, "rules", false);
  if (!items) return out;
  UniqueNames names("rule name");
  std::optional<std::size_t> catch_all;  // Index in `out` of the first rule without `match`.
  for (const Value& item : *items) {
    Section s(reader, item, "in rule", kRuleKeys);
    auto rule = ReadOneRule(reader, s);
    if (!rule) continue;
    names.Add(reader, rule->name, s.Get("name")->mark);
    if (catch_all) {
      const Rule& all = out[*catch_all].rule;
      reader.Warning(s.mark(), "rule '" + rule->name + "' is never used: rule '" + all.name + "' (line " +
                                   std::to_string(all.line) + ") matches every message");
    }
    YAML::Mark category_mark = rule->category.empty() ? s.mark() : s.Get("category")->mark;
    out.push_back({std::move(*rule), category_mark});
    if (!s.Get("match") && !catch_all) catch_all = out.size() - 1;
  }
  return out;
}

}  // namespace config::internal
