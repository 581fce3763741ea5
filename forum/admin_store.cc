// Store: the operations side (trace, quarantine, dry runs; forum/admin.h).
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "forum/admin.h"
#include "forum/store.h"
#include "forum/store_internal.h"

namespace forum {
namespace {

using Clock = std::chrono::system_clock;

// Timestamps are read as whole seconds since the epoch (what people are shown).
std::string Epoch(const std::string& column) { return "extract(epoch FROM " + column + ")::bigint"; }

Clock::time_point TimeAt(const pqxx::field& f) {
  return Clock::time_point(std::chrono::seconds(f.as<int64_t>()));
}

std::optional<Clock::time_point> OptionalTimeAt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return TimeAt(f);
}

std::optional<int64_t> OptionalId(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<int64_t>();
}

Outcome OutcomeFromName(const std::string& name) {
  for (Outcome o : {Outcome::kPosted, Outcome::kIgnored, Outcome::kRejected, Outcome::kQuarantined,
                    Outcome::kMachine, Outcome::kDuplicate, Outcome::kTooOld, Outcome::kUnsubscribed}) {
    if (OutcomeName(o) == name) return o;
  }
  return Outcome::kIgnored;  // the CHECK constraint allows no other name
}

// --- inbound_messages ---

// The Classification of inbound message `inbound_id`, whose classification
// column is `classification`. Throws std::invalid_argument (the transaction's
// kInternal error) for a text ParseClassification does not know: the column
// has no CHECK, and this build writes only Name's texts.
Classification ClassificationOf(const pqxx::field& classification, int64_t inbound_id) {
  const std::string text = classification.as<std::string>();
  const std::optional<Classification> parsed = ParseClassification(text);
  if (!parsed) {
    throw std::invalid_argument("inbound message " + std::to_string(inbound_id) +
                                " has an unknown classification: '" + text + "'");
  }
  return *parsed;
}

const std::string& InboundColumns() {
  static const std::string kColumns =
      "id, mailbox, uidvalidity, uid, message_key, coalesce(message_id, ''), from_address, subject, size, "
      "classification, outcome, coalesce(rule, ''), reason, post_id, post_action_done, " +
      Epoch("received_at");
  return kColumns;
}

InboundRecord ReadInbound(const pqxx::row& row) {
  InboundRecord r;
  r.id = row[0].as<int64_t>();
  r.mailbox = row[1].as<std::string>();
  r.uidvalidity = static_cast<uint32_t>(row[2].as<int64_t>());
  r.uid = static_cast<uint32_t>(row[3].as<int64_t>());
  r.message_key = row[4].as<std::string>();
  r.message_id = row[5].as<std::string>();
  r.from_address = row[6].as<std::string>();
  r.subject = row[7].as<std::string>();
  r.size = static_cast<uint64_t>(row[8].as<int64_t>());
  r.classification = ClassificationOf(row[9], r.id);
  r.outcome = OutcomeFromName(row[10].as<std::string>());
  r.rule = row[11].as<std::string>();
  r.reason = row[12].as<std::string>();
  r.post_id = OptionalId(row[13]);
  r.post_action_done = row[14].as<bool>();
  r.received_at = TimeAt(row[15]);
  return r;
}

// --- posts and threads ---

const std::string& PostQuery() {
  static const std::string kQuery =
      "SELECT p.id, t.id, c.slug, t.subject, t.status, t.author_address, p.author_address, p.message_id, " +
      Epoch("p.created_at") +
      " FROM posts p JOIN threads t ON t.id = p.thread_id JOIN categories c ON c.id = t.category_id ";
  return kQuery;
}

ThreadSummary ReadThread(const pqxx::row& row, int first) {
  ThreadSummary t;
  t.id = row[first].as<int64_t>();
  t.category = row[first + 1].as<std::string>();
  t.subject = row[first + 2].as<std::string>();
  t.status = row[first + 3].as<std::string>();
  t.author_address = row[first + 4].as<std::string>();
  return t;
}

// The post picked by `where` (a condition on p with parameter $1), or nullopt.
template <typename Param>
std::optional<PostRecord> FindPost(pqxx::transaction_base& tx, const std::string& where, const Param& param) {
  const pqxx::result rows = tx.exec_params(PostQuery() + "WHERE " + where, param);
  if (rows.empty()) return std::nullopt;
  PostRecord p;
  p.id = rows[0][0].as<int64_t>();
  p.thread = ReadThread(rows[0], 1);
  p.author_address = rows[0][6].as<std::string>();
  p.message_id = rows[0][7].as<std::string>();
  p.created_at = TimeAt(rows[0][8]);
  return p;
}

// --- outbox ---

template <typename... Params>
std::vector<OutboxRecord> FindOutbox(pqxx::transaction_base& tx, const std::string& where_and_order,
                                     const Params&... params) {
  const pqxx::result rows = tx.exec_params(
      "SELECT id, kind, thread_id, post_id, recipient, message_id, status, attempts, coalesce(last_error, "
      "''), "
      "last_reply_code, " +
          Epoch("created_at") + ", " + Epoch("next_attempt_at") + ", " + Epoch("sent_at") +
          " FROM outbox WHERE " + where_and_order,
      params...);
  std::vector<OutboxRecord> out;
  for (const pqxx::row& row : rows) {
    OutboxRecord o;
    o.id = row[0].as<int64_t>();
    o.kind = OutboxKindOf(row[1], o.id);
    o.thread_id = OptionalId(row[2]);
    o.post_id = OptionalId(row[3]);
    o.recipient = row[4].as<std::string>();
    o.message_id = row[5].as<std::string>();
    o.status = row[6].as<std::string>();
    o.attempts = row[7].as<int>();
    o.last_error = row[8].as<std::string>();
    if (!row[9].is_null()) o.last_reply_code = row[9].as<int>();
    o.created_at = TimeAt(row[10]);
    o.next_attempt_at = TimeAt(row[11]);
    o.sent_at = OptionalTimeAt(row[12]);
    out.push_back(std::move(o));
  }
  return out;
}

// --- suppressions ---

template <typename... Params>
std::vector<SuppressionRecord> FindSuppressions(pqxx::transaction_base& tx,
                                                const std::string& where_and_order, const Params&... params) {
  const pqxx::result rows = tx.exec_params("SELECT address, bounce_score, hard_bounces, soft_bounces, " +
                                               Epoch("suppressed_at") + ", " + Epoch("last_bounce_at") +
                                               ", last_reason FROM suppressions " + where_and_order,
                                           params...);
  std::vector<SuppressionRecord> out;
  for (const pqxx::row& row : rows) {
    SuppressionRecord r;
    r.address = row[0].as<std::string>();
    r.bounce_score = row[1].as<double>();
    r.hard_bounces = row[2].as<int>();
    r.soft_bounces = row[3].as<int>();
    r.suppressed_at = OptionalTimeAt(row[4]);
    r.last_bounce_at = OptionalTimeAt(row[5]);
    r.last_reason = row[6].as<std::string>();
    out.push_back(std::move(r));
  }
  return out;
}

// Each row of `rows` with its post and the outbound mail it caused.
std::vector<InboundTrace> WithConsequences(pqxx::transaction_base& tx, const pqxx::result& rows) {
  std::vector<InboundTrace> out;
  for (const auto& row : rows) {
    InboundTrace t;
    t.inbound = ReadInbound(row);
    if (t.inbound.post_id) t.post = FindPost(tx, "p.id = $1", *t.inbound.post_id);
    // Mail about its post, and its own acknowledgement or rejection (whose
    // Message-IDs name the inbound row: see RecordDecided).
    t.outbox = FindOutbox(tx, "post_id = $1 OR message_id LIKE $2 OR message_id LIKE $3 ORDER BY id",
                          t.inbound.post_id.value_or(0), OurMessageIdPrefix("ack", t.inbound.id) + "%",
                          OurMessageIdPrefix("reject", t.inbound.id) + "%");
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

base::Status Store::MakeReadOnly() {
  return InTransaction<pqxx::nontransaction>(impl_->conn, "making the connection read-only", [&](Tx& tx) {
    tx.exec("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
  });
}

base::Result<MessageTrace> Store::TraceMessage(const std::string& message_id) {
  const std::string what = "tracing Message-ID <" + message_id + ">";
  return InTransaction<pqxx::read_transaction>(impl_->conn, what, [&](Tx& tx) {
    MessageTrace trace;
    trace.message_id = message_id;
    trace.inbound = WithConsequences(
        tx, tx.exec_params("SELECT " + InboundColumns() +
                               " FROM inbound_messages WHERE message_id = $1 ORDER BY received_at, id",
                           message_id));
    trace.outbound_post = FindPost(tx, "p.message_id = $1", message_id);
    trace.outbound = FindOutbox(tx, "message_id = $1 ORDER BY id", message_id);
    return trace;
  });
}

base::Result<AddressTrace> Store::TraceAddress(const std::string& address, int limit) {
  return InTransaction<pqxx::read_transaction>(impl_->conn, "tracing address " + address, [&](Tx& tx) {
    AddressTrace trace;
    trace.address = tx.exec_params1("SELECT lower($1)", address)[0].as<std::string>();
    trace.inbound =
        WithConsequences(tx, tx.exec_params("SELECT " + InboundColumns() +
                                                " FROM inbound_messages WHERE lower(from_address) = $1 "
                                                "ORDER BY received_at DESC, id DESC LIMIT $2",
                                            trace.address, limit));
    auto s = FindSuppressions(tx, "WHERE address = $1", trace.address);
    if (!s.empty()) trace.suppression = s.front();
    trace.outbox =
        FindOutbox(tx, "recipient = $1 ORDER BY created_at DESC, id DESC LIMIT $2", trace.address, limit);
    trace.unsubscriptions = ReadUnsubscriptions(tx, trace.address, limit);
    return trace;
  });
}

base::Result<std::vector<OutboxRecord>> Store::ListOutbox(const std::vector<std::string>& statuses,
                                                          int limit) {
  return InTransaction<pqxx::read_transaction>(impl_->conn, "listing the outbox", [&](Tx& tx) {
    std::string array = "{";
    for (size_t i = 0; i < statuses.size(); ++i) array += (i ? "," : "") + statuses[i];
    array += "}";
    return FindOutbox(tx,
                      "(cardinality($1::text[]) = 0 OR status = ANY($1::text[])) ORDER BY id DESC LIMIT $2",
                      array, limit);
  });
}

base::Result<std::vector<SuppressionRecord>> Store::ListSuppressions() {
  return InTransaction<pqxx::read_transaction>(impl_->conn, "listing bounce scores", [&](Tx& tx) {
    return FindSuppressions(tx, "ORDER BY bounce_score DESC, address");
  });
}

base::Result<std::vector<InboundRecord>> Store::ListQuarantined() {
  return InTransaction<pqxx::read_transaction>(impl_->conn, "listing the quarantine", [&](Tx& tx) {
    std::vector<InboundRecord> out;
    for (const auto& row :
         tx.exec("SELECT " + InboundColumns() +
                 " FROM inbound_messages WHERE outcome = 'quarantined' ORDER BY received_at, id")) {
      out.push_back(ReadInbound(row));
    }
    return out;
  });
}

base::Result<std::optional<StoredInbound>> Store::GetInbound(int64_t inbound_id) {
  const std::string what = "reading inbound message " + std::to_string(inbound_id);
  return InTransaction<pqxx::read_transaction>(impl_->conn, what, [&](Tx& tx) {
    auto rows = tx.exec_params("SELECT " + InboundColumns() + ", raw FROM inbound_messages WHERE id = $1",
                               inbound_id);
    if (rows.empty()) return std::optional<StoredInbound>();
    StoredInbound s;
    s.record = ReadInbound(rows[0]);
    const pqxx::field raw = rows[0][16];
    if (!raw.is_null()) {
      const pqxx::binarystring bytes(raw);
      s.raw = bytes.str();
    }
    return std::optional<StoredInbound>(std::move(s));
  });
}

base::Result<std::optional<InboundRecord>> Store::FindInboundByMessageKey(const std::string& message_key) {
  return InTransaction<pqxx::read_transaction>(impl_->conn, "looking up a message key", [&](Tx& tx) {
    auto rows = tx.exec_params("SELECT " + InboundColumns() +
                                   " FROM inbound_messages WHERE message_key = $1 AND outcome <> 'duplicate'",
                               message_key);
    if (rows.empty()) return std::optional<InboundRecord>();
    return std::optional<InboundRecord>(ReadInbound(rows[0]));
  });
}

base::Result<std::optional<ThreadSummary>> Store::FindThread(int64_t thread_id) {
  const std::string what = "looking up thread " + std::to_string(thread_id);
  return InTransaction<pqxx::read_transaction>(impl_->conn, what, [&](Tx& tx) {
    auto rows = tx.exec_params(
        "SELECT t.id, c.slug, t.subject, t.status, t.author_address FROM threads t "
        "JOIN categories c ON c.id = t.category_id WHERE t.id = $1",
        thread_id);
    if (rows.empty()) return std::optional<ThreadSummary>();
    return std::optional<ThreadSummary>(ReadThread(rows[0], 0));
  });
}

base::Result<bool> Store::RejectionNoticeSentToday(const std::string& address) {
  return InTransaction<pqxx::read_transaction>(impl_->conn, "looking up rejection notices", [&](Tx& tx) {
    return !tx.exec_params("SELECT 1 FROM rejection_notices WHERE address = lower($1) AND day = current_date",
                           address)
                .empty();
  });
}

base::Result<RecordResult> Store::ReprocessInbound(int64_t inbound_id, const InboundItem& decided,
                                                   const std::string& domain) {
  const std::string what = "reprocessing inbound message " + std::to_string(inbound_id);
  // A second try sees what a concurrent writer of the same message key committed (hence not InTransaction).
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::work tx(impl_->conn);
      auto rows = tx.exec_params(
          "SELECT mailbox, uidvalidity, uid, outcome, reason FROM inbound_messages WHERE id = $1 FOR UPDATE",
          inbound_id);
      if (rows.empty()) return base::Error{base::ErrorKind::kPermanent, what + ": there is no such message"};
      const std::string outcome = rows[0][3].as<std::string>();
      if (outcome != OutcomeName(Outcome::kQuarantined)) {
        return base::Error{base::ErrorKind::kPermanent, what + ": it is not quarantined (" + outcome + ")"};
      }
      InboundItem item = decided;
      item.mailbox = rows[0][0].as<std::string>();
      item.uidvalidity = static_cast<uint32_t>(rows[0][1].as<int64_t>());
      item.uid = static_cast<uint32_t>(rows[0][2].as<int64_t>());
      item.reason = decided.reason + " (retried from quarantine; was: " + rows[0][4].as<std::string>() + ")";
      const RecordResult result = RecordDecided(tx, item, domain, inbound_id);
      tx.commit();
      return result;
    } catch (const pqxx::unique_violation& e) {
      if (attempt == 2) return FromException(e, what);
    } catch (const std::exception& e) {
      return FromException(e, what);
    }
  }
}

}  // namespace forum
