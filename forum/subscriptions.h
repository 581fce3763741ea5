// Unsubscribing (issue 12): what an address asked to stop receiving, as plain
// values, and the scopes that name it. The store keeps them in the
// `unsubscriptions` table (forum/migrations/0007_unsubscribe.sql); the outbox
// suppresses the rows they cover (Store::ClaimDue, ClaimedMail::unsubscribed).
//
// What the unsubscribe of a mail stops, for its recipient (ScopeOfMail): an
// answer → its thread ("thread:12"); a watcher's notification → the
// category's notifications ("category:it"); an acknowledgement → every
// acknowledgement ("acknowledgements"). A thread scope stops notifications of
// that thread too; a category scope stops nothing but notifications.
//
// Thread-safety: plain values and pure functions.
#ifndef MAILFORUM_FORUM_SUBSCRIPTIONS_H_
#define MAILFORUM_FORUM_SUBSCRIPTIONS_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "forum/outbox.h"

namespace forum {

// Where an unsubscription came from (unsubscriptions.source).
enum class UnsubscribeSource {
  kOneClick,  // "one-click": the https link (RFC 8058 POST, or the page's button)
  kMailto,    // "mailto": a message to the signed unsubscribe address
  kMute,      // "mute": a proven `#mute` reply in the thread
  kCli,       // "cli": an operator (no command sets it yet; kept for the schema)
};
std::string_view UnsubscribeSourceName(UnsubscribeSource source);

inline constexpr std::string_view kAcknowledgementsScope = "acknowledgements";
// "thread:<id>".
std::string ThreadScope(int64_t thread_id);
// "category:<slug>".
std::string CategoryScope(std::string_view slug);

// What the unsubscribe link of an outbox mail of `kind` about `thread_id` in
// `category` stops (see the header comment); "" when such a mail has none
// (rejections, and mail without the thread or category it needs).
std::string ScopeOfMail(OutboxKind kind, std::optional<int64_t> thread_id, std::string_view category);

// The scope in words: "thread 12", "category it", "acknowledgements" (the scope itself when unknown).
std::string DescribeScope(std::string_view scope);

// One row of `unsubscriptions`.
struct Unsubscription {
  std::string address;  // lower-case
  std::string scope;    // as above
  std::string source;   // UnsubscribeSourceName
  std::chrono::system_clock::time_point created_at;
};

// What an inbound message changes (InboundItem::subscription), recorded with it.
struct SubscriptionChange {
  enum class Action {
    kUnsubscribe,  // insert (address, scope) unless present
    kResubscribe,  // delete (address, scope) when present
  };
  Action action = Action::kUnsubscribe;
  std::string address;  // lower-case
  std::string scope;
  UnsubscribeSource source = UnsubscribeSource::kMailto;  // kUnsubscribe only
};

// The outbox row an unsubscribe token names (Store::FindUnsubscribeTarget):
// who it went to and what it was about, which the token's signature covers.
struct UnsubscribeTarget {
  int64_t outbox_id = 0;
  OutboxKind kind = OutboxKind::kAnswer;
  std::string recipient;  // lower-case
  std::optional<int64_t> thread_id;
  std::string category;  // slug of the thread's category; "" without a thread
  std::string scope() const { return ScopeOfMail(kind, thread_id, category); }
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_SUBSCRIPTIONS_H_
