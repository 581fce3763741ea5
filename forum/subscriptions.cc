#include "forum/subscriptions.h"

namespace forum {

std::string_view UnsubscribeSourceName(UnsubscribeSource source) {
  switch (source) {
    case UnsubscribeSource::kOneClick:
      return "one-click";
    case UnsubscribeSource::kMailto:
      return "mailto";
    case UnsubscribeSource::kMute:
      return "mute";
    case UnsubscribeSource::kCli:
      return "cli";
  }
  return "cli";
}

std::string ThreadScope(int64_t thread_id) { return "thread:" + std::to_string(thread_id); }

std::string CategoryScope(std::string_view slug) { return "category:" + std::string(slug); }

std::string ScopeOfMail(OutboxKind kind, std::optional<int64_t> thread_id, std::string_view category) {
  switch (kind) {
    case OutboxKind::kAnswer:
      return thread_id ? ThreadScope(*thread_id) : "";
    case OutboxKind::kNotification:
      return category.empty() ? "" : CategoryScope(category);
    case OutboxKind::kAcknowledgement:
      return std::string(kAcknowledgementsScope);
    case OutboxKind::kRejection:
      return "";
  }
  return "";
}

std::string DescribeScope(std::string_view scope) {
  for (std::string_view prefix : {"thread:", "category:"}) {
    if (scope.starts_with(prefix)) {
      return std::string(prefix.substr(0, prefix.size() - 1)) + " " +
             std::string(scope.substr(prefix.size()));
    }
  }
  return std::string(scope);
}

}  // namespace forum
