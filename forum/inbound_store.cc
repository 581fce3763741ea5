// Store: the ingestion side (RecordBatch and the mailbox bookkeeping).
#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>

#include "base/ascii.h"
#include "forum/store.h"
#include "forum/store_internal.h"

namespace forum {
namespace {

std::string RandomTag() {
  static thread_local std::random_device rd;
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string out;
  for (int i = 0; i < 4; ++i) {
    uint32_t r = rd();
    for (int j = 0; j < 4; ++j, r >>= 5) out += kAlphabet[r & 31];
  }
  return out;
}

std::string OurMessageId(const std::string& what, int64_t id, const std::string& domain) {
  return OurMessageIdPrefix(what, id) + RandomTag() + "@" + domain;
}

// pqxx 6 takes bytea parameters as binarystring.
pqxx::binarystring Bytes(const std::string& s) { return pqxx::binarystring(s.data(), s.size()); }

void InsertAttachments(pqxx::transaction_base& tx, int64_t post_id, const std::vector<AttachmentDraft>& attachments) {
  int position = 0;
  for (const AttachmentDraft& a : attachments) {
    ExecPrepared(
        tx, "mf_insert_attachment",
        "INSERT INTO attachments (sha256, size, content) VALUES (decode($1, 'hex'), $2, $3) "
        "ON CONFLICT (sha256) DO NOTHING",
        a.sha256, static_cast<int64_t>(a.content.size()), Bytes(a.content));
    ExecPrepared(
        tx, "mf_insert_post_attachment",
        "INSERT INTO post_attachments (post_id, attachment_id, position, filename, content_type, content_id) "
        "SELECT $1, id, $2, $3, $4, NULLIF($5, '') FROM attachments WHERE sha256 = decode($6, 'hex')",
        post_id, position++, a.filename, a.content_type, a.content_id, a.sha256);
  }
}

struct InsertedPost {
  int64_t thread_id = 0;
  int64_t post_id = 0;
  std::string message_id;  // ours
};

// Creates the post (and its thread when new) in one round trip: the thread
// (when new), the post's id (its Message-ID, OurMessageIdPrefix("post", id) +
// random@domain, is made from it), the post, the Message-IDs that lead to it,
// and the thread's activity, which a post by someone other than its author
// answers. The post's search vector is made once, for the post and its
// thread, unless it was made ahead (PostDraft::search) of this body with the
// configuration the database still has. A new thread is inserted whole
// (schema revision 14): its id and reply address from `new_threads` when
// given, its first post counted and its words in its search vector, as the
// activity would leave it (its author's post, now); the statement cannot see
// a row it inserts.
InsertedPost InsertPost(pqxx::transaction_base& tx, const InboundItem& item, const std::string& domain,
                        NewThreads* new_threads) {
  static const std::string kNoVector(4, '\0');  // an empty tsvector in binary: no lexemes
  const PostDraft& post = *item.post;
  int64_t new_thread_id = 0;  // 0: the sequence's next
  std::string reply_address;
  if (!post.thread_id && new_threads != nullptr && new_threads->next < new_threads->ids.size()) {
    new_thread_id = new_threads->ids[new_threads->next++];
    if (new_threads->address_for) reply_address = new_threads->address_for(new_thread_id);
  }
  const SearchVector* ahead =
      post.search && post.search->text_hash == std::hash<std::string>{}(post.body) ? &*post.search : nullptr;
  const pqxx::result inserted = ExecPrepared(
      tx, "mf_insert_post",
      "WITH v AS (SELECT CASE WHEN $16::text = mailforum_search_config()::text THEN $15::tsvector "
      "ELSE mailforum_post_search($4::text) END AS search), "
      "nt AS (INSERT INTO threads (id, category_id, subject, tags, author_address, author_name, post_count, "
      "search, reply_address) "
      "SELECT coalesce(NULLIF($13::bigint, 0), nextval('threads_id_seq')), c.id, $10, $11::text[], $2, $3, "
      "1, "
      "setweight(mailforum_subject_search($10), 'A') || setweight(v.search, 'B'), NULLIF($14::text, '') "
      "FROM categories c, v WHERE c.slug = $12 AND $1::bigint = 0 RETURNING id), "
      "th AS (SELECT id FROM nt UNION ALL SELECT $1::bigint WHERE $1::bigint <> 0), "
      "n AS (SELECT nextval('posts_id_seq') AS id, th.id AS thread_id FROM th), "
      "p AS (INSERT INTO posts (id, thread_id, author_address, author_name, body, elided, message_id, "
      "author_verified, search) SELECT n.id, n.thread_id, $2, $3, $4, $5, $6 || n.id || '.' || $7, $8, "
      "v.search "
      "FROM n, v RETURNING id, thread_id, message_id), "
      "o AS (INSERT INTO message_ids (message_id, post_id, direction) SELECT message_id, id, 'outbound' FROM "
      "p), "
      "i AS (INSERT INTO message_ids (message_id, post_id, direction) SELECT $9, id, 'inbound' FROM p "
      "WHERE $9 <> '' ON CONFLICT DO NOTHING), "
      "t AS (UPDATE threads SET last_post_at = now(), status = CASE WHEN status = 'open' "
      "AND lower(author_address) <> lower($2) THEN 'answered' ELSE status END WHERE id = $1::bigint AND "
      "$1::bigint <> 0) "
      "SELECT id, thread_id, message_id FROM p",
      post.thread_id.value_or(0), post.author_address, post.author_name, post.body, post.elided,
      std::string("post."), RandomTag() + "@" + domain, post.author_verified, item.message_id, post.subject,
      TextArray(post.tags), post.category, new_thread_id, reply_address,
      Bytes(ahead ? ahead->vector : kNoVector), ahead ? ahead->config : "");
  if (inserted.empty()) throw std::invalid_argument("unknown category '" + post.category + "'");
  const int64_t post_id = inserted[0][0].as<int64_t>();
  InsertAttachments(tx, post_id, post.attachments);
  return {inserted[0][1].as<int64_t>(), post_id, inserted[0][2].as<std::string>()};
}

// Why no more acknowledgements and rejection notices may go to `recipient`
// this hour (OutboxDraft::max_per_domain_per_hour, max_per_hour), or "".
// Concurrent daemons may overshoot a cap by the notices they queue at the
// same moment: the caps bound backscatter, they need not be exact.
std::string NoticeCapReached(pqxx::transaction_base& tx, const OutboxDraft& out,
                             const std::string& recipient) {
  if (out.max_per_domain_per_hour <= 0 && out.max_per_hour <= 0) return "";
  const size_t at = recipient.rfind('@');
  const std::string domain = at == std::string::npos ? recipient : recipient.substr(at + 1);
  const pqxx::row counts = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE split_part(recipient, '@', 2) = $1), count(*) FROM outbox "
      "WHERE kind IN ('acknowledgement', 'rejection') AND created_at > now() - interval '1 hour'",
      domain);
  const int64_t to_domain = counts[0].as<int64_t>();
  const int64_t overall = counts[1].as<int64_t>();
  if (out.max_per_domain_per_hour > 0 && to_domain >= out.max_per_domain_per_hour) {
    return "no " + std::string(Name(out.kind)) + " queued: " + std::to_string(to_domain) +
           " acknowledgements and rejection notices went to " + domain +
           " in the last hour (auto_replies_per_domain_per_hour)";
  }
  if (out.max_per_hour > 0 && overall >= out.max_per_hour) {
    return "no " + std::string(Name(out.kind)) + " queued: " + std::to_string(overall) +
           " acknowledgements and rejection notices went out in the last hour (auto_replies_per_hour)";
  }
  return "";
}

// Queues `item`'s outbox rows; returns what was held back and why ("" when nothing was).
std::string QueueOutbox(pqxx::transaction_base& tx, const InboundItem& item, const RecordResult& result,
                        const std::string& post_message_id, int64_t inbound_id, const std::string& domain) {
  std::string held;
  for (const OutboxDraft& out : item.outbox) {
    const std::string recipient = base::AsciiLower(out.recipient);
    if (out.kind == OutboxKind::kAcknowledgement || out.kind == OutboxKind::kRejection) {
      // Before the rejection's daily claim below, so that a capped notice does not use it up.
      if (std::string why = NoticeCapReached(tx, out, recipient); !why.empty()) {
        held += "; " + why;
        continue;
      }
    }
    if (out.kind == OutboxKind::kRejection) {
      // At most one rejection notice per address per day.
      auto claimed = tx.exec_params(
          "INSERT INTO rejection_notices (address, day) VALUES ($1, current_date) ON CONFLICT DO NOTHING "
          "RETURNING address",
          recipient);
      if (claimed.empty()) continue;
    }
    if (out.kind == OutboxKind::kAcknowledgement && out.min_interval.count() > 0) {
      // Serialises daemons acknowledging the same address until commit.
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtextextended('mailforum acknowledgement ' || $1, 0))",
                     recipient);
      const pqxx::result recent = tx.exec_params(
          "SELECT 1 FROM outbox WHERE recipient = $1 AND kind = 'acknowledgement' "
          "AND created_at > now() - make_interval(secs => $2) LIMIT 1",
          recipient, static_cast<int64_t>(out.min_interval.count()));
      if (!recent.empty()) continue;
    }
    // Mail about a post carries the post's own Message-ID; other mail gets one of its own.
    std::string message_id;
    if (result.post_id && (out.kind == OutboxKind::kAnswer || out.kind == OutboxKind::kNotification)) {
      message_id = post_message_id;
    } else {
      message_id = OurMessageId(out.kind == OutboxKind::kRejection ? "reject" : "ack", inbound_id, domain);
    }
    tx.exec_params(
        "INSERT INTO outbox (kind, thread_id, post_id, recipient, message_id) "
        "VALUES ($1, NULLIF($2, 0), NULLIF($3, 0), $4, $5) ON CONFLICT (message_id, recipient) DO NOTHING",
        std::string(Name(out.kind)), result.thread_id ? *result.thread_id : 0,
        result.post_id ? *result.post_id : 0, recipient, message_id);
  }
  return held;
}

// Applies the thread author's commands (see ThreadUpdate).
void ApplyThreadUpdate(pqxx::transaction_base& tx, const ThreadUpdate& update) {
  switch (update.status) {
    case ThreadUpdate::Status::kUnchanged:
      break;
    case ThreadUpdate::Status::kResolved:
      tx.exec_params("UPDATE threads SET status = 'resolved' WHERE id = $1", update.thread_id);
      break;
    case ThreadUpdate::Status::kReopened:
      tx.exec_params(
          "UPDATE threads t SET status = CASE WHEN EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id "
          "AND lower(p.author_address) <> lower(t.author_address)) THEN 'answered' ELSE 'open' END "
          "WHERE id = $1",
          update.thread_id);
      break;
  }
  if (update.accepted_post_id) {
    tx.exec_params(
        "UPDATE threads SET accepted_post_id = $2 WHERE id = $1 "
        "AND EXISTS (SELECT 1 FROM posts WHERE id = $2 AND thread_id = $1)",
        update.thread_id, *update.accepted_post_id);
  }
}

}  // namespace

void RecordBounces(pqxx::transaction_base& tx, const std::vector<BounceDraft>& bounces) {
  for (const BounceDraft& b : bounces) {
    tx.exec_params(
        "INSERT INTO suppressions (address, bounce_score, hard_bounces, soft_bounces, last_bounce_at, last_reason) "
        "VALUES ($1, $2, $3, $4, now(), $5) ON CONFLICT (address) DO UPDATE SET "
        "bounce_score = suppressions.bounce_score + excluded.bounce_score, "
        "hard_bounces = suppressions.hard_bounces + excluded.hard_bounces, "
        "soft_bounces = suppressions.soft_bounces + excluded.soft_bounces, "
        "last_bounce_at = now(), last_reason = excluded.last_reason",
        base::AsciiLower(b.address), b.hard ? kHardBounceScore : kSoftBounceScore, b.hard ? 1 : 0, b.hard ? 0 : 1, b.reason);
  }
}

namespace {

// Whether an inbound row other than `except_inbound_id` (0: none) already
// holds `message_key`, so that a new holder is a duplicate.
bool MessageKeyTaken(pqxx::transaction_base& tx, const std::string& message_key, int64_t except_inbound_id) {
  // The partial unique index on message_key makes this check race-free: a
  // concurrent writer of the same key fails with a unique violation.
  const pqxx::result holders = tx.exec_params(
      "SELECT 1 FROM inbound_messages WHERE message_key = $1 AND outcome <> 'duplicate' AND id <> $2", message_key,
      except_inbound_id);
  return !holders.empty();
}

// Writes the inbound_messages row of `item` with `result`'s outcome and
// post (raw bytes only when quarantined): a new row when `existing_id` is 0,
// otherwise row `existing_id` rewritten in place. Returns the row's id.
int64_t WriteInboundRow(pqxx::transaction_base& tx, const InboundItem& item, const RecordResult& result,
                        int64_t existing_id) {
  const bool keep_raw = result.outcome == Outcome::kQuarantined;
  // Both statements take the same values in this order; the UPDATE adds the row's id as $17.
  static const std::string kColumns =
      "(mailbox, uidvalidity, uid, message_key, message_id, from_address, subject, size, classification, "
      "outcome, rule, reason, post_id, raw, tied_to_ours)";
  static const std::string kValues =
      "($1, $2, $3, $4, NULLIF($5, ''), $6, $7, $8, $9, $10, NULLIF($11, ''), $12, NULLIF($13, 0), "
      "CASE WHEN $14 THEN $15::bytea END, $16)";
  auto write = [&](const std::string& sql, auto... id) {
    return tx
        .exec_params1(sql, item.mailbox, static_cast<int64_t>(item.uidvalidity),
                      static_cast<int64_t>(item.uid), item.message_key, item.message_id, item.from_address,
                      item.subject, static_cast<int64_t>(item.size), std::string(Name(item.classification)),
                      std::string(OutcomeName(result.outcome)), item.rule, item.reason,
                      result.post_id.value_or(0), keep_raw, Bytes(keep_raw ? item.raw : std::string()),
                      item.tied_to_ours, id...)[0]
        .template as<int64_t>();
  };
  if (existing_id == 0) {
    return write("INSERT INTO inbound_messages " + kColumns + " VALUES " + kValues + " RETURNING id");
  }
  return write("UPDATE inbound_messages SET " + kColumns + " = " + kValues + " WHERE id = $17 RETURNING id",
               existing_id);
}

// The values of one deferred inbound row, in this order (never quarantined: no raw bytes).
constexpr size_t kInboundRowValues = 14;
void DeferInboundRow(InboundRows& rows, const InboundItem& item, const RecordResult& result) {
  for (std::string value :
       {item.mailbox, std::to_string(item.uidvalidity), std::to_string(item.uid), item.message_key,
        item.message_id, item.from_address, item.subject, std::to_string(item.size),
        std::string(Name(item.classification)), std::string(OutcomeName(result.outcome)), item.rule,
        item.reason, std::to_string(result.post_id.value_or(0)),
        std::string(item.tied_to_ours ? "t" : "f")}) {
    rows.values.push_back(std::move(value));
  }
  ++rows.count;
}

}  // namespace

std::string TextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string OurMessageIdPrefix(const std::string& what, int64_t id) {
  return what + "." + std::to_string(id) + ".";
}

void WriteInboundRows(pqxx::transaction_base& tx, const InboundRows& rows, const Cursors& cursors) {
  if (rows.count == 0 && cursors.empty()) return;
  std::vector<std::string> values = rows.values;
  auto p = [&](std::string value) {
    values.push_back(std::move(value));
    return "$" + std::to_string(values.size());
  };
  std::string sql;
  if (rows.count > 0) {
    sql =
        "INSERT INTO inbound_messages (mailbox, uidvalidity, uid, message_key, message_id, from_address, "
        "subject, size, classification, outcome, rule, reason, post_id, tied_to_ours) VALUES ";
    for (size_t row = 0; row < rows.count; ++row) {
      auto v = [&](size_t column) { return "$" + std::to_string(row * kInboundRowValues + column); };
      sql += (row ? ", (" : "(") + v(1) + ", " + v(2) + "::bigint, " + v(3) + "::bigint, " + v(4) +
             ", NULLIF(" + v(5) + "::text, ''), " + v(6) + ", " + v(7) + ", " + v(8) + "::bigint, " + v(9) +
             ", " + v(10) + ", NULLIF(" + v(11) + "::text, ''), " + v(12) + ", NULLIF(" + v(13) +
             "::bigint, 0), " + v(14) + "::boolean)";
    }
    // The cursors' upsert runs beside it, as the main statement of the same round trip.
    if (!cursors.empty()) sql = "WITH inbound AS (" + sql + ") ";
  }
  if (!cursors.empty()) {
    sql += "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ";
    bool first = true;
    for (const auto& [mailbox, at] : cursors) {
      sql += std::string(first ? "(" : ", (") + p(mailbox) + ", " + p(std::to_string(at.first)) +
             "::bigint, " + p(std::to_string(at.second)) + "::bigint)";
      first = false;
    }
    sql +=
        " ON CONFLICT (mailbox) DO UPDATE SET last_uid = greatest(mailbox_state.last_uid, excluded.last_uid) "
        "WHERE mailbox_state.uidvalidity = excluded.uidvalidity";
  }
  tx.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
}

RecordResult RecordDecided(pqxx::transaction_base& tx, const InboundItem& item, const std::string& domain,
                           int64_t existing_id, std::optional<bool> key_taken, InboundRows* deferred,
                           NewThreads* new_threads) {
  RecordResult result;
  int64_t inbound_id = 0;  // of a row written now
  // The message key decides duplicates across mailboxes, rescans and daemons.
  const bool duplicate = key_taken ? *key_taken : MessageKeyTaken(tx, item.message_key, existing_id);
  result.outcome = duplicate ? Outcome::kDuplicate : item.outcome;
  std::string post_message_id;
  if (result.outcome == Outcome::kPosted) {
    InsertedPost post = InsertPost(tx, item, domain, new_threads);
    result.thread_id = post.thread_id;
    result.post_id = post.post_id;
    post_message_id = std::move(post.message_id);
  }
  if (deferred != nullptr && existing_id == 0 && result.outcome != Outcome::kQuarantined &&
      (item.outbox.empty() || result.outcome == Outcome::kDuplicate)) {
    DeferInboundRow(*deferred, item, result);
  } else {
    inbound_id = WriteInboundRow(tx, item, result, existing_id);
  }
  if (result.outcome != Outcome::kDuplicate) {
    if (const std::string held = QueueOutbox(tx, item, result, post_message_id, inbound_id, domain);
        !held.empty()) {
      // The trace shows why a sender got no notice.
      tx.exec_params("UPDATE inbound_messages SET reason = reason || $2 WHERE id = $1", inbound_id, held);
    }
    // Anyone can write a bounce that lists anyone: only one sent to the
    // signed return path of a row of ours may change a score, and only its
    // recipient's (issue 8 item 4).
    if (item.bounced_outbox_id) RecordVerpBounce(tx, *item.bounced_outbox_id, item.bounces);
    if (item.thread_update) ApplyThreadUpdate(tx, *item.thread_update);
    if (item.subscription) ApplySubscriptionChange(tx, *item.subscription);
  }
  return result;
}

namespace {

// What RecordBatch knows before it writes: which of the batch's UIDs are
// recorded and which of its message keys another row holds, kept up to date
// as the batch's items are written; and ids for the threads it may open
// (see ThreadIdsWanted). All three in one round trip for the whole batch.
class BatchState {
 public:
  BatchState(pqxx::transaction_base& tx, const std::vector<InboundItem>& items, int thread_ids)
      : items_(items) {
    std::vector<std::string> mailboxes, keys;
    std::string validities = "{", uids = "{";
    for (size_t i = 0; i < items.size(); ++i) {
      mailboxes.push_back(items[i].mailbox);
      keys.push_back(items[i].message_key);
      validities += (i ? "," : "") + std::to_string(items[i].uidvalidity);
      uids += (i ? "," : "") + std::to_string(items[i].uid);
    }
    // Each row says what it is: 'r' a recorded UID, 'k' a taken key, 't' a thread id.
    for (const auto& row : ExecPrepared(
             tx, "mf_batch_state",
             "SELECT 'r', m.mailbox, m.uidvalidity, m.uid FROM inbound_messages m "
             "JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS b(mailbox, uidvalidity, uid) "
             "ON m.mailbox = b.mailbox AND m.uidvalidity = b.uidvalidity AND m.uid = b.uid "
             "UNION ALL (SELECT DISTINCT 'k', message_key, NULL::bigint, NULL::bigint FROM inbound_messages "
             "WHERE message_key = ANY($4::text[]) AND outcome <> 'duplicate') "
             "UNION ALL SELECT 't', NULL, nextval('threads_id_seq'), NULL FROM generate_series(1, $5::int)",
             TextArray(mailboxes), validities + "}", uids + "}", TextArray(keys), thread_ids)) {
      const std::string kind = row[0].as<std::string>();
      if (kind == "r") {
        recorded_.emplace(row[1].as<std::string>(), static_cast<uint32_t>(row[2].as<int64_t>()),
                          static_cast<uint32_t>(row[3].as<int64_t>()));
      } else if (kind == "k") {
        taken_.insert(row[1].as<std::string>());
      } else {
        thread_ids_.push_back(row[2].as<int64_t>());
      }
    }
  }

  // The thread ids taken from the sequence (as many as asked), once.
  std::vector<int64_t> TakeThreadIds() { return std::move(thread_ids_); }

  bool Recorded(const InboundItem& item) const {
    return recorded_.count({item.mailbox, item.uidvalidity, item.uid}) > 0;
  }
  bool KeyTaken(const InboundItem& item) const { return taken_.count(item.message_key) > 0; }
  // Item number `index` of the batch was written with `result`.
  void Wrote(size_t index, const RecordResult& result) {
    const InboundItem& item = items_[index];
    recorded_.emplace(item.mailbox, item.uidvalidity, item.uid);
    if (result.outcome != Outcome::kDuplicate) taken_.insert(item.message_key);
    if (results_.size() <= index) results_.resize(index + 1);
    results_[index] = result;
  }

  // The thread (or with `post`, the post) that placeholder `id` (see
  // PostDraft::thread_id) names; nullopt when there is none.
  std::optional<int64_t> Resolve(pqxx::transaction_base& tx, int64_t id, bool post) const {
    const size_t index = static_cast<size_t>(-(id + 1));
    if (index >= items_.size()) return std::nullopt;
    if (index < results_.size() && results_[index]) {
      const auto& found = post ? results_[index]->post_id : results_[index]->thread_id;
      if (found) return found;
    }
    if (post || items_[index].message_id.empty()) return std::nullopt;
    // A duplicate (or recorded before): its Message-ID leads to the thread of the copy that was posted.
    const pqxx::result r = tx.exec_params(
        "SELECT p.thread_id FROM message_ids m JOIN posts p ON p.id = m.post_id WHERE m.message_id = $1 "
        "ORDER BY m.post_id LIMIT 1",
        items_[index].message_id);
    if (r.empty()) return std::nullopt;
    return r[0][0].as<int64_t>();
  }

 private:
  const std::vector<InboundItem>& items_;
  std::set<std::tuple<std::string, uint32_t, uint32_t>> recorded_;
  std::set<std::string> taken_;
  std::vector<int64_t> thread_ids_;
  std::vector<std::optional<RecordResult>> results_;  // by index, of the items written so far
};

bool HasPlaceholder(const InboundItem& item) {
  return (item.post && item.post->thread_id && *item.post->thread_id < 0) ||
         (item.thread_update &&
          (item.thread_update->thread_id < 0 ||
           (item.thread_update->accepted_post_id && *item.thread_update->accepted_post_id < 0)));
}

// `item` with its placeholders replaced by the ids they name. Throws
// std::invalid_argument when the thread it answers could not be stored.
InboundItem Resolved(pqxx::transaction_base& tx, const InboundItem& item, const BatchState& batch) {
  InboundItem out = item;
  if (out.post && out.post->thread_id && *out.post->thread_id < 0) {
    out.post->thread_id = batch.Resolve(tx, *out.post->thread_id, false);
    if (!out.post->thread_id)
      throw std::invalid_argument("the message it answers in the same batch was not stored");
  }
  if (out.thread_update && out.thread_update->thread_id < 0) {
    auto thread = batch.Resolve(tx, out.thread_update->thread_id, false);
    if (thread) {
      out.thread_update->thread_id = *thread;
    } else {
      out.thread_update.reset();
    }
  }
  if (out.thread_update && out.thread_update->accepted_post_id && *out.thread_update->accepted_post_id < 0) {
    out.thread_update->accepted_post_id = batch.Resolve(tx, *out.thread_update->accepted_post_id, true);
  }
  return out;
}

// Records item number `index` of the batch inside `tx`.
RecordResult RecordOne(pqxx::transaction_base& tx, const std::vector<InboundItem>& items, size_t index,
                       const std::string& domain, BatchState& batch, NewThreads& new_threads,
                       InboundRows* deferred = nullptr) {
  const InboundItem& item = items[index];
  RecordResult result;
  if (batch.Recorded(item)) {
    result.already_recorded = true;
    result.outcome = item.outcome;
    return result;
  }
  result = HasPlaceholder(item)
               ? RecordDecided(tx, Resolved(tx, item, batch), domain, 0, batch.KeyTaken(item), deferred,
                               &new_threads)
               : RecordDecided(tx, item, domain, 0, batch.KeyTaken(item), deferred, &new_threads);
  batch.Wrote(index, result);
  return result;
}

}  // namespace

namespace {

// How many ids to take for the threads `items` may open (posts without a
// thread) when there is a reply address to give them at insert; none
// otherwise (an id not used leaves a gap, as a rollback does).
int ThreadIdsWanted(const std::vector<InboundItem>& items,
                    const std::function<std::string(int64_t thread_id)>& reply_address_for) {
  if (!reply_address_for) return 0;
  return static_cast<int>(std::count_if(items.begin(), items.end(), [](const InboundItem& item) {
    return item.outcome == Outcome::kPosted && item.post && !item.post->thread_id;
  }));
}

// Thrown by the fast path of RecordBatch when an item fails by itself: the
// batch is written again with a savepoint per item.
struct ItemFailed {};

// Writes `items` inside `tx` and advances the cursors. With `savepoints`,
// each item under its own savepoint, so that one that fails by itself holds
// its error and the rest are written; without, the first such failure
// throws ItemFailed (the caller rolls back and writes again with savepoints),
// and the inbound rows that nothing else needs are written together at the
// end, in one statement.
std::vector<base::Result<RecordResult>> WriteBatch(
    pqxx::dbtransaction& tx, const std::vector<InboundItem>& items, const std::string& domain,
    const std::function<std::string(int64_t thread_id)>& reply_address_for, bool savepoints) {
  std::vector<base::Result<RecordResult>> results;
  results.reserve(items.size());
  BatchState batch(tx, items, ThreadIdsWanted(items, reply_address_for));
  NewThreads new_threads;
  if (reply_address_for) new_threads = NewThreads{batch.TakeThreadIds(), 0, reply_address_for};
  // The cursor may pass only UIDs that are recorded: stop at the first failure.
  Cursors cursor;
  std::set<std::string> blocked;
  InboundRows deferred;
  for (size_t i = 0; i < items.size(); ++i) {
    const InboundItem& item = items[i];
    try {
      RecordResult r;
      if (!savepoints) {
        r = RecordOne(tx, items, i, domain, batch, new_threads, &deferred);
      } else {
        try {
          pqxx::subtransaction sub(tx, "item");
          r = RecordOne(sub, items, i, domain, batch, new_threads);
          sub.commit();
        } catch (const pqxx::unique_violation&) {
          // Another daemon committed the same message key (or UID) first; now it is visible.
          pqxx::subtransaction sub(tx, "item_retry");
          const pqxx::result existing = sub.exec_params(
              "SELECT 1 FROM inbound_messages WHERE mailbox = $1 AND uidvalidity = $2 AND uid = $3",
              item.mailbox, static_cast<int64_t>(item.uidvalidity), static_cast<int64_t>(item.uid));
          if (!existing.empty()) {
            r.already_recorded = true;
            r.outcome = item.outcome;
          } else {
            r = HasPlaceholder(item)
                    ? RecordDecided(sub, Resolved(sub, item, batch), domain, 0, std::nullopt, nullptr,
                                    &new_threads)
                    : RecordDecided(sub, item, domain, 0, std::nullopt, nullptr, &new_threads);
            batch.Wrote(i, r);
          }
          sub.commit();
        }
      }
      results.emplace_back(r);
      if (!blocked.count(item.mailbox)) cursor[item.mailbox] = {item.uidvalidity, item.uid};
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const std::exception& e) {
      base::Error error = FromException(e, "recording " + item.mailbox + " UID " + std::to_string(item.uid));
      if (error.kind == base::ErrorKind::kTransient) throw;
      if (!savepoints) throw ItemFailed{};
      results.emplace_back(error);
      blocked.insert(item.mailbox);
    }
  }
  try {
    WriteInboundRows(tx, deferred, cursor);
  } catch (const pqxx::broken_connection&) {
    throw;
  } catch (const std::exception& e) {
    // E.g. another daemon committed one of the message keys first: item by item, with savepoints.
    if (FromException(e, "").kind == base::ErrorKind::kTransient || savepoints) throw;
    throw ItemFailed{};
  }
  return results;
}

}  // namespace

base::Result<std::vector<base::Result<RecordResult>>> Store::RecordBatch(
    const std::vector<InboundItem>& items, const std::string& domain,
    const std::function<std::string(int64_t thread_id)>& reply_address_for) {
  // Not InTransaction: a second transaction, with savepoints, when an item fails in the first.
  try {
    // Most batches have no failing item: no savepoint round trips for them.
    try {
      pqxx::work tx(impl_->conn);
      auto results = WriteBatch(tx, items, domain, reply_address_for, false);
      tx.commit();
      return results;
    } catch (const ItemFailed&) {
    }
    pqxx::work tx(impl_->conn);
    auto results = WriteBatch(tx, items, domain, reply_address_for, true);
    tx.commit();
    return results;
  } catch (const std::exception& e) {
    return FromException(e, "recording a batch of " + std::to_string(items.size()) + " messages");
  }
}

base::Result<std::optional<MailboxState>> Store::GetMailboxState(const std::string& mailbox) {
  const std::string what = "reading the state of mailbox " + mailbox;
  // One statement: no BEGIN and COMMIT round trips (each pass of a mailbox asks).
  return InTransaction<pqxx::nontransaction>(impl_->conn, what, [&](Tx& tx) {
    auto r = tx.exec_params(
        "SELECT uidvalidity, last_uid, extract(epoch FROM first_contact_at)::bigint FROM mailbox_state "
        "WHERE mailbox = $1",
        mailbox);
    if (r.empty() || r[0][0].is_null()) return std::optional<MailboxState>();
    MailboxState state;
    state.uidvalidity = static_cast<uint32_t>(r[0][0].as<int64_t>());
    state.last_uid = static_cast<uint32_t>(r[0][1].as<int64_t>());
    state.first_contact = std::chrono::system_clock::time_point(std::chrono::seconds(r[0][2].as<int64_t>()));
    return std::optional<MailboxState>(state);
  });
}

base::Status Store::ResetMailbox(const std::string& mailbox, uint32_t uidvalidity) {
  return InTransaction<pqxx::work>(impl_->conn, "resetting mailbox " + mailbox, [&](Tx& tx) {
    tx.exec_params(
        "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, 0) "
        "ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = 0",
        mailbox, static_cast<int64_t>(uidvalidity));
  });
}

base::Status Store::NoteMailboxPass(const std::string& mailbox, const std::string& error) {
  return InTransaction<pqxx::work>(impl_->conn, "noting the state of mailbox " + mailbox, [&](Tx& tx) {
    // A note of status, noted again at the next pass: losing it with a crash of the database server is
    // harmless, so its commit need not wait for the disk (every pass ends with one).
    tx.exec("SET LOCAL synchronous_commit TO off");
    if (error.empty()) {
      tx.exec_params("UPDATE mailbox_state SET last_success_at = now() WHERE mailbox = $1", mailbox);
    } else {
      tx.exec_params("UPDATE mailbox_state SET last_error = $2, last_error_at = now() WHERE mailbox = $1", mailbox,
                     error);
    }
  });
}

base::Result<std::vector<PendingPostAction>> Store::PendingPostActions(const std::string& mailbox,
                                                                        uint32_t uidvalidity) {
  const std::string what = "listing pending post-actions of mailbox " + mailbox;
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) {
    std::vector<PendingPostAction> out;
    for (const auto& row : tx.exec_params(
             "SELECT uid, outcome FROM inbound_messages WHERE mailbox = $1 AND uidvalidity = $2 "
             "AND NOT post_action_done ORDER BY uid",
             mailbox, static_cast<int64_t>(uidvalidity))) {
      PendingPostAction p;
      p.uid = static_cast<uint32_t>(row[0].as<int64_t>());
      p.outcome = row[1].as<std::string>() == "quarantined" ? Outcome::kQuarantined : Outcome::kPosted;
      out.push_back(p);
    }
    return out;
  });
}

base::Status Store::MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                        const std::vector<uint32_t>& uids) {
  if (uids.empty()) return {};
  std::string array = "{";
  for (size_t i = 0; i < uids.size(); ++i) array += (i ? "," : "") + std::to_string(uids[i]);
  array += "}";
  return InTransaction<pqxx::work>(impl_->conn, "marking post-actions of mailbox " + mailbox, [&](Tx& tx) {
    // Losing this note with a crash of the database server only repeats post-actions, which is harmless: its
    // commit need not wait for the disk (the batch's one durable commit is RecordBatch's).
    tx.exec("SET LOCAL synchronous_commit TO off");
    tx.exec_params(
        "UPDATE inbound_messages SET post_action_done = true "
        "WHERE mailbox = $1 AND uidvalidity = $2 AND uid = ANY($3::bigint[])",
        mailbox, static_cast<int64_t>(uidvalidity), array);
  });
}

base::Result<bool> Store::ThreadExists(int64_t thread_id) {
  const std::string what = "looking up thread " + std::to_string(thread_id);
  return InTransaction<pqxx::nontransaction>(impl_->conn, what, [&](Tx& tx) {
    return !tx.exec_params("SELECT 1 FROM threads WHERE id = $1", thread_id).empty();
  });
}

base::Result<std::optional<int64_t>> Store::FindThreadByMessageIds(const std::vector<std::string>& message_ids) {
  if (message_ids.empty()) return std::optional<int64_t>();
  // One round trip: the first of the ids, in the order given, that leads to a post.
  return InTransaction<pqxx::nontransaction>(impl_->conn, "matching a thread by Message-ID", [&](Tx& tx) {
    const pqxx::result r = ExecPrepared(
        tx, "mf_thread_by_message_ids",
        "SELECT p.thread_id FROM unnest($1::text[]) WITH ORDINALITY AS x(message_id, n) "
        "JOIN message_ids m ON m.message_id = x.message_id JOIN posts p ON p.id = m.post_id "
        "ORDER BY x.n, m.post_id LIMIT 1",
        TextArray(message_ids));
    if (r.empty()) return std::optional<int64_t>();
    return std::optional<int64_t>(r[0][0].as<int64_t>());
  });
}

base::Result<std::map<std::string, int64_t>> Store::FindThreadsOfMessageIds(
    const std::vector<std::string>& message_ids) {
  std::map<std::string, int64_t> out;
  if (message_ids.empty()) return out;
  return InTransaction<pqxx::nontransaction>(impl_->conn, "matching threads by Message-ID", [&](Tx& tx) {
    for (const auto& row :
         ExecPrepared(tx, "mf_threads_of_message_ids",
                      "SELECT DISTINCT ON (m.message_id) m.message_id, p.thread_id "
                      "FROM message_ids m JOIN posts p ON p.id = m.post_id "
                      "WHERE m.message_id = ANY($1::text[]) ORDER BY m.message_id, m.post_id",
                      TextArray(message_ids))) {
      out.emplace(row[0].as<std::string>(), row[1].as<int64_t>());
    }
    return out;
  });
}

base::Result<bool> Store::MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                       const std::vector<std::string>& message_ids) {
  if (domain.empty() || (!outbox_id && message_ids.empty())) return false;
  return InTransaction<pqxx::nontransaction>(impl_->conn, "looking up our mail to " + domain, [&](Tx& tx) {
    // Every mail we send is an outbox row: a post's outbound Message-ID is carried by its answers and
    // notifications, an acknowledgement's and a rejection notice's by the row alone.
    return tx
        .exec_params1(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE (id = $1 OR message_id = ANY($2::text[])) "
            "AND split_part(recipient, '@', 2) = $3)",
            outbox_id.value_or(0), TextArray(message_ids), domain)[0]
        .as<bool>();
  });
}

base::Result<std::optional<PostRef>> Store::FindPostByMessageId(const std::string& message_id) {
  return InTransaction<pqxx::nontransaction>(impl_->conn, "looking up the post of a Message-ID", [&](Tx& tx) {
    auto r = ExecPrepared(
        tx, "mf_post_by_message_id",
        "SELECT p.id, p.thread_id, lower(p.author_address) FROM message_ids m JOIN posts p ON p.id = m.post_id "
        "WHERE m.message_id = $1 ORDER BY m.post_id LIMIT 1",
        message_id);
    if (r.empty()) return std::optional<PostRef>();
    return std::optional<PostRef>(
        PostRef{r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<std::string>()});
  });
}

base::Result<int64_t> Store::CountThreadsOpenedSince(const std::string& address, int64_t seconds) {
  return InTransaction<pqxx::nontransaction>(impl_->conn, "counting recent threads", [&](Tx& tx) {
    return ExecPrepared(tx, "mf_count_threads_opened",
                        "SELECT count(*) FROM threads WHERE lower(author_address) = lower($1) "
                        "AND created_at > now() - make_interval(secs => $2)",
                        address, seconds)[0][0]
        .as<int64_t>();
  });
}

base::Result<std::map<std::string, int64_t>> Store::CountThreadsOpenedSinceEach(
    const std::vector<std::string>& addresses, int64_t seconds) {
  std::map<std::string, int64_t> out;
  std::vector<std::string> lower;
  for (const std::string& a : addresses) {
    lower.push_back(base::AsciiLower(a));
    out.emplace(lower.back(), 0);
  }
  if (lower.empty()) return out;
  return InTransaction<pqxx::nontransaction>(impl_->conn, "counting recent threads", [&](Tx& tx) {
    for (const auto& row : ExecPrepared(tx, "mf_count_threads_opened_each",
                                        "SELECT lower(author_address), count(*) FROM threads "
                                        "WHERE lower(author_address) = ANY($1::text[]) "
                                        "AND created_at > now() - make_interval(secs => $2) GROUP BY 1",
                                        TextArray(lower), seconds)) {
      out[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
    return out;
  });
}

base::Result<std::vector<SearchVector>> Store::MakeSearchVectors(const std::vector<std::string>& texts) {
  std::vector<SearchVector> out;
  if (texts.empty()) return out;
  return InTransaction<pqxx::nontransaction>(impl_->conn, "making search vectors", [&](Tx& tx) {
    const pqxx::result rows =
        ExecPrepared(tx, "mf_make_search_vectors",
                     "SELECT mailforum_search_config()::text, tsvectorsend(mailforum_post_search(t)) "
                     "FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
                     TextArray(texts));
    if (rows.size() != texts.size()) throw std::logic_error("search vectors: a row per text expected");
    for (size_t i = 0; i < texts.size(); ++i) {
      out.push_back({rows[i][0].as<std::string>(), pqxx::binarystring(rows[i][1]).str(),
                     std::hash<std::string>{}(texts[i])});
    }
    return out;
  });
}

base::Result<int> Store::SessionId() {
  return InTransaction<pqxx::nontransaction, Check::kAliveFirst>(
      impl_->conn, "asking the database session's id",
      [&](Tx& tx) { return tx.exec1("SELECT pg_backend_pid()")[0].as<int>(); });
}

base::Result<bool> Store::TryLockMailbox(const std::string& mailbox) {
  const std::string what = "locking mailbox " + mailbox;
  return InTransaction<pqxx::nontransaction, Check::kAliveFirst>(impl_->conn, what, [&](Tx& tx) {
    return tx.exec_params1("SELECT pg_try_advisory_lock(hashtextextended('mailforum mailbox ' || $1, 0))", mailbox)[0]
        .as<bool>();
  });
}

base::Result<bool> Store::UnlockMailbox(const std::string& mailbox) {
  const std::string what = "unlocking mailbox " + mailbox;
  return InTransaction<pqxx::nontransaction, Check::kAliveFirst>(impl_->conn, what, [&](Tx& tx) {
    return tx.exec_params1("SELECT pg_advisory_unlock(hashtextextended('mailforum mailbox ' || $1, 0))", mailbox)[0]
        .as<bool>();
  });
}

}  // namespace forum
