#include "config/config.h"

#include "config/enums.h"

namespace config {

using internal::NameOf;

std::string_view TlsModeName(TlsMode mode) { return NameOf<TlsMode>(internal::kTlsModes, mode); }
std::string_view AfterActionName(AfterAction action) {
  return NameOf<AfterAction>(internal::kAfterActions, action);
}
std::string_view RuleActionName(RuleAction action) {
  return NameOf<RuleAction>(internal::kRuleActions, action);
}
std::string_view ClassificationName(Classification kind) {
  return NameOf<Classification>(internal::kClassifications, kind);
}
std::string_view DmarcResultName(DmarcResult result) {
  return NameOf<DmarcResult>(internal::kDmarcResults, result);
}
std::string_view AuthorDisplayName(AuthorDisplay display) {
  return NameOf<AuthorDisplay>(internal::kAuthorDisplays, display);
}

std::string_view AuthMethodName(AuthMethod method) {
  return NameOf<AuthMethod>(internal::kAuthMethods, method);
}
std::string_view OAuth2GrantTypeName(OAuth2GrantType grant) {
  return NameOf<OAuth2GrantType>(internal::kOAuth2Grants, grant);
}
std::string_view OAuth2MechanismName(OAuth2Mechanism mechanism) {
  return NameOf<OAuth2Mechanism>(internal::kOAuth2Mechanisms, mechanism);
}

const Category* Config::FindCategory(std::string_view slug) const {
  for (const Category& category : categories) {
    if (category.slug == slug) return &category;
  }
  return nullptr;
}

const MailboxConfig* Config::FindMailbox(std::string_view name) const {
  for (const MailboxConfig& mailbox : mailboxes) {
    if (mailbox.name == name) return &mailbox;
  }
  return nullptr;
}

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  out += severity == Severity::kError ? ": error: " : ": warning: ";
  out += message;
  return out;
}

}  // namespace config
