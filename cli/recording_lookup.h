// The forum as mailforumctl's dry runs and retries show it to the pipeline
// (engine/pipeline.h's ForumLookup): every question Decide asks is answered
// from a Store (reads only) and remembered, so `route` can say which reply
// token or which Message-ID matched the thread.
//
// Without a database, or once a query has failed, it answers "nothing is
// known" (no such thread, no known Message-ID, no recent threads, nobody in
// a thread, no such post, none of our mail) and keeps the first error: Decide never fails, the rule decision
// can still be shown, and the caller must not record a decision made after a
// failure (error()).
//
// Thread-safety: none; one lookup per Decide call on one thread.
#ifndef MAILFORUM_CLI_RECORDING_LOOKUP_H_
#define MAILFORUM_CLI_RECORDING_LOOKUP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/pipeline.h"
#include "forum/store.h"

namespace ctl {

class RecordingLookup : public engine::ForumLookup {
 public:
  // `store` (borrowed; may be nullptr for "no database") must outlive the lookup.
  explicit RecordingLookup(forum::Store* store) : store_(store) {}

  base::Result<bool> ThreadExists(int64_t thread_id) override;
  // Looks the ids up one at a time, so that the one that matched is known.
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override;
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) override;
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) override;
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) override;
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids) override;
  base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id) override;

  // The thread a verified reply token named, and whether it exists (false
  // as well when it could not be checked).
  std::optional<int64_t> token_thread() const { return token_thread_; }
  bool token_thread_exists() const { return token_thread_exists_; }
  // The first In-Reply-To/References id that led to a thread, and that thread.
  const std::string& matched_message_id() const { return matched_message_id_; }
  std::optional<int64_t> references_thread() const { return references_thread_; }
  // The first failure; nullopt while every question was answered from the database.
  const std::optional<base::Error>& error() const { return error_; }
  // The store while it answers, nullptr after a failure or without one.
  forum::Store* store() const { return store_; }

  // For the caller's own reads from store(): true when `result` failed, which
  // is then noted like a failed lookup (error(), and store() becomes nullptr).
  template <typename T>
  bool Failed(const base::Result<T>& result) {
    if (result) return false;
    if (!error_) error_ = result.error();
    store_ = nullptr;
    return true;
  }

 private:
  forum::Store* store_;
  std::optional<int64_t> token_thread_;
  bool token_thread_exists_ = false;
  std::string matched_message_id_;
  std::optional<int64_t> references_thread_;
  std::optional<base::Error> error_;
};

}  // namespace ctl

#endif  // MAILFORUM_CLI_RECORDING_LOOKUP_H_
