// Private to forum/: the state behind forum::Store, shared by the .cc files
// that implement Store (the conversion of libpqxx exceptions and the
// transactions are transaction.h's).
#ifndef MAILFORUM_FORUM_STORE_INTERNAL_H_
#define MAILFORUM_FORUM_STORE_INTERNAL_H_

#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "forum/connection.h"
#include "forum/store.h"
#include "forum/subscriptions.h"
#include "forum/transaction.h"

namespace forum {

// `dsn` (key=value or URI) with bounds on libpq's network waits, so that a
// connection whose server vanished without a word (a dropped NAT entry, a dead
// host) fails within about 2 minutes instead of blocking for ever: TCP
// keepalive probes after 60 s of silence, 4 of them 15 s apart; unacknowledged
// data for at most 120 s (tcp_user_timeout); connecting for at most 30 s
// (connect_timeout). Whatever the DSN sets of these itself (keepalives…,
// tcp_user_timeout, connect_timeout) is kept as given. libpq ignores the TCP
// ones over a unix socket.
std::string WithNetworkTimeouts(const std::string& dsn);

struct Store::Impl {
  explicit Impl(const std::string& dsn) : conn(WithNetworkTimeouts(dsn)) {}
  Connection conn;
  // The outbox claim owner this connection holds the advisory lock of (outbox_store.cc); 0: none yet.
  int claim_owner = 0;
};

// Runs `sql` with `args` inside `tx` as the prepared statement `name` of
// its connection (libpqxx 6 registers it at its first use in a session, and
// again in a new session after a reconnect; preparing it again with the same
// text changes nothing). For the statements run once or more per message:
// PostgreSQL parses them once per session and, after a few runs, plans them
// once (a generic plan) instead of at every call. `name` must stand for
// this one text. Throws what libpqxx throws.
template <typename... Args>
pqxx::result ExecPrepared(pqxx::transaction_base& tx, const std::string& name, const std::string& sql,
                          Args&&... args) {
  tx.conn().prepare(name, sql);
  return tx.exec_prepared(name, std::forward<Args>(args)...);
}

// A PostgreSQL array literal of `values` (passed as a parameter, e.g.
// `$1::text[]`, so only array quoting applies).
std::string TextArray(const std::vector<std::string>& values);

// --- recording a decided inbound message (inbound_store.cc), shared with admin_store.cc ---

// What our own Message-IDs of kind `what` ("post", "ack", "reject") about
// row `id` begin with: "what.id." (a random tag and "@domain" follow).
std::string OurMessageIdPrefix(const std::string& what, int64_t id);

// Records `item` inside `tx` as RecordBatch does once it knows the UID is
// new: kDuplicate when another inbound row (not `existing_id`) holds its
// message key; otherwise its post, Message-IDs, outbox rows and bounce
// scores. The inbound row is new when `existing_id` is 0, otherwise row
// `existing_id` rewritten in place (its received_at and post-action state
// stay). `key_taken`, when known (RecordBatch reads a batch's keys at
// once), says whether another row holds the message key; nullopt: ask.
// Throws what libpqxx throws, and std::invalid_argument for an unknown
// category.
//
// With `deferred`, a new inbound row that nothing else of the item needs
// (no outbox rows, nothing quarantined) is added to `deferred` instead of
// written: the caller writes them all with WriteInboundRows before commit.
//
// With `new_threads`, a thread the item opens takes its next id and is
// inserted with its public reply address (see NewThreads); without, it
// gets the sequence's next id and no address (FillReplyAddresses fills it).
struct InboundRows {
  std::vector<std::string> values;  // 14 per row, in WriteInboundRows' column order
  size_t count = 0;
};
// Thread ids taken from the sequence ahead (one round trip for a batch),
// so that a new thread's row is inserted whole, reply address included.
struct NewThreads {
  std::vector<int64_t> ids;  // not yet used, in order
  size_t next = 0;
  std::function<std::string(int64_t thread_id)> address_for;
};
RecordResult RecordDecided(pqxx::transaction_base& tx, const InboundItem& item, const std::string& domain,
                           int64_t existing_id, std::optional<bool> key_taken = std::nullopt,
                           InboundRows* deferred = nullptr, NewThreads* new_threads = nullptr);

// Where each mailbox's cursor moves (mailbox -> (uidvalidity, last UID recorded)).
using Cursors = std::map<std::string, std::pair<uint32_t, uint32_t>>;

// Writes `rows` (see RecordDecided) and moves `cursors` forward (never
// back, and only within their UIDVALIDITY), in one statement: one round
// trip. Throws what libpqxx throws.
void WriteInboundRows(pqxx::transaction_base& tx, const InboundRows& rows, const Cursors& cursors);

// Adds each bounce of `bounces` to its address's bounce score (upsert of
// the suppressions row). Throws what libpqxx throws.
void RecordBounces(pqxx::transaction_base& tx, const std::vector<BounceDraft>& bounces);

// --- the outbox (outbox_store.cc), shared with inbound_, admin_ and subscription_store.cc ---

// The OutboxKind of outbox row `outbox_id`, whose kind column is `kind`.
// Throws std::invalid_argument (the transaction's kInternal error) for a text
// ParseOutboxKind does not know (the column's CHECK allows none).
OutboxKind OutboxKindOf(const pqxx::field& kind, int64_t outbox_id);

// Marks outbox row `outbox_id` bounced inside `tx` for a bounce sent to its
// VERP return path, whose failed recipients are `reported`, and scores the
// row's recipient alone: hard or soft as `reported` says for that address,
// else as its hardest entry says, soft when it is empty. The other
// addresses of `reported` are never scored. Nothing for an unknown or
// already finished row. Throws what libpqxx throws.
void RecordVerpBounce(pqxx::transaction_base& tx, int64_t outbox_id,
                      const std::vector<BounceDraft>& reported);

// --- unsubscriptions (subscription_store.cc), shared with inbound_store.cc and reader.cc ---

// Applies `change` inside `tx`: inserts the unsubscription (an existing one
// stays as it was) or deletes it. Throws what libpqxx throws.
void ApplySubscriptionChange(pqxx::transaction_base& tx, const SubscriptionChange& change);

// The unsubscriptions of `address` (lower-case; every address's when empty),
// newest first, at most `limit`. Throws what libpqxx throws.
std::vector<Unsubscription> ReadUnsubscriptions(pqxx::transaction_base& tx, const std::string& address,
                                                int limit);

// The outbox row an unsubscribe token names, read inside `tx`, or nullopt.
// Throws what libpqxx throws, and what OutboxKindOf throws.
std::optional<UnsubscribeTarget> ReadUnsubscribeTarget(pqxx::transaction_base& tx, int64_t outbox_id);

}  // namespace forum

#endif  // MAILFORUM_FORUM_STORE_INTERNAL_H_
