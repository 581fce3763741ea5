// What the operations commands read from the store: the audit trail of an
// inbound message or an address (`mailforumctl trace`, DESIGN.md §2 item 7),
// the quarantine (`mailforumctl quarantine`), and the facts a dry run needs
// (`mailforumctl route`). Plain values; see the "operations" section of
// forum/store.h.
//
// Thread-safety: plain values.
#ifndef MAILFORUM_FORUM_ADMIN_H_
#define MAILFORUM_FORUM_ADMIN_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "forum/inbound.h"
#include "forum/outbox.h"
#include "forum/subscriptions.h"

namespace forum {

// One inbound_messages row, without its raw bytes.
struct InboundRecord {
  int64_t id = 0;
  std::string mailbox;
  uint32_t uidvalidity = 0;
  uint32_t uid = 0;
  std::string message_key;
  std::string message_id;  // "" when the message had none
  std::string from_address;
  std::string subject;
  uint64_t size = 0;
  Classification classification = Classification::kNormal;
  Outcome outcome = Outcome::kIgnored;
  std::string rule;    // "" when no rule decided
  std::string reason;  // why, for people
  std::optional<int64_t> post_id;
  bool post_action_done = false;  // \Seen / move / delete / quarantine move done on the server
  std::chrono::system_clock::time_point received_at;
};

// A thread, as the operations commands show it.
struct ThreadSummary {
  int64_t id = 0;
  std::string category;  // slug
  std::string subject;
  std::string status;  // "open", "answered" or "resolved"
  std::string author_address;
};

// A post and the thread it belongs to.
struct PostRecord {
  int64_t id = 0;
  ThreadSummary thread;
  std::string author_address;
  std::string message_id;  // our stable outbound Message-ID of the post
  std::chrono::system_clock::time_point created_at;
};

// One outbox row (an outbound mail and its fate).
struct OutboxRecord {
  int64_t id = 0;
  OutboxKind kind = OutboxKind::kAnswer;
  std::optional<int64_t> thread_id;
  std::optional<int64_t> post_id;
  std::string recipient;
  std::string message_id;
  std::string status;  // "pending", "sent", "failed", "suppressed" or "bounced"
  int attempts = 0;
  std::string last_error;  // "" when none
  std::optional<int> last_reply_code;
  std::chrono::system_clock::time_point created_at;
  std::chrono::system_clock::time_point next_attempt_at;
  std::optional<std::chrono::system_clock::time_point> sent_at;
};

// The bounce score of an address (suppressions row).
struct SuppressionRecord {
  std::string address;  // lower-case
  double bounce_score = 0;
  int hard_bounces = 0;
  int soft_bounces = 0;
  std::optional<std::chrono::system_clock::time_point> suppressed_at;
  std::optional<std::chrono::system_clock::time_point> last_bounce_at;
  std::string last_reason;
};

// An inbound message with what it led to.
struct InboundTrace {
  InboundRecord inbound;
  std::optional<PostRecord> post;  // the post it made, when it still exists
  // Outbound mail it caused, oldest first: the mail about its post, and its
  // own acknowledgement or rejection.
  std::vector<OutboxRecord> outbox;
};

// The life of one Message-ID.
struct MessageTrace {
  std::string message_id;  // without angle brackets
  // Every inbound_messages row with this Message-ID (one per mailbox and
  // UIDVALIDITY that fetched it), oldest first.
  std::vector<InboundTrace> inbound;
  // When the id is one of our own outbound Message-IDs: its post, and the
  // outbox rows that carry it.
  std::optional<PostRecord> outbound_post;
  std::vector<OutboxRecord> outbound;

  bool empty() const { return inbound.empty() && !outbound_post && outbound.empty(); }
};

// What mailforum knows about one address.
struct AddressTrace {
  std::string address;  // lower-case
  // The most recent inbound messages from the address, newest first.
  std::vector<InboundTrace> inbound;
  std::optional<SuppressionRecord> suppression;  // nullopt: it never bounced
  // The most recent outbound mail to the address, newest first.
  std::vector<OutboxRecord> outbox;
  // What the address unsubscribed from (forum/subscriptions.h), newest first.
  std::vector<Unsubscription> unsubscriptions;

  bool empty() const { return inbound.empty() && !suppression && outbox.empty() && unsubscriptions.empty(); }
};

// An inbound message with its raw bytes (kept for quarantined mail only).
struct StoredInbound {
  InboundRecord record;
  std::optional<std::string> raw;  // nullopt when no bytes are kept
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_ADMIN_H_
