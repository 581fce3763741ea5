// Store: unsubscriptions (forum/subscriptions.h, issue 12).
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "forum/store.h"
#include "forum/store_internal.h"
#include "forum/subscriptions.h"

namespace forum {

void ApplySubscriptionChange(pqxx::transaction_base& tx, const SubscriptionChange& change) {
  if (change.action == SubscriptionChange::Action::kUnsubscribe) {
    tx.exec_params(
        "INSERT INTO unsubscriptions (address, scope, source) VALUES (lower($1), $2, $3) "
        "ON CONFLICT (address, scope) DO NOTHING",
        change.address, change.scope, std::string(UnsubscribeSourceName(change.source)));
  } else {
    tx.exec_params("DELETE FROM unsubscriptions WHERE address = lower($1) AND scope = $2", change.address,
                   change.scope);
  }
}

std::optional<UnsubscribeTarget> ReadUnsubscribeTarget(pqxx::transaction_base& tx, int64_t outbox_id) {
  const pqxx::result r = tx.exec_params(
      "SELECT o.kind, o.recipient, o.thread_id, coalesce(c.slug, '') FROM outbox o "
      "LEFT JOIN threads t ON t.id = o.thread_id LEFT JOIN categories c ON c.id = t.category_id "
      "WHERE o.id = $1",
      outbox_id);
  if (r.empty()) return std::nullopt;
  UnsubscribeTarget target;
  target.outbox_id = outbox_id;
  target.kind = OutboxKindOf(r[0][0], outbox_id);
  target.recipient = r[0][1].as<std::string>();
  if (!r[0][2].is_null()) target.thread_id = r[0][2].as<int64_t>();
  target.category = r[0][3].as<std::string>();
  return target;
}

base::Status Store::Unsubscribe(const std::string& address, const std::string& scope,
                                UnsubscribeSource source) {
  const std::string what = "unsubscribing " + address + " from " + DescribeScope(scope);
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) {
    ApplySubscriptionChange(tx, {SubscriptionChange::Action::kUnsubscribe, address, scope, source});
  });
}

std::vector<Unsubscription> ReadUnsubscriptions(pqxx::transaction_base& tx, const std::string& address,
                                                int limit) {
  std::vector<Unsubscription> out;
  for (const pqxx::row& row : tx.exec_params(
           "SELECT address, scope, source, extract(epoch FROM created_at)::bigint FROM unsubscriptions "
           "WHERE $1 = '' OR address = lower($1) ORDER BY created_at DESC, address, scope LIMIT $2",
           address, limit)) {
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                   std::chrono::system_clock::time_point(std::chrono::seconds(row[3].as<int64_t>()))});
  }
  return out;
}

base::Result<std::vector<Unsubscription>> Store::ListUnsubscriptions(const std::string& address, int limit) {
  return InTransaction<pqxx::read_transaction>(impl_->conn, "listing unsubscriptions", [&](Tx& tx) {
    return ReadUnsubscriptions(tx, address, limit);
  });
}

base::Result<int64_t> Store::ClearUnsubscriptions(const std::string& address) {
  return InTransaction<pqxx::work>(impl_->conn, "clearing the unsubscriptions of " + address, [&](Tx& tx) {
    const pqxx::result r = tx.exec_params("DELETE FROM unsubscriptions WHERE address = lower($1)", address);
    return static_cast<int64_t>(r.affected_rows());
  });
}

base::Result<std::optional<UnsubscribeTarget>> Store::FindUnsubscribeTarget(int64_t outbox_id) {
  const std::string what = "reading outbox row " + std::to_string(outbox_id);
  return InTransaction<pqxx::read_transaction>(impl_->conn, what,
                                               [&](Tx& tx) { return ReadUnsubscribeTarget(tx, outbox_id); });
}

}  // namespace forum
