// Store: the ingestion side (RecordBatch and the mailbox bookkeeping).
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

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

// A PostgreSQL array literal of `values` (passed as a parameter, so only array quoting applies).
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

int64_t InsertThread(pqxx::transaction_base& tx, const PostDraft& post) {
  pqxx::result category = tx.exec_params("SELECT id FROM categories WHERE slug = $1", post.category);
  if (category.empty()) throw std::invalid_argument("unknown category '" + post.category + "'");
  return tx
      .exec_params1(
          "INSERT INTO threads (category_id, subject, tags, author_address, author_name) "
          "VALUES ($1, $2, $3::text[], $4, $5) RETURNING id",
          category[0][0].as<int64_t>(), post.subject, TextArray(post.tags), post.author_address, post.author_name)[0]
      .as<int64_t>();
}

void InsertAttachments(pqxx::transaction_base& tx, int64_t post_id, const std::vector<AttachmentDraft>& attachments) {
  int position = 0;
  for (const AttachmentDraft& a : attachments) {
    tx.exec_params(
        "INSERT INTO attachments (sha256, size, content) VALUES (decode($1, 'hex'), $2, $3) "
        "ON CONFLICT (sha256) DO NOTHING",
        a.sha256, static_cast<int64_t>(a.content.size()), Bytes(a.content));
    tx.exec_params(
        "INSERT INTO post_attachments (post_id, attachment_id, position, filename, content_type, content_id) "
        "SELECT $1, id, $2, $3, $4, NULLIF($5, '') FROM attachments WHERE sha256 = decode($6, 'hex')",
        post_id, position++, a.filename, a.content_type, a.content_id, a.sha256);
  }
}

// Creates the post (and its thread when new); returns {thread_id, post_id}.
std::pair<int64_t, int64_t> InsertPost(pqxx::transaction_base& tx, const InboundItem& item, const std::string& domain) {
  const PostDraft& post = *item.post;
  int64_t thread_id = post.thread_id ? *post.thread_id : InsertThread(tx, post);
  // The Message-ID is made before the row exists, so reserve the id first.
  const int64_t post_id = tx.exec1("SELECT nextval('posts_id_seq')")[0].as<int64_t>();
  const std::string our_id = OurMessageId("post", post_id, domain);
  tx.exec_params(
      "INSERT INTO posts (id, thread_id, author_address, author_name, body, elided, message_id, author_verified) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
      post_id, thread_id, post.author_address, post.author_name, post.body, post.elided, our_id,
      post.author_verified);
  tx.exec_params("INSERT INTO message_ids (message_id, post_id, direction) VALUES ($1, $2, 'outbound')", our_id,
                 post_id);
  if (!item.message_id.empty()) {
    tx.exec_params(
        "INSERT INTO message_ids (message_id, post_id, direction) VALUES ($1, $2, 'inbound') "
        "ON CONFLICT DO NOTHING",
        item.message_id, post_id);
  }
  // A post by someone other than the thread's author answers it.
  tx.exec_params(
      "UPDATE threads SET last_post_at = now(), "
      "status = CASE WHEN status = 'open' AND lower(author_address) <> lower($2) THEN 'answered' ELSE status END "
      "WHERE id = $1",
      thread_id, post.author_address);
  InsertAttachments(tx, post_id, post.attachments);
  return {thread_id, post_id};
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
    return "no " + out.kind + " queued: " + std::to_string(to_domain) +
           " acknowledgements and rejection notices went to " + domain +
           " in the last hour (auto_replies_per_domain_per_hour)";
  }
  if (out.max_per_hour > 0 && overall >= out.max_per_hour) {
    return "no " + out.kind + " queued: " + std::to_string(overall) +
           " acknowledgements and rejection notices went out in the last hour (auto_replies_per_hour)";
  }
  return "";
}

// Queues `item`'s outbox rows; returns what was held back and why ("" when nothing was).
std::string QueueOutbox(pqxx::transaction_base& tx, const InboundItem& item, const RecordResult& result,
                        int64_t inbound_id, const std::string& domain) {
  std::string held;
  for (const OutboxDraft& out : item.outbox) {
    const std::string recipient = base::AsciiLower(out.recipient);
    if (out.kind == "acknowledgement" || out.kind == "rejection") {
      // Before the rejection's daily claim below, so that a capped notice does not use it up.
      if (std::string why = NoticeCapReached(tx, out, recipient); !why.empty()) {
        held += "; " + why;
        continue;
      }
    }
    if (out.kind == "rejection") {
      // At most one rejection notice per address per day.
      auto claimed = tx.exec_params(
          "INSERT INTO rejection_notices (address, day) VALUES ($1, current_date) ON CONFLICT DO NOTHING "
          "RETURNING address",
          recipient);
      if (claimed.empty()) continue;
    }
    if (out.kind == "acknowledgement" && out.min_interval.count() > 0) {
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
    if (result.post_id && (out.kind == "answer" || out.kind == "notification")) {
      message_id = tx.exec_params1("SELECT message_id FROM posts WHERE id = $1", *result.post_id)[0].as<std::string>();
    } else {
      message_id = OurMessageId(out.kind == "rejection" ? "reject" : "ack", inbound_id, domain);
    }
    tx.exec_params(
        "INSERT INTO outbox (kind, thread_id, post_id, recipient, message_id) "
        "VALUES ($1, NULLIF($2, 0), NULLIF($3, 0), $4, $5) ON CONFLICT (message_id, recipient) DO NOTHING",
        out.kind, result.thread_id ? *result.thread_id : 0, result.post_id ? *result.post_id : 0, recipient,
        message_id);
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
                      item.subject, static_cast<int64_t>(item.size), item.classification,
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

}  // namespace

std::string OurMessageIdPrefix(const std::string& what, int64_t id) {
  return what + "." + std::to_string(id) + ".";
}

RecordResult RecordDecided(pqxx::transaction_base& tx, const InboundItem& item, const std::string& domain,
                           int64_t existing_id) {
  RecordResult result;
  // The message key decides duplicates across mailboxes, rescans and daemons.
  result.outcome = MessageKeyTaken(tx, item.message_key, existing_id) ? Outcome::kDuplicate : item.outcome;
  if (result.outcome == Outcome::kPosted) {
    auto [thread_id, post_id] = InsertPost(tx, item, domain);
    result.thread_id = thread_id;
    result.post_id = post_id;
  }
  const int64_t inbound_id = WriteInboundRow(tx, item, result, existing_id);
  if (result.outcome != Outcome::kDuplicate) {
    if (const std::string held = QueueOutbox(tx, item, result, inbound_id, domain); !held.empty()) {
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

// Records one item inside `tx` (under a savepoint the caller holds).
RecordResult RecordOne(pqxx::transaction_base& tx, const InboundItem& item, const std::string& domain) {
  RecordResult result;
  auto existing = tx.exec_params(
      "SELECT outcome, post_id FROM inbound_messages WHERE mailbox = $1 AND uidvalidity = $2 AND uid = $3",
      item.mailbox, static_cast<int64_t>(item.uidvalidity), static_cast<int64_t>(item.uid));
  if (!existing.empty()) {
    result.already_recorded = true;
    result.outcome = item.outcome;
    return result;
  }
  return RecordDecided(tx, item, domain, 0);
}

}  // namespace

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPosted: return "posted";
    case Outcome::kIgnored: return "ignored";
    case Outcome::kRejected: return "rejected";
    case Outcome::kQuarantined: return "quarantined";
    case Outcome::kMachine: return "machine";
    case Outcome::kDuplicate: return "duplicate";
    case Outcome::kTooOld: return "too_old";
    case Outcome::kUnsubscribed:
      return "unsubscribed";
  }
  return "ignored";
}

base::Result<std::vector<base::Result<RecordResult>>> Store::RecordBatch(const std::vector<InboundItem>& items,
                                                                        const std::string& domain) {
  std::vector<base::Result<RecordResult>> results;
  results.reserve(items.size());
  try {
    pqxx::work tx(impl_->conn);
    // The cursor may pass only UIDs that are recorded: stop at the first failure.
    std::map<std::string, std::pair<uint32_t, uint32_t>> cursor;  // mailbox -> (uidvalidity, uid)
    std::set<std::string> blocked;
    for (const InboundItem& item : items) {
      try {
        RecordResult r;
        try {
          pqxx::subtransaction sub(tx, "item");
          r = RecordOne(sub, item, domain);
          sub.commit();
        } catch (const pqxx::unique_violation&) {
          // Another daemon committed the same message key (or UID) first; now it is visible.
          pqxx::subtransaction sub(tx, "item_retry");
          r = RecordOne(sub, item, domain);
          sub.commit();
        }
        results.emplace_back(r);
        if (!blocked.count(item.mailbox)) cursor[item.mailbox] = {item.uidvalidity, item.uid};
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const std::exception& e) {
        base::Error error = FromException(e, "recording " + item.mailbox + " UID " + std::to_string(item.uid));
        if (error.kind == base::ErrorKind::kTransient) throw;
        results.emplace_back(error);
        blocked.insert(item.mailbox);
      }
    }
    for (const auto& [mailbox, at] : cursor) {
      tx.exec_params(
          "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, $3) "
          "ON CONFLICT (mailbox) DO UPDATE SET last_uid = greatest(mailbox_state.last_uid, excluded.last_uid) "
          "WHERE mailbox_state.uidvalidity = excluded.uidvalidity",
          mailbox, static_cast<int64_t>(at.first), static_cast<int64_t>(at.second));
    }
    tx.commit();
  } catch (const std::exception& e) {
    return FromException(e, "recording a batch of " + std::to_string(items.size()) + " messages");
  }
  return results;
}

base::Result<std::optional<MailboxState>> Store::GetMailboxState(const std::string& mailbox) {
  try {
    pqxx::work tx(impl_->conn);
    auto r = tx.exec_params(
        "SELECT uidvalidity, last_uid, extract(epoch FROM first_contact_at)::bigint FROM mailbox_state "
        "WHERE mailbox = $1",
        mailbox);
    tx.commit();
    if (r.empty() || r[0][0].is_null()) return std::optional<MailboxState>();
    MailboxState state;
    state.uidvalidity = static_cast<uint32_t>(r[0][0].as<int64_t>());
    state.last_uid = static_cast<uint32_t>(r[0][1].as<int64_t>());
    state.first_contact = std::chrono::system_clock::time_point(std::chrono::seconds(r[0][2].as<int64_t>()));
    return std::optional<MailboxState>(state);
  } catch (const std::exception& e) {
    return FromException(e, "reading the state of mailbox " + mailbox);
  }
}

base::Status Store::ResetMailbox(const std::string& mailbox, uint32_t uidvalidity) {
  try {
    pqxx::work tx(impl_->conn);
    tx.exec_params(
        "INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES ($1, $2, 0) "
        "ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = 0",
        mailbox, static_cast<int64_t>(uidvalidity));
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return FromException(e, "resetting mailbox " + mailbox);
  }
}

base::Status Store::NoteMailboxPass(const std::string& mailbox, const std::string& error) {
  try {
    pqxx::work tx(impl_->conn);
    if (error.empty()) {
      tx.exec_params("UPDATE mailbox_state SET last_success_at = now() WHERE mailbox = $1", mailbox);
    } else {
      tx.exec_params("UPDATE mailbox_state SET last_error = $2, last_error_at = now() WHERE mailbox = $1", mailbox,
                     error);
    }
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return FromException(e, "noting the state of mailbox " + mailbox);
  }
}

base::Result<std::vector<PendingPostAction>> Store::PendingPostActions(const std::string& mailbox,
                                                                        uint32_t uidvalidity) {
  try {
    pqxx::work tx(impl_->conn);
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
    tx.commit();
    return out;
  } catch (const std::exception& e) {
    return FromException(e, "listing pending post-actions of mailbox " + mailbox);
  }
}

base::Status Store::MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                        const std::vector<uint32_t>& uids) {
  if (uids.empty()) return {};
  std::string array = "{";
  for (size_t i = 0; i < uids.size(); ++i) array += (i ? "," : "") + std::to_string(uids[i]);
  array += "}";
  try {
    pqxx::work tx(impl_->conn);
    tx.exec_params(
        "UPDATE inbound_messages SET post_action_done = true "
        "WHERE mailbox = $1 AND uidvalidity = $2 AND uid = ANY($3::bigint[])",
        mailbox, static_cast<int64_t>(uidvalidity), array);
    tx.commit();
    return {};
  } catch (const std::exception& e) {
    return FromException(e, "marking post-actions of mailbox " + mailbox);
  }
}

base::Result<bool> Store::ThreadExists(int64_t thread_id) {
  try {
    pqxx::work tx(impl_->conn);
    auto r = tx.exec_params("SELECT 1 FROM threads WHERE id = $1", thread_id);
    tx.commit();
    return !r.empty();
  } catch (const std::exception& e) {
    return FromException(e, "looking up thread " + std::to_string(thread_id));
  }
}

base::Result<std::optional<int64_t>> Store::FindThreadByMessageIds(const std::vector<std::string>& message_ids) {
  if (message_ids.empty()) return std::optional<int64_t>();
  try {
    pqxx::work tx(impl_->conn);
    for (const std::string& id : message_ids) {
      auto r = tx.exec_params(
          "SELECT p.thread_id FROM message_ids m JOIN posts p ON p.id = m.post_id "
          "WHERE m.message_id = $1 ORDER BY m.post_id LIMIT 1",
          id);
      if (!r.empty()) {
        tx.commit();
        return std::optional<int64_t>(r[0][0].as<int64_t>());
      }
    }
    tx.commit();
    return std::optional<int64_t>();
  } catch (const std::exception& e) {
    return FromException(e, "matching a thread by Message-ID");
  }
}

base::Result<bool> Store::MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                       const std::vector<std::string>& message_ids) {
  if (domain.empty() || (!outbox_id && message_ids.empty())) return false;
  try {
    pqxx::read_transaction tx(impl_->conn);
    // Every mail we send is an outbox row: a post's outbound Message-ID is carried by its answers and
    // notifications, an acknowledgement's and a rejection notice's by the row alone.
    return tx
        .exec_params1(
            "SELECT EXISTS (SELECT 1 FROM outbox WHERE (id = $1 OR message_id = ANY($2::text[])) "
            "AND split_part(recipient, '@', 2) = $3)",
            outbox_id.value_or(0), TextArray(message_ids), domain)[0]
        .as<bool>();
  } catch (const std::exception& e) {
    return FromException(e, "looking up our mail to " + domain);
  }
}

base::Result<std::optional<PostRef>> Store::FindPostByMessageId(const std::string& message_id) {
  try {
    pqxx::read_transaction tx(impl_->conn);
    auto r = tx.exec_params(
        "SELECT p.id, p.thread_id, lower(p.author_address) FROM message_ids m JOIN posts p ON p.id = m.post_id "
        "WHERE m.message_id = $1 ORDER BY m.post_id LIMIT 1",
        message_id);
    if (r.empty()) return std::optional<PostRef>();
    return std::optional<PostRef>(
        PostRef{r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<std::string>()});
  } catch (const std::exception& e) {
    return FromException(e, "looking up the post of a Message-ID");
  }
}

base::Result<int64_t> Store::CountThreadsOpenedSince(const std::string& address, int64_t seconds) {
  try {
    pqxx::work tx(impl_->conn);
    auto r = tx.exec_params1(
        "SELECT count(*) FROM threads WHERE lower(author_address) = lower($1) "
        "AND created_at > now() - make_interval(secs => $2)",
        address, seconds);
    tx.commit();
    return r[0].as<int64_t>();
  } catch (const std::exception& e) {
    return FromException(e, "counting recent threads");
  }
}

base::Result<bool> Store::HoldsMailboxLock(const std::string& mailbox) {
  try {
    pqxx::nontransaction tx(impl_->conn);
    // A bigint advisory key is stored as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
    return tx
        .exec_params1(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
            "AND granted AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = "
            "hashtextextended('mailforum mailbox ' || $1, 0))",
            mailbox)[0]
        .as<bool>();
  } catch (const std::exception& e) {
    return FromException(e, "checking the lock of mailbox " + mailbox);
  }
}

base::Result<bool> Store::TryLockMailbox(const std::string& mailbox) {
  try {
    pqxx::nontransaction tx(impl_->conn);
    return tx.exec_params1("SELECT pg_try_advisory_lock(hashtextextended('mailforum mailbox ' || $1, 0))", mailbox)[0]
        .as<bool>();
  } catch (const std::exception& e) {
    return FromException(e, "locking mailbox " + mailbox);
  }
}

base::Result<bool> Store::UnlockMailbox(const std::string& mailbox) {
  try {
    pqxx::nontransaction tx(impl_->conn);
    return tx.exec_params1("SELECT pg_advisory_unlock(hashtextextended('mailforum mailbox ' || $1, 0))", mailbox)[0]
        .as<bool>();
  } catch (const std::exception& e) {
    return FromException(e, "unlocking mailbox " + mailbox);
  }
}

}  // namespace forum
