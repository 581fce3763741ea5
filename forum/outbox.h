// What the outbound side of the forum reads from and writes to the store:
// who a new post goes to (the pipeline's fan-out), and the outbox rows the
// outbox worker claims, composes and sends (DESIGN.md §1, §2 item 4, §4).
// Plain values; see the "outbox" section of forum/store.h.
//
// Thread-safety: plain values.
#ifndef MAILFORUM_FORUM_OUTBOX_H_
#define MAILFORUM_FORUM_OUTBOX_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace forum {

// What an outbox row is (outbox.kind holds Name's text).
enum class OutboxKind { kAnswer, kNotification, kAcknowledgement, kRejection };

// "answer", "notification", "acknowledgement" or "rejection".
std::string_view Name(OutboxKind kind);

// The OutboxKind `name` (Name's text) stands for; nullopt for any other text.
std::optional<OutboxKind> ParseOutboxKind(std::string_view name);

// The people of an existing thread: whom a new post in it is mailed to.
struct ThreadAudience {
  int64_t thread_id = 0;
  std::string category;        // slug: its watchers are notified
  std::string author_address;  // who opened the thread (the asker)
  // Every distinct author of its posts (lower-case), in the order of their
  // first post; the thread's author among them.
  std::vector<std::string> participants;
};

// Bounce score added per bounce; the outbox suppresses an address whose
// score reaches its threshold (config outbox.suppress_score).
inline constexpr double kHardBounceScore = 1.0;
inline constexpr double kSoftBounceScore = 0.25;

// The loop circuit breaker (issue 5 item 6): automatic mail (every kind but
// "answer") to an address pauses for `cooldown` once machine mail from it —
// inbound auto-replies, bounces and other kMachine messages whose From is the
// address and that answer mail we sent to its domain
// (InboundItem::tied_to_ours), and our rows to it that bounced — came
// `address_threshold` times within `window`; the same for a whole domain at
// `domain_threshold`. Other machine mail is ignored: its From proves nothing
// (issue 8 item 7).
struct LoopBreakerLimits {
  int address_threshold = 5;   // ≥ 1
  int domain_threshold = 20;   // ≥ 1
  std::chrono::milliseconds window{std::chrono::minutes(10)};
  std::chrono::milliseconds cooldown{std::chrono::hours(1)};
};

// One outbox row claimed for sending (Store::ClaimDue), with everything
// needed to compose its mail the same way on every attempt.
struct ClaimedMail {
  int64_t id = 0;
  OutboxKind kind = OutboxKind::kAnswer;
  std::string recipient;   // lower-case
  std::string message_id;  // stable across retries, without angle brackets
  // The composed message saved by an earlier attempt (Store::SavePayload):
  // sent unchanged, so every retry carries the same bytes.
  std::optional<std::string> payload;
  int attempts = 0;  // tries started, this one included
  // When the row was queued (or requeued by `mailforumctl outbox retry`):
  // the Date of its mail, and where its max age counts from.
  std::chrono::system_clock::time_point queued_at;
  std::chrono::milliseconds age{0};  // since queued_at, by the database's clock
  double bounce_score = 0;           // of the recipient; 0 when it never bounced
  // The recipient's unsubscription that covers this row (forum/subscriptions.h):
  // its scope ("thread:12") and source ("one-click"); "" when none. Read at
  // every claim, so an unsubscription after the row was queued still stops it.
  std::string unsubscribed_scope;
  std::string unsubscribed_source;

  // --- the thread and post the mail is about (all but rejections) ---
  std::optional<int64_t> thread_id;
  std::string category;        // slug
  std::string thread_subject;  // as the asker wrote it ("(no subject)" when they gave none)
  std::string thread_author;   // lower-case address of the asker
  // Our Message-ID of the thread's first post: what watchers received first.
  std::string root_message_id;
  // The Message-ID of the mail the asker sent (the thread's first post), ""
  // when it had none: answers to the asker are threaded under it.
  std::string question_message_id;
  std::optional<int64_t> post_id;
  bool post_opens_thread = false;  // the post is the thread's first (a new-thread notification)
  std::string post_author_address;
  std::string post_author_name;
  std::string post_body;  // trimmed text (the elided quoted history is never re-sent)

  // --- rejections: the inbound message refused ---
  std::string rejection_reason;  // the recorded reason ("" when unknown)
};

// The fate of one claimed row, recorded with the rest of its batch
// (Store::RecordOutcomes). Each changes the row only while it is 'pending'.
struct OutboxOutcome {
  enum class Fate {
    kSent,        // status 'sent', sent_at now
    kRetry,       // due again after `delay`; last_error, last_reply_code
    kFailed,      // status 'failed' for good; last_error, last_reply_code
    kSuppressed,  // status 'suppressed' (the recipient's bounce score); last_error; the suppression noted
    // status 'suppressed' (the recipient unsubscribed: ClaimedMail::unsubscribed_scope); last_error; no
    // bounce score or suppression changes
    kUnsubscribed,
    kReleased,  // given back unsent: due now, the claim's attempt not counted
    kDeferred,  // held back unsent (the loop breaker) for `delay`, the attempt not counted; last_error
  };
  int64_t id = 0;
  Fate fate = Fate::kSent;
  std::string error;                   // why (kRetry, kFailed, kSuppressed, kDeferred)
  std::optional<int> reply_code;       // the SMTP reply that failed it (kRetry, kFailed); nullopt: none
  std::chrono::milliseconds delay{0};  // kRetry, kDeferred

  static OutboxOutcome Of(int64_t id, Fate fate, std::string error = "",
                          std::optional<int> reply_code = std::nullopt,
                          std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
    return {id, fate, std::move(error), reply_code, delay};
  }
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_OUTBOX_H_
