#include "cli/recording_lookup.h"

namespace ctl {

base::Result<bool> RecordingLookup::ThreadExists(int64_t thread_id) {
  token_thread_ = thread_id;
  token_thread_exists_ = false;
  if (store_ == nullptr) return false;
  auto exists = store_->ThreadExists(thread_id);
  if (Failed(exists)) return false;
  token_thread_exists_ = *exists;
  return *exists;
}

base::Result<std::optional<int64_t>> RecordingLookup::FindThreadByMessageIds(
    const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    if (store_ == nullptr) break;
    auto thread = store_->FindThreadByMessageIds({id});
    if (Failed(thread)) break;
    if (thread->has_value()) {
      matched_message_id_ = id;
      references_thread_ = *thread;
      return *thread;
    }
  }
  return std::optional<int64_t>();
}

base::Result<std::optional<forum::ThreadAudience>> RecordingLookup::FindThreadAudience(int64_t thread_id) {
  if (store_ == nullptr) return std::optional<forum::ThreadAudience>();
  auto audience = store_->FindThreadAudience(thread_id);
  if (Failed(audience)) return std::optional<forum::ThreadAudience>();
  return *audience;
}

base::Result<std::optional<forum::PostRef>> RecordingLookup::FindPostByMessageId(const std::string& message_id) {
  if (store_ == nullptr) return std::optional<forum::PostRef>();
  auto post = store_->FindPostByMessageId(message_id);
  if (Failed(post)) return std::optional<forum::PostRef>();
  return *post;
}

base::Result<bool> RecordingLookup::MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                                 const std::vector<std::string>& message_ids) {
  if (store_ == nullptr) return false;
  auto ours = store_->MailedDomain(domain, outbox_id, message_ids);
  if (Failed(ours)) return false;
  return *ours;
}

base::Result<std::optional<forum::UnsubscribeTarget>> RecordingLookup::FindUnsubscribeTarget(
    int64_t outbox_id) {
  if (store_ == nullptr) return std::optional<forum::UnsubscribeTarget>();
  auto target = store_->FindUnsubscribeTarget(outbox_id);
  if (Failed(target)) return std::optional<forum::UnsubscribeTarget>();
  return *target;
}

base::Result<int64_t> RecordingLookup::CountThreadsOpenedSince(const std::string& address, int64_t seconds) {
  if (store_ == nullptr) return int64_t{0};
  auto count = store_->CountThreadsOpenedSince(address, seconds);
  if (Failed(count)) return int64_t{0};
  return *count;
}

}  // namespace ctl
