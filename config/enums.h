// The YAML names of the configuration's enums, one table per enum, shared by
// the loader (parsing) and the *Name() functions (printing). Internal to config/.
#ifndef MAILFORUM_CONFIG_ENUMS_H_
#define MAILFORUM_CONFIG_ENUMS_H_

#include <span>
#include <string_view>

#include "base/log.h"
#include "config/config.h"

namespace config::internal {

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

inline constexpr EnumName<TlsMode> kTlsModes[] = {
    {TlsMode::kImplicit, "implicit"}, {TlsMode::kStartTls, "starttls"}, {TlsMode::kNone, "none"}};

inline constexpr EnumName<AfterAction> kAfterActions[] = {
    {AfterAction::kSeen, "seen"}, {AfterAction::kMove, "move"}, {AfterAction::kDelete, "delete"}};

inline constexpr EnumName<RuleAction> kRuleActions[] = {{RuleAction::kThread, "thread"},
                                                        {RuleAction::kIgnore, "ignore"},
                                                        {RuleAction::kReject, "reject"},
                                                        {RuleAction::kQuarantine, "quarantine"}};

inline constexpr EnumName<Classification> kClassifications[] = {
    {Classification::kNormal, "normal"},
    {Classification::kAutoReply, "auto_reply"},
    {Classification::kBounce, "bounce"},
    {Classification::kFeedback, "feedback"},
    {Classification::kDeliveryNotice, "delivery_notice"}};

inline constexpr EnumName<DmarcResult> kDmarcResults[] = {{DmarcResult::kPass, "pass"},
                                                          {DmarcResult::kFail, "fail"},
                                                          {DmarcResult::kNone, "none"},
                                                          {DmarcResult::kTempError, "temperror"},
                                                          {DmarcResult::kPermError, "permerror"}};

inline constexpr EnumName<base::LogLevel> kLogLevels[] = {{base::LogLevel::kDebug, "debug"},
                                                          {base::LogLevel::kInfo, "info"},
                                                          {base::LogLevel::kWarning, "warning"},
                                                          {base::LogLevel::kError, "error"}};

inline constexpr EnumName<base::LogFormat> kLogFormats[] = {{base::LogFormat::kText, "text"},
                                                            {base::LogFormat::kJson, "json"}};

inline constexpr EnumName<AuthorDisplay> kAuthorDisplays[] = {{AuthorDisplay::kName, "name"},
                                                              {AuthorDisplay::kMasked, "masked"}};

inline constexpr EnumName<AuthMethod> kAuthMethods[] = {{AuthMethod::kPassword, "password"},
                                                        {AuthMethod::kOAuth2, "oauth2"}};

inline constexpr EnumName<OAuth2GrantType> kOAuth2Grants[] = {
    {OAuth2GrantType::kRefreshToken, "refresh_token"},
    {OAuth2GrantType::kClientCredentials, "client_credentials"}};

inline constexpr EnumName<OAuth2Mechanism> kOAuth2Mechanisms[] = {
    {OAuth2Mechanism::kXOAuth2, "xoauth2"}, {OAuth2Mechanism::kOAuthBearer, "oauthbearer"}};

template <typename E>
std::string_view NameOf(std::span<const EnumName<E>> table, E value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

}  // namespace config::internal

#endif  // MAILFORUM_CONFIG_ENUMS_H_
