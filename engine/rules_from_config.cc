#include "engine/rules_from_config.h"

#include <string>
#include <utility>

namespace engine {
namespace {

using CKind = config::Matcher::Kind;
using FKind = forum::Matcher::Kind;

FKind KindOf(CKind kind) {
  switch (kind) {
    case CKind::kAll:
      return FKind::kAll;
    case CKind::kAny:
      return FKind::kAny;
    case CKind::kNot:
      return FKind::kNot;
    case CKind::kFrom:
      return FKind::kFrom;
    case CKind::kFromDomain:
      return FKind::kFromDomain;
    case CKind::kTo:
      return FKind::kTo;
    case CKind::kCc:
      return FKind::kCc;
    case CKind::kSubject:
      return FKind::kSubject;
    case CKind::kBody:
      return FKind::kBody;
    case CKind::kHeader:
      return FKind::kHeader;
    case CKind::kHasAttachment:
      return FKind::kHasAttachment;
    case CKind::kSizeOver:
      return FKind::kSizeOver;
    case CKind::kClassification:
      return FKind::kClassification;
    case CKind::kDmarc:
      return FKind::kDmarc;
  }
  return FKind::kAny;  // Unreachable; an empty `any` would match nothing.
}

forum::RuleAction ActionOf(config::RuleAction action) {
  switch (action) {
    case config::RuleAction::kThread:
      return forum::RuleAction::kThread;
    case config::RuleAction::kIgnore:
      return forum::RuleAction::kIgnore;
    case config::RuleAction::kReject:
      return forum::RuleAction::kReject;
    case config::RuleAction::kQuarantine:
      return forum::RuleAction::kQuarantine;
  }
  return forum::RuleAction::kQuarantine;  // Unreachable; the safest action.
}

forum::Matcher MatcherOf(const config::Matcher& in) {
  forum::Matcher out;
  out.kind = KindOf(in.kind);
  for (const config::Matcher& child : in.children) out.children.push_back(MatcherOf(child));
  out.values = in.values;
  for (config::Classification c : in.classifications) out.values.emplace_back(config::ClassificationName(c));
  for (config::DmarcResult d : in.dmarc) out.values.emplace_back(config::DmarcResultName(d));
  out.regex = in.regex;
  out.header_name = in.header_name;
  out.flag = in.flag;
  out.size = in.size;
  return out;
}

}  // namespace

std::vector<forum::Rule> RulesFromConfig(const std::vector<config::Rule>& rules) {
  std::vector<forum::Rule> out;
  out.reserve(rules.size());
  for (const config::Rule& in : rules) {
    forum::Rule rule;
    rule.name = in.name;
    if (in.match) rule.match = MatcherOf(*in.match);
    rule.action = ActionOf(in.action);
    rule.category = in.category;
    rule.tags = in.tags;
    rule.reason = in.reason;
    rule.line = in.line;
    out.push_back(std::move(rule));
  }
  return out;
}

}  // namespace engine
