// Store: the outbox side (claiming, marking, requeueing, bounces; forum/outbox.h).
#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/ascii.h"
#include "forum/outbox.h"
#include "forum/store.h"
#include "forum/store_internal.h"

namespace forum {

OutboxKind OutboxKindOf(const pqxx::field& kind, int64_t outbox_id) {
  const std::string text = kind.as<std::string>();
  const std::optional<OutboxKind> parsed = ParseOutboxKind(text);
  if (!parsed) {
    throw std::invalid_argument("outbox row " + std::to_string(outbox_id) + " has an unknown kind: '" + text +
                                "'");
  }
  return *parsed;
}

namespace {

using Clock = std::chrono::system_clock;

// The first key of the claim owners' advisory locks ('mfow'; migration 0009); the second is the owner.
constexpr int kClaimLockClass = 1835429751;

// The claimed rows with what composing their mail needs: the thread, the
// post, the thread's first post (our root Message-ID and the asker's own),
// the reason of a rejected message (whose Message-ID names its inbound row:
// see OurMessageIdPrefix), the recipient's bounce score, and the recipient's
// unsubscription that covers the row (forum/subscriptions.h), if any.
//
// Due are the rows whose time has come and, first, the rows still under the
// lease of an owner whose session is gone: its advisory lock (kClaimLockClass,
// owner) is no longer in pg_locks. $3 is the claiming connection's owner.
constexpr char kClaimSql[] = R"sql(
WITH RECURSIVE owners AS (
  (SELECT claim_owner FROM outbox WHERE status = 'pending' AND claim_owner IS NOT NULL ORDER BY claim_owner LIMIT 1)
  UNION ALL
  SELECT (SELECT o.claim_owner FROM outbox o WHERE o.status = 'pending' AND o.claim_owner > owners.claim_owner
          ORDER BY o.claim_owner LIMIT 1)
  FROM owners WHERE owners.claim_owner IS NOT NULL
), orphaned AS (
  SELECT claim_owner FROM owners WHERE claim_owner IS NOT NULL
  EXCEPT
  SELECT objid::bigint::integer FROM pg_locks
  WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = 1835429751
    AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
), taken_over AS (
  SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at > now()
    AND claim_owner IN (SELECT claim_owner FROM orphaned)
  ORDER BY next_attempt_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
), fresh AS (
  SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= now()
  ORDER BY next_attempt_at, id LIMIT greatest($1 - (SELECT count(*) FROM taken_over), 0) FOR UPDATE SKIP LOCKED
), due AS (
  SELECT id FROM taken_over UNION ALL SELECT id FROM fresh
), claimed AS (
  UPDATE outbox o SET next_attempt_at = now() + $2 * interval '1 millisecond', attempts = o.attempts + 1,
                      claim_owner = $3
  FROM due WHERE o.id = due.id
  RETURNING o.*
)
SELECT o.id, o.kind, o.recipient, o.message_id, o.payload, o.attempts,
       extract(epoch FROM coalesce(o.requeued_at, o.created_at))::bigint,
       (extract(epoch FROM now() - coalesce(o.requeued_at, o.created_at)) * 1000)::bigint,
       coalesce(s.bounce_score, 0),
       o.thread_id, coalesce(c.slug, ''), coalesce(t.subject, ''), lower(coalesce(t.author_address, '')),
       coalesce(fp.message_id, ''), coalesce(fi.message_id, ''),
       o.post_id, coalesce(p.id = fp.id, false), coalesce(p.author_address, ''), coalesce(p.author_name, ''),
       coalesce(p.body, ''), coalesce(ri.reason, ''), coalesce(un.scope, ''), coalesce(un.source, '')
FROM claimed o
LEFT JOIN suppressions s ON s.address = o.recipient
LEFT JOIN threads t ON t.id = o.thread_id
LEFT JOIN categories c ON c.id = t.category_id
LEFT JOIN posts p ON p.id = o.post_id
LEFT JOIN LATERAL (SELECT id, message_id FROM posts WHERE thread_id = o.thread_id ORDER BY id LIMIT 1) fp ON true
LEFT JOIN LATERAL (SELECT message_id FROM inbound_messages
                   WHERE post_id = fp.id AND message_id IS NOT NULL ORDER BY id LIMIT 1) fi ON true
LEFT JOIN inbound_messages ri
       ON o.kind = 'rejection' AND ri.id = substring(o.message_id FROM '^reject\.([0-9]+)\.')::bigint
LEFT JOIN LATERAL (SELECT scope, source FROM unsubscriptions u WHERE u.address = o.recipient AND u.scope IN
                     (CASE WHEN o.kind IN ('answer', 'notification') THEN 'thread:' || o.thread_id END,
                      CASE WHEN o.kind = 'notification' THEN 'category:' || c.slug END,
                      CASE WHEN o.kind = 'acknowledgement' THEN 'acknowledgements' END)
                   ORDER BY created_at LIMIT 1) un ON true
ORDER BY o.next_attempt_at, o.id
)sql";

ClaimedMail ReadClaimed(const pqxx::row& row) {
  ClaimedMail m;
  m.id = row[0].as<int64_t>();
  m.kind = OutboxKindOf(row[1], m.id);
  m.recipient = row[2].as<std::string>();
  m.message_id = row[3].as<std::string>();
  if (!row[4].is_null()) m.payload = pqxx::binarystring(row[4]).str();
  m.attempts = row[5].as<int>();
  m.queued_at = Clock::time_point(std::chrono::seconds(row[6].as<int64_t>()));
  m.age = std::chrono::milliseconds(row[7].as<int64_t>());
  m.bounce_score = row[8].as<double>();
  if (!row[9].is_null()) m.thread_id = row[9].as<int64_t>();
  m.category = row[10].as<std::string>();
  m.thread_subject = row[11].as<std::string>();
  m.thread_author = row[12].as<std::string>();
  m.root_message_id = row[13].as<std::string>();
  m.question_message_id = row[14].as<std::string>();
  if (!row[15].is_null()) m.post_id = row[15].as<int64_t>();
  m.post_opens_thread = row[16].as<bool>();
  m.post_author_address = row[17].as<std::string>();
  m.post_author_name = row[18].as<std::string>();
  m.post_body = row[19].as<std::string>();
  m.rejection_reason = row[20].as<std::string>();
  m.unsubscribed_scope = row[21].as<std::string>();
  m.unsubscribed_source = row[22].as<std::string>();
  return m;
}

// Marks row `outbox_id` bounced (when it is 'sent' or 'pending'); returns its recipient, or "" when no row
// changed.
std::string SetBounced(pqxx::transaction_base& tx, int64_t outbox_id, const std::string& reason) {
  const pqxx::result r = tx.exec_params(
      "UPDATE outbox SET status = 'bounced', bounced_at = now(), last_error = $2 "
      "WHERE id = $1 AND status IN ('sent', 'pending') RETURNING recipient",
      outbox_id, reason);
  return r.empty() ? std::string() : r[0][0].as<std::string>();
}

std::string BounceReason(bool hard, const std::string& reason) {
  return std::string(hard ? "hard" : "soft") + " bounce" + (reason.empty() ? "" : ": " + reason);
}

}  // namespace

void RecordVerpBounce(pqxx::transaction_base& tx, int64_t outbox_id,
                      const std::vector<BounceDraft>& reported) {
  // The hardest failure the report names stands for the report as a whole.
  const BounceDraft* worst = nullptr;
  for (const BounceDraft& b : reported) {
    if (worst == nullptr || (b.hard && !worst->hard)) worst = &b;
  }
  const std::string recipient =
      SetBounced(tx, outbox_id,
                 worst == nullptr ? BounceReason(false, "returned to our return path")
                                  : BounceReason(worst->hard, worst->reason));
  if (recipient.empty()) return;  // unknown row, or one whose bounce was counted already
  // Only the row's recipient is scored: what the report says of that
  // address when it names it, otherwise what it says overall (soft when it
  // names nobody). Other addresses it lists are not ours to judge.
  const BounceDraft* about = worst;
  for (const BounceDraft& b : reported) {
    if (base::AsciiLower(b.address) == recipient) {
      about = &b;
      break;
    }
  }
  RecordBounces(tx, {about == nullptr ? BounceDraft{recipient, false, "returned to our return path"}
                                      : BounceDraft{recipient, about->hard, about->reason}});
}

base::Result<std::optional<ThreadAudience>> Store::FindThreadAudience(int64_t thread_id) {
  const std::string what = "reading the people of thread " + std::to_string(thread_id);
  // Two statements, one round trip each (no BEGIN and COMMIT): a post added between them only adds a
  // participant, as it would a moment later.
  return InTransaction<pqxx::nontransaction>(impl_->conn, what, [&](Tx& tx) {
    const pqxx::result thread = tx.exec_params(
        "SELECT c.slug, lower(t.author_address) FROM threads t JOIN categories c ON c.id = t.category_id "
        "WHERE t.id = $1",
        thread_id);
    if (thread.empty()) return std::optional<ThreadAudience>();
    ThreadAudience audience;
    audience.thread_id = thread_id;
    audience.category = thread[0][0].as<std::string>();
    audience.author_address = thread[0][1].as<std::string>();
    for (const pqxx::row& row : tx.exec_params("SELECT lower(author_address) FROM posts WHERE thread_id = $1 "
                                               "GROUP BY lower(author_address) ORDER BY min(id)",
                                               thread_id)) {
      audience.participants.push_back(row[0].as<std::string>());
    }
    return std::optional<ThreadAudience>(std::move(audience));
  });
}

base::Result<std::vector<ClaimedMail>> Store::ClaimDue(int limit, std::chrono::milliseconds lease) {
  return RecordOutcomesAndClaim({}, limit, lease);
}

base::Result<int64_t> Store::PendingOutboxRows() {
  return InTransaction<pqxx::nontransaction>(impl_->conn, "counting pending outbox rows", [&](Tx& tx) {
    return tx.exec1("SELECT count(*) FROM outbox WHERE status = 'pending'")[0].as<int64_t>();
  });
}

namespace {

// The fates of a batch as parallel arrays: $1 ids, $2 fates, $3 errors, $4 reply codes (0: none), $5 delays
// in milliseconds. Every update only of a 'pending' row; a suppressed row's recipient is noted in
// suppressions.
constexpr char kRecordOutcomesSql[] = R"sql(
WITH o AS (
  SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::bigint[])
         AS o(id, fate, error, code, delay_ms)
), u AS (
  UPDATE outbox t SET
    status = CASE WHEN o.fate IN ('sent', 'failed', 'suppressed') THEN o.fate
                  WHEN o.fate = 'unsubscribed' THEN 'suppressed' ELSE t.status END,
    sent_at = CASE WHEN o.fate = 'sent' THEN now() ELSE t.sent_at END,
    last_error = CASE WHEN o.fate IN ('sent', 'released') THEN t.last_error ELSE o.error END,
    last_reply_code = CASE WHEN o.fate IN ('retry', 'failed') THEN NULLIF(o.code, 0) ELSE t.last_reply_code END,
    next_attempt_at = CASE WHEN o.fate IN ('retry', 'deferred') THEN now() + o.delay_ms * interval '1 millisecond'
                           WHEN o.fate = 'released' THEN now() ELSE t.next_attempt_at END,
    attempts = CASE WHEN o.fate IN ('released', 'deferred') THEN greatest(t.attempts - 1, 0) ELSE t.attempts END,
    claim_owner = NULL
  FROM o WHERE t.id = o.id AND t.status = 'pending'
  RETURNING t.recipient, o.fate
)
UPDATE suppressions SET suppressed_at = coalesce(suppressed_at, now())
WHERE address IN (SELECT recipient FROM u WHERE fate = 'suppressed')
)sql";

std::string FateName(OutboxOutcome::Fate fate) {
  switch (fate) {
    case OutboxOutcome::Fate::kSent:
      return "sent";
    case OutboxOutcome::Fate::kRetry:
      return "retry";
    case OutboxOutcome::Fate::kFailed:
      return "failed";
    case OutboxOutcome::Fate::kSuppressed:
      return "suppressed";
    case OutboxOutcome::Fate::kUnsubscribed:
      return "unsubscribed";
    case OutboxOutcome::Fate::kReleased:
      return "released";
    case OutboxOutcome::Fate::kDeferred:
      return "deferred";
  }
  return "retry";
}

// An integer array literal.
template <typename T>
std::string IntArray(const std::vector<T>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out + "}";
}

// The fates of `outcomes` (kRecordOutcomesSql), inside `tx`; nothing when there are none.
void RecordIn(pqxx::transaction_base& tx, const std::vector<OutboxOutcome>& outcomes) {
  if (outcomes.empty()) return;
  std::vector<int64_t> ids, delays;
  std::vector<int> codes;
  std::vector<std::string> fates, errors;
  for (const OutboxOutcome& o : outcomes) {
    ids.push_back(o.id);
    fates.push_back(FateName(o.fate));
    errors.push_back(o.error);
    codes.push_back(o.reply_code.value_or(0));
    delays.push_back(static_cast<int64_t>(o.delay.count()));
  }
  ExecPrepared(tx, "mf_record_outcomes", kRecordOutcomesSql, IntArray(ids), TextArray(fates),
               TextArray(errors), IntArray(codes), IntArray(delays));
}

}  // namespace

base::Status Store::SavePayloads(const std::vector<std::pair<int64_t, std::string>>& payloads) {
  if (payloads.empty()) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::vector<int64_t> ids;
  std::vector<std::string> hex;
  for (const auto& [id, payload] : payloads) {
    ids.push_back(id);
    std::string& h = hex.emplace_back();
    h.reserve(payload.size() * 2);
    for (unsigned char c : payload) {
      h += kHex[c >> 4];
      h += kHex[c & 15];
    }
  }
  const std::string what = "saving the messages of " + std::to_string(payloads.size()) + " outbox row(s)";
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) {
    tx.exec_params(
        "UPDATE outbox t SET payload = decode(p.hex, 'hex') FROM unnest($1::bigint[], $2::text[]) AS p(id, "
        "hex) "
        "WHERE t.id = p.id AND t.status = 'pending'",
        IntArray(ids), TextArray(hex));
  });
}

base::Status Store::RecordOutcomes(const std::vector<OutboxOutcome>& outcomes) {
  if (outcomes.empty()) return {};
  const std::string what = "recording the fates of " + std::to_string(outcomes.size()) + " outbox row(s)";
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) { RecordIn(tx, outcomes); });
}

base::Result<std::vector<ClaimedMail>> Store::RecordOutcomesAndClaim(const std::vector<OutboxOutcome>& outcomes,
                                                                     int limit, std::chrono::milliseconds lease) {
  const std::string what = outcomes.empty() ? "claiming due outbox rows"
                                            : "recording the fates of " + std::to_string(outcomes.size()) +
                                                  " outbox row(s) and claiming due ones";
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) {
    RecordIn(tx, outcomes);
    // This session's owner lock: taken on the first claim, and again when the session is not the one that
    // took it (libpqxx reconnected after a lost connection, whose lock PostgreSQL dropped — and whose
    // claims any worker may now take). A session advisory lock outlives this transaction.
    if (impl_->claim_owner == 0 ||
        !ExecPrepared(tx, "mf_claim_lock_held",
                      "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                      "AND pid = pg_backend_pid() AND objsubid = 2 AND classid = $1 AND objid::bigint = $2)",
                      kClaimLockClass, impl_->claim_owner)[0][0]
             .as<bool>()) {
      impl_->claim_owner = tx.exec1("SELECT nextval('outbox_claim_owners')")[0].as<int>();
      tx.exec_params("SELECT pg_advisory_lock($1, $2)", kClaimLockClass, impl_->claim_owner);
    }
    std::vector<ClaimedMail> out;
    for (const pqxx::row& row : ExecPrepared(tx, "mf_claim", kClaimSql, limit,
                                             static_cast<int64_t>(lease.count()), impl_->claim_owner)) {
      out.push_back(ReadClaimed(row));
    }
    return out;
  });
}

base::Status Store::SavePayload(int64_t id, const std::string& payload) {
  return SavePayloads({{id, payload}});
}

base::Status Store::MarkSent(int64_t id) {
  return RecordOutcomes({OutboxOutcome::Of(id, OutboxOutcome::Fate::kSent)});
}

base::Status Store::MarkRetry(int64_t id, const std::string& error, std::optional<int> reply_code,
                              std::chrono::milliseconds retry_in) {
  return RecordOutcomes({OutboxOutcome::Of(id, OutboxOutcome::Fate::kRetry, error, reply_code, retry_in)});
}

base::Status Store::MarkFailed(int64_t id, const std::string& error, std::optional<int> reply_code) {
  return RecordOutcomes({OutboxOutcome::Of(id, OutboxOutcome::Fate::kFailed, error, reply_code)});
}

base::Status Store::MarkSuppressed(int64_t id, const std::string& why) {
  return RecordOutcomes({OutboxOutcome::Of(id, OutboxOutcome::Fate::kSuppressed, why)});
}

base::Status Store::MarkUnsubscribed(int64_t id, const std::string& why) {
  return RecordOutcomes({OutboxOutcome::Of(id, OutboxOutcome::Fate::kUnsubscribed, why)});
}

base::Status Store::Release(int64_t id) {
  return RecordOutcomes({OutboxOutcome::Of(id, OutboxOutcome::Fate::kReleased)});
}

base::Status Store::Defer(int64_t id, const std::string& why, std::chrono::milliseconds delay) {
  return RecordOutcomes({OutboxOutcome::Of(id, OutboxOutcome::Fate::kDeferred, why, std::nullopt, delay)});
}

namespace {

// Machine mail tied to ours (inbound_messages.tied_to_ours: anyone can forge
// an auto-reply's From, not our tokens and Message-IDs) and bounced rows of
// ours, from or to the recipient's domain ($2) in the last window + cooldown
// ($5 ms), each event flagged when it is from the address itself ($1). A
// burst is `threshold` events ($3 for the address, $4 for the domain) within
// the window ($6 ms): the breaker tripped at its last event and stays open
// for the cooldown ($7 ms). Returns the milliseconds left, or no row.
constexpr char kLoopPauseSql[] = R"sql(
WITH ev AS (
  SELECT received_at AS at, lower(from_address) = $1 AS same FROM inbound_messages
  WHERE outcome = 'machine' AND tied_to_ours AND received_at > now() - $5 * interval '1 millisecond'
    AND split_part(lower(from_address), '@', 2) = $2
  UNION ALL
  SELECT bounced_at, recipient = $1 FROM outbox
  WHERE status = 'bounced' AND bounced_at > now() - $5 * interval '1 millisecond'
    AND split_part(recipient, '@', 2) = $2
), bursts AS (
  SELECT at, lag(at, $3 - 1) OVER (ORDER BY at) AS earlier FROM ev WHERE same
  UNION ALL
  SELECT at, lag(at, $4 - 1) OVER (ORDER BY at) FROM ev
), tripped AS (
  SELECT max(at) AS at FROM bursts WHERE at - earlier <= $6 * interval '1 millisecond'
)
SELECT (extract(epoch FROM at + $7 * interval '1 millisecond' - now()) * 1000)::bigint FROM tripped
WHERE at + $7 * interval '1 millisecond' > now()
)sql";

}  // namespace

base::Result<std::optional<std::chrono::milliseconds>> Store::LoopPause(const std::string& address,
                                                                       const LoopBreakerLimits& limits) {
  const size_t at = address.rfind('@');
  const std::string domain = at == std::string::npos ? std::string() : address.substr(at + 1);
  const std::string what = "checking the loop breaker of " + address;
  return InTransaction<pqxx::read_transaction>(impl_->conn, what, [&](Tx& tx) {
    const pqxx::result r =
        tx.exec_params(kLoopPauseSql, address, domain, std::max(limits.address_threshold, 1),
                       std::max(limits.domain_threshold, 1),
                       static_cast<int64_t>((limits.window + limits.cooldown).count()),
                       static_cast<int64_t>(limits.window.count()), static_cast<int64_t>(limits.cooldown.count()));
    if (r.empty()) return std::optional<std::chrono::milliseconds>();
    return std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(r[0][0].as<int64_t>()));
  });
}

base::Result<bool> Store::IsSuppressed(const std::string& address, double threshold) {
  const std::string what = "looking up the bounce score of " + address;
  return InTransaction<pqxx::read_transaction>(impl_->conn, what, [&](Tx& tx) {
    return !tx.exec_params("SELECT 1 FROM suppressions WHERE address = lower($1) AND bounce_score >= $2",
                           address, threshold)
                .empty();
  });
}

base::Status Store::RetryOutbox(int64_t id) {
  const std::string what = "requeueing outbox row " + std::to_string(id);
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) -> base::Status {
    const pqxx::result r = tx.exec_params("SELECT status FROM outbox WHERE id = $1 FOR UPDATE", id);
    if (r.empty() || r[0][0].as<std::string>() == "pending") {
      return base::Error{
          base::ErrorKind::kPermanent,
          "outbox row " + std::to_string(id) + (r.empty() ? " does not exist" : " is still pending")};
    }
    tx.exec_params(
        "UPDATE outbox SET status = 'pending', next_attempt_at = now(), attempts = 0, requeued_at = now(), "
        "sent_at = NULL, bounced_at = NULL, claim_owner = NULL WHERE id = $1",
        id);
    return {};
  });
}

base::Status Store::MarkBounced(int64_t outbox_id, const std::string& reason, bool hard) {
  const std::string what = "marking outbox row " + std::to_string(outbox_id) + " bounced";
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) {
    const std::string recipient = SetBounced(tx, outbox_id, BounceReason(hard, reason));
    if (!recipient.empty()) RecordBounces(tx, {BounceDraft{recipient, hard, reason}});
  });
}

base::Result<bool> Store::ClearSuppression(const std::string& address) {
  return InTransaction<pqxx::work>(impl_->conn, "clearing the bounce score of " + address, [&](Tx& tx) {
    const pqxx::result r = tx.exec_params("DELETE FROM suppressions WHERE address = lower($1)", address);
    return r.affected_rows() > 0;
  });
}

}  // namespace forum
