#include "forum/rules.h"

#include <strings.h>

#include <algorithm>
#include <utility>

namespace forum {
namespace {

using Kind = Matcher::Kind;

// Values from the message are cut to this many bytes in explanations.
constexpr size_t kMaxShown = 100;
// Lists from the configuration show this many values in explanations.
constexpr size_t kMaxListed = 8;

bool SameAscii(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// An empty value is never listed: a From without an address must not match a stray "".
bool IsListed(std::string_view value, const std::vector<std::string>& values) {
  return !value.empty() &&
         std::any_of(values.begin(), values.end(), [&](const std::string& v) { return SameAscii(v, value); });
}

// The first of `addresses` whose address part is listed, or nullptr.
const mail::Address* FirstListed(const std::vector<mail::Address>& addresses,
                                 const std::vector<std::string>& values) {
  for (const mail::Address& a : addresses) {
    if (IsListed(a.address, values)) return &a;
  }
  return nullptr;
}

std::string_view FromAddress(const mail::Message& message) {
  return message.from ? std::string_view(message.from->address) : std::string_view();
}

// The part after the last '@'; empty when there is none.
std::string_view DomainOf(std::string_view address) {
  const size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

bool RegexMatches(const Matcher& m, std::string_view text) { return m.regex && m.regex->PartialMatch(text); }

bool HasHeader(const Matcher& m, const mail::Message& message) {
  return std::any_of(message.headers.begin(), message.headers.end(),
                     [&](const mail::HeaderField& h) { return SameAscii(h.name, m.header_name); });
}

bool HeaderMatches(const Matcher& m, const mail::Message& message) {
  return std::any_of(message.headers.begin(), message.headers.end(), [&](const mail::HeaderField& h) {
    return SameAscii(h.name, m.header_name) && RegexMatches(m, h.value);
  });
}

bool AnyChildMatches(const Matcher& m, const RuleFacts& facts) {
  return std::any_of(m.children.begin(), m.children.end(),
                     [&](const Matcher& c) { return Matches(c, facts); });
}

// --- explanations ---

// `value` cut to kMaxShown bytes, at a UTF-8 character boundary.
std::string Shown(std::string_view value) {
  if (value.size() <= kMaxShown) return std::string(value);
  size_t end = kMaxShown;
  while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
  return std::string(value.substr(0, end)) + "...";
}

// "[a, b, c]", at most kMaxListed values.
std::string ListText(const std::vector<std::string>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size() && i < kMaxListed; ++i) {
    if (i > 0) out += ", ";
    out += Shown(values[i]);
  }
  if (values.size() > kMaxListed) out += ", ... " + std::to_string(values.size() - kMaxListed) + " more";
  return out + "]";
}

std::string PatternText(const Matcher& m) { return m.regex ? m.regex->pattern() : "(no regex)"; }

// "<what> <value> is in [...]" or "... is not in [...]".
std::string InList(std::string_view what, std::string_view value, bool matched, const Matcher& m) {
  return std::string(what) + " " + Shown(value) + (matched ? " is in " : " is not in ") + ListText(m.values);
}

std::string ExplainRecipients(std::string_view field, const std::vector<mail::Address>& addresses,
                              const Matcher& m) {
  if (const mail::Address* hit = FirstListed(addresses, m.values)) {
    return std::string(field) + " includes " + Shown(hit->address);
  }
  return std::string(field) + " has none of " + ListText(m.values);
}

std::string ExplainRegex(std::string_view what, bool matched, const Matcher& m) {
  return std::string(what) + (matched ? " matches " : " does not match ") + PatternText(m);
}

std::string Explain(const Matcher& m, const RuleFacts& facts, bool matched);

// The explanations of the children whose outcome is `outcome`, joined by " and ".
std::string ExplainChildren(const Matcher& m, const RuleFacts& facts, bool outcome) {
  std::string out;
  for (const Matcher& c : m.children) {
    if (Matches(c, facts) != outcome) continue;
    out += (out.empty() ? "" : " and ") + Explain(c, facts, outcome);
  }
  return out.empty() ? "no condition to check" : out;
}

// The explanation of the first child whose outcome is `outcome`.
std::string ExplainFirstChild(const Matcher& m, const RuleFacts& facts, bool outcome) {
  for (const Matcher& c : m.children) {
    if (Matches(c, facts) == outcome) return Explain(c, facts, outcome);
  }
  return "no condition to check";
}

// Why `m` has the outcome `matched` (which is Matches(m, facts)).
std::string Explain(const Matcher& m, const RuleFacts& facts, bool matched) {
  const mail::Message& message = facts.message;
  switch (m.kind) {
    case Kind::kAll:
      return matched ? ExplainChildren(m, facts, true) : ExplainFirstChild(m, facts, false);
    case Kind::kAny:
      return matched ? ExplainFirstChild(m, facts, true) : ExplainChildren(m, facts, false);
    case Kind::kNot:
      return matched ? ExplainChildren(m, facts, false) : ExplainFirstChild(m, facts, true);
    case Kind::kFrom:
    case Kind::kFromDomain: {
      const std::string_view from = FromAddress(message);
      if (from.empty()) return "there is no From address";
      return m.kind == Kind::kFrom ? InList("from", from, matched, m)
                                   : InList("from domain", DomainOf(from), matched, m);
    }
    case Kind::kTo:
      return ExplainRecipients("to", message.to, m);
    case Kind::kCc:
      return ExplainRecipients("cc", message.cc, m);
    case Kind::kSubject:
      return ExplainRegex("subject", matched, m);
    case Kind::kBody:
      return ExplainRegex("body", matched, m);
    case Kind::kHeader:
      if (!HasHeader(m, message)) return "there is no " + m.header_name + " header";
      return (matched ? "header " + m.header_name : "no " + m.header_name + " header") + " matches " +
             PatternText(m);
    case Kind::kHasAttachment: {
      const size_t n = message.attachments.size();
      if (n == 0) return "has no attachment";
      return n == 1 ? "has an attachment" : "has " + std::to_string(n) + " attachments";
    }
    case Kind::kSizeOver:
      return "size " + std::to_string(message.raw_size) + " bytes is " + (matched ? "over " : "not over ") +
             std::to_string(m.size);
    case Kind::kClassification:
      return InList("classification", facts.classification, matched, m);
    case Kind::kDmarc:
      return InList("dmarc", facts.dmarc, matched, m);
  }
  return "?";
}

// Control characters (from the message, or a pattern with "\n") would break the line.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return text;
}

}  // namespace

std::string_view RuleActionName(RuleAction action) {
  switch (action) {
    case RuleAction::kThread:
      return "thread";
    case RuleAction::kIgnore:
      return "ignore";
    case RuleAction::kReject:
      return "reject";
    case RuleAction::kQuarantine:
      return "quarantine";
  }
  return "?";
}

bool Matches(const Matcher& m, const RuleFacts& facts) {
  const mail::Message& message = facts.message;
  switch (m.kind) {
    case Kind::kAll:
      return std::all_of(m.children.begin(), m.children.end(),
                         [&](const Matcher& c) { return Matches(c, facts); });
    case Kind::kAny:
      return AnyChildMatches(m, facts);
    case Kind::kNot:
      return !AnyChildMatches(m, facts);
    case Kind::kFrom:
      return IsListed(FromAddress(message), m.values);
    case Kind::kFromDomain:
      return IsListed(DomainOf(FromAddress(message)), m.values);
    case Kind::kTo:
      return FirstListed(message.to, m.values) != nullptr;
    case Kind::kCc:
      return FirstListed(message.cc, m.values) != nullptr;
    case Kind::kSubject:
      return RegexMatches(m, message.subject);
    case Kind::kBody:
      return RegexMatches(m, message.text_body);
    case Kind::kHeader:
      return HeaderMatches(m, message);
    case Kind::kHasAttachment:
      return message.attachments.empty() != m.flag;
    case Kind::kSizeOver:
      return message.raw_size > m.size;
    case Kind::kClassification:
      return IsListed(facts.classification, m.values);
    case Kind::kDmarc:
      return IsListed(facts.dmarc, m.values);
  }
  return false;
}

const Rule* FirstMatch(const std::vector<Rule>& rules, const RuleFacts& facts) {
  for (const Rule& rule : rules) {
    if (!rule.match || Matches(*rule.match, facts)) return &rule;
  }
  return nullptr;
}

std::string ExplainMatch(const Rule& rule, const RuleFacts& facts) {
  std::string out = "rule '" + Shown(rule.name) + "'";
  if (rule.line > 0) out += " (line " + std::to_string(rule.line) + ")";
  out += ": ";
  if (!rule.match) return OneLine(out + "matches every message");
  const bool matched = Matches(*rule.match, facts);
  if (!matched) out += "does not match: ";
  return OneLine(out + Explain(*rule.match, facts, matched));
}

}  // namespace forum
