// Store: the forum's PostgreSQL database. libpqxx lives only in forum/.
//
// One Store owns one database connection: use one Store per thread (Store is
// not thread-safe). Every method reports failures as base::Error:
// kTransient for lost connections, timeouts, serialization failures and
// deadlocks (retry with a new Store or later), kConfig for a schema that does
// not match this build, kInternal for anything else. No libpqxx exception
// crosses this header. The DSN may hold a password: it never appears in errors.
#ifndef MAILFORUM_FORUM_STORE_H_
#define MAILFORUM_FORUM_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "forum/admin.h"
#include "forum/inbound.h"
#include "forum/model.h"
#include "forum/outbox.h"
#include "forum/subscriptions.h"

namespace forum {

class Store {
 public:
  // Connects to the database named by `dsn` (a libpq connection string).
  static base::Result<std::unique_ptr<Store>> Connect(const std::string& dsn);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The schema revision of the database: 0 when mailforum's schema is absent.
  base::Result<int> SchemaVersion();

  // Applies every pending migration, each in its own transaction, under an
  // advisory lock so that concurrent callers apply each migration once.
  // Returns the versions applied (empty when the schema was current).
  // Fails with kConfig when the database is newer than this build.
  base::Result<std::vector<int>> Migrate();

  // Ok when the database schema is exactly RequiredSchemaVersion(); otherwise a
  // kConfig error that says which command fixes it.
  base::Status CheckSchema();

  // Inserts missing categories and updates the names, descriptions and
  // visibility (Category::is_public) of existing ones (by slug). Categories
  // absent from `categories` are kept: their threads still exist.
  base::Status SyncCategories(const std::vector<Category>& categories);

  // All categories, ordered by slug.
  base::Result<std::vector<Category>> ListCategories();

  // --- the web's search index (web.search_language) ---

  // Makes `regconfig` (a PostgreSQL text-search configuration such as
  // "simple" or "english", optionally schema-qualified) the instance's
  // configuration. When it differs from the current one, every post and
  // thread is re-indexed with it in ONE transaction that holds off writers
  // of posts and threads until it commits (readers go on); this takes a
  // while on a large forum, and nothing when the configuration is unchanged.
  // Errors: kConfig naming `regconfig` when PostgreSQL has no such
  // configuration; otherwise as every Store method.
  base::Status SetSearchLanguage(const std::string& regconfig);

  // Gives up to `limit` threads that have no public reply address yet (new
  // threads) the address `address_for(thread_id)` returns, oldest first, in
  // ONE transaction, skipping threads another caller is filling at the same
  // time; returns how many were filled. Cheap when there are none (a partial
  // index holds only threads without one). `address_for` must not throw; an
  // empty address leaves that thread for a later call.
  base::Result<int> FillReplyAddresses(const std::function<std::string(int64_t thread_id)>& address_for,
                                       int limit);

  // --- ingestion (see forum/inbound.h) ---

  // Records `items` (in UID order) in ONE transaction: each item's
  // inbound_messages row, its post (a new thread or an answer), every
  // Message-ID that leads to the post, its outbox rows, the outbox row a
  // bounce to our VERP return path names and the bounce score of that row's
  // recipient alone (see InboundItem::bounced_outbox_id; a bounce that names
  // no row of ours changes no score), the thread update its author commanded
  // (InboundItem::thread_update; an accepted post outside the thread is not
  // set), and the mailbox cursor. An item whose (mailbox, uidvalidity, uid)
  // is already recorded changes nothing (already_recorded). An item whose
  // message key is already recorded is stored as kDuplicate and makes no
  // post. A rejection outbox row is queued at most once per address per day;
  // an acknowledgement is not queued when one to the same address was queued
  // within its OutboxDraft::min_interval (checked under a per-address lock,
  // so concurrent daemons queue one). Our Message-IDs are
  // <post.{id}.{random}@domain>. An item that fails by itself (a constraint,
  // bad data) is rolled back to its savepoint and its slot holds the error;
  // the others commit, and the cursor advances only up to the last UID
  // before the first failed item. A transient error (connection lost,
  // serialization) fails the whole call and commits nothing.
  //
  // With `reply_address_for`, each new thread is inserted with the public
  // reply address it returns for the thread's id (the ids are taken ahead,
  // one round trip for the batch): the row is written once. Without, the
  // thread waits for FillReplyAddresses. It must not throw.
  base::Result<std::vector<base::Result<RecordResult>>> RecordBatch(
      const std::vector<InboundItem>& items, const std::string& domain,
      const std::function<std::string(int64_t thread_id)>& reply_address_for = {});

  // The search vectors of `texts` (post bodies), in order, as RecordBatch
  // would make them, in one round trip and no transaction: made ahead, they
  // take the text search out of the recording transaction (PostDraft::search).
  base::Result<std::vector<SearchVector>> MakeSearchVectors(const std::vector<std::string>& texts);

  // The state of `mailbox`, or nullopt before the first contact.
  base::Result<std::optional<MailboxState>> GetMailboxState(const std::string& mailbox);

  // First contact, or a new UIDVALIDITY: the cursor restarts at 0 under `uidvalidity`.
  base::Status ResetMailbox(const std::string& mailbox, uint32_t uidvalidity);

  // Notes the outcome of the last pass over `mailbox` (shown by status and health checks).
  // `error` empty means success.
  base::Status NoteMailboxPass(const std::string& mailbox, const std::string& error);

  // Committed messages of `mailbox` under `uidvalidity` whose post-action
  // (\Seen / move / delete / quarantine move) is not yet done, in UID order.
  base::Result<std::vector<PendingPostAction>> PendingPostActions(const std::string& mailbox,
                                                                   uint32_t uidvalidity);

  // Records that the post-action of these UIDs is done.
  base::Status MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                   const std::vector<uint32_t>& uids);

  // Whether a thread with this id exists.
  base::Result<bool> ThreadExists(int64_t thread_id);

  // The thread of the first of `message_ids` (in the order given) that is
  // known — inbound or outbound — or nullopt.
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& message_ids);
  // Each of `message_ids` that is known, with the thread FindThreadByMessageIds
  // would answer for it alone, in one round trip (a batch's lookups at once).
  base::Result<std::map<std::string, int64_t>> FindThreadsOfMessageIds(
      const std::vector<std::string>& message_ids);

  // The post that `message_id` (inbound or outbound, without angle brackets)
  // belongs to, or nullopt when none (the first post when several).
  base::Result<std::optional<PostRef>> FindPostByMessageId(const std::string& message_id);

  // Whether an address of `domain` (lower-case) was sent outbox row
  // `outbox_id` or a row carrying one of `message_ids` (without angle
  // brackets): machine mail from that domain that names them answers our mail.
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids);

  // Threads opened by `address` (case-insensitive) in the last `seconds`.
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds);
  // CountThreadsOpenedSince for each of `addresses`, in one round trip; keyed
  // by lower-case address, every address present (0 when none).
  base::Result<std::map<std::string, int64_t>> CountThreadsOpenedSinceEach(
      const std::vector<std::string>& addresses, int64_t seconds);

  // Without a round trip: kTransient when the server has already closed this
  // connection (a restart, an ended session). A connection that may have
  // been idle across such a break is checked before use and replaced when
  // closed (see ThrowIfClosed in store_internal.h for why). The lock
  // methods below check it themselves.
  base::Status CheckConnection();

  // Whether this connection sent or received a message so large that libpq
  // keeps buffers that size until it is closed (forum/connection.h): a pool
  // closes such a Store rather than keep it. No round trip.
  bool KeepsLargeBuffers() const;

  // Takes the cluster-wide lock that makes this connection the only worker
  // of `mailbox` (a PostgreSQL session advisory lock; released when this
  // Store is destroyed or its connection dies). False when another holds it.
  base::Result<bool> TryLockMailbox(const std::string& mailbox);
  // Gives one TryLockMailbox of `mailbox` back (the lock is counted per
  // taking); false when this connection did not hold it.
  base::Result<bool> UnlockMailbox(const std::string& mailbox);

  // The server process of this connection's session (pg_backend_pid), in
  // one cheap round trip. libpqxx 6 silently opens a new session after a
  // lost connection, and a new session holds no lock: a changed id means
  // the locks taken before are gone (daemon/mailbox_database.h checks it).
  base::Result<int> SessionId();

  // --- the crash-loop breaker (progress_store.cc) ---

  // Notes that the worker `owner` (a random id per process) of `mailbox` is
  // about to decide message `uid` — or, with uid 0, that it is deciding
  // nothing. One round trip that does not wait for the WAL to reach disk:
  // the note must only survive the death of this process, not of the
  // database server.
  base::Status NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid, const std::string& owner);

  // What processes that died left behind. When `mailbox`'s note under
  // `uidvalidity` names a message that was never recorded and was written by
  // another owner than `owner`, that owner died while deciding it: the death
  // is counted for that message (the count restarts at 1 when the message
  // differs from the one that died last) and the note is taken over by
  // `owner`, so it is counted once. Returns the message that died last with
  // its count of deaths, while it is not recorded; nullopt otherwise.
  base::Result<std::optional<CrashedWork>> TakeCrashedWork(const std::string& mailbox, uint32_t uidvalidity,
                                                           const std::string& owner);

  // --- operations (see forum/admin.h): trace, quarantine, dry runs ---
  // A row whose classification or outbox kind this build does not know is a
  // kInternal error that names the row.

  // Makes every later transaction of this Store read-only (PostgreSQL
  // enforces it), so a dry run provably changes nothing. Cannot be undone.
  base::Status MakeReadOnly();

  // Everything recorded about `message_id` (without angle brackets): its
  // inbound rows with their posts and outbound mail, and, when it is one of
  // our own Message-IDs, that post and the outbox rows carrying it.
  base::Result<MessageTrace> TraceMessage(const std::string& message_id);

  // The last `limit` inbound messages from `address` (case-insensitive) with
  // what they led to, its bounce score, and the last `limit` outbox rows to it.
  base::Result<AddressTrace> TraceAddress(const std::string& address, int limit);

  // Every quarantined inbound message, oldest first.
  base::Result<std::vector<InboundRecord>> ListQuarantined();

  // The inbound message with this id and its raw bytes, or nullopt when there is none.
  base::Result<std::optional<StoredInbound>> GetInbound(int64_t inbound_id);

  // The inbound message that holds `message_key` (the one RecordBatch would
  // make a new copy a duplicate of), or nullopt.
  base::Result<std::optional<InboundRecord>> FindInboundByMessageKey(const std::string& message_key);

  // The thread with this id, or nullopt.
  base::Result<std::optional<ThreadSummary>> FindThread(int64_t thread_id);

  // Whether a rejection notice to `address` was already queued today (so
  // RecordBatch would queue none).
  base::Result<bool> RejectionNoticeSentToday(const std::string& address);

  // Records a new decision for the quarantined inbound message `inbound_id`
  // (`mailforumctl quarantine retry`), in ONE transaction: the row keeps its
  // id, mailbox, UIDVALIDITY, UID, received_at and post-action state, and
  // takes `decided`'s identity, classification, outcome, rule and reason
  // (followed by "(retried from quarantine; was: <old reason>)"). Its post,
  // Message-IDs, outbox rows and bounce scores are written exactly as
  // RecordBatch writes them; when another message already holds `decided`'s
  // message key the row becomes kDuplicate and makes nothing. The raw bytes
  // are kept only while the outcome stays kQuarantined. `decided.mailbox`,
  // `uidvalidity` and `uid` are ignored.
  // Errors: kPermanent when there is no such row or it is not quarantined
  // (e.g. another retry came first); otherwise as RecordBatch.
  base::Result<RecordResult> ReprocessInbound(int64_t inbound_id, const InboundItem& decided,
                                              const std::string& domain);

  // --- outbox (see forum/outbox.h): the queue the outbox worker sends ---
  // Rows are claimed with a lease, never held by an open transaction, so a
  // sender that dies leaves its rows to come back when the lease ends:
  // delivery is at least once. The Mark* methods change a row only while it
  // is 'pending' (a row another worker finished stays as it is).

  // The people of thread `thread_id` (for the pipeline's fan-out), or
  // nullopt when there is no such thread.
  base::Result<std::optional<ThreadAudience>> FindThreadAudience(int64_t thread_id);

  // Claims up to `limit` due 'pending' rows, oldest due first, skipping rows
  // another worker is claiming (FOR UPDATE SKIP LOCKED): in ONE short
  // transaction each one's next_attempt_at moves `lease` ahead and its
  // attempts count grows by one. Returns them with what composing needs.
  base::Result<std::vector<ClaimedMail>> ClaimDue(int limit, std::chrono::milliseconds lease);

  // How many rows are 'pending' (due now or waiting for a retry): the
  // outbox backlog that mailforumd's STATUS= shows.
  base::Result<int64_t> PendingOutboxRows();

  // Saves the composed message of row `id`, so that retries send these bytes.
  base::Status SavePayload(int64_t id, const std::string& payload);

  // SavePayload for a batch of rows (id, message) in ONE statement.
  base::Status SavePayloads(const std::vector<std::pair<int64_t, std::string>>& payloads);

  // Records the fates of a batch of claimed rows (see OutboxOutcome) in ONE
  // statement and ONE transaction: one durable commit per batch, never one
  // per mail. A row no longer 'pending' (another worker finished it) stays
  // as it is. The single-row calls below are this with one outcome.
  base::Status RecordOutcomes(const std::vector<OutboxOutcome>& outcomes);

  // RecordOutcomes(outcomes), then ClaimDue(limit, lease), in ONE
  // transaction: a batch's fates and the next batch's claims cost one
  // durable commit.
  base::Result<std::vector<ClaimedMail>> RecordOutcomesAndClaim(const std::vector<OutboxOutcome>& outcomes,
                                                                int limit, std::chrono::milliseconds lease);

  // Row `id` was accepted by the SMTP server.
  base::Status MarkSent(int64_t id);

  // Row `id` failed for now (`error`; the server's `reply_code` when it gave
  // one): tried again `retry_in` from now (the database's clock, which
  // every daemon shares).
  base::Status MarkRetry(int64_t id, const std::string& error, std::optional<int> reply_code,
                         std::chrono::milliseconds retry_in);

  // Row `id` failed for good (a 5xx reply, a message that cannot be sent, or
  // past its max age): never tried again unless requeued (RetryOutbox).
  base::Status MarkFailed(int64_t id, const std::string& error, std::optional<int> reply_code);

  // Row `id` is not sent because its recipient is suppressed (`why`); the
  // recipient's suppressions row notes since when.
  base::Status MarkSuppressed(int64_t id, const std::string& why);

  // Gives claimed row `id` back untried (a worker that stops): due now, its
  // attempt not counted.
  base::Status Release(int64_t id);

  // Claimed row `id` is held back untried (the loop circuit breaker): due
  // `delay` from now, its attempt not counted, `why` noted as its last error.
  base::Status Defer(int64_t id, const std::string& why, std::chrono::milliseconds delay);

  // How much longer automatic mail to `address` (lower-case) is paused by
  // the loop circuit breaker (see LoopBreakerLimits), by the database's
  // clock, or nullopt when it is not.
  base::Result<std::optional<std::chrono::milliseconds>> LoopPause(const std::string& address,
                                                                  const LoopBreakerLimits& limits);

  // Whether the bounce score of `address` (case-insensitive) reaches `threshold`.
  base::Result<bool> IsSuppressed(const std::string& address, double threshold);

  // The outbox rows whose status is one of `statuses` (all rows when empty),
  // newest first, at most `limit`.
  base::Result<std::vector<OutboxRecord>> ListOutbox(const std::vector<std::string>& statuses, int limit);

  // Requeues row `id` (`mailforumctl outbox retry`): 'pending', due now,
  // attempts 0, its max age counted from now; its Message-ID and saved
  // message stay. Errors: kPermanent when there is no such row or it is
  // still pending.
  base::Status RetryOutbox(int64_t id);

  // A bounce names row `outbox_id` (its VERP return path): a 'sent' or
  // 'pending' row becomes 'bounced' with `reason`, and its recipient's bounce
  // score grows (kHardBounceScore when `hard`, else kSoftBounceScore).
  // Nothing happens for an unknown row or one already finished otherwise.
  base::Status MarkBounced(int64_t outbox_id, const std::string& reason, bool hard);

  // Every address with a bounce score, highest score first.
  base::Result<std::vector<SuppressionRecord>> ListSuppressions();

  // Forgets the bounce score of `address` (case-insensitive), so mail to it
  // is sent again. False when it had none.
  base::Result<bool> ClearSuppression(const std::string& address);

  // Row `id` is not sent because its recipient unsubscribed from what it is
  // about (ClaimedMail::unsubscribed; `why`): 'suppressed', without touching
  // the recipient's bounce score.
  base::Status MarkUnsubscribed(int64_t id, const std::string& why);

  // --- unsubscriptions (see forum/subscriptions.h; subscription_store.cc) ---

  // `address` (lower-cased) unsubscribes from `scope`; an existing
  // unsubscription stays as it was. Errors: kInternal for a malformed scope.
  base::Status Unsubscribe(const std::string& address, const std::string& scope, UnsubscribeSource source);

  // The unsubscriptions of `address` (case-insensitive), newest first; every
  // address's when `address` is empty (at most `limit`).
  base::Result<std::vector<Unsubscription>> ListUnsubscriptions(const std::string& address, int limit);

  // Deletes every unsubscription of `address` (case-insensitive): it gets all
  // its mail again. Returns how many there were.
  base::Result<int64_t> ClearUnsubscriptions(const std::string& address);

  // The outbox row an unsubscribe token names, or nullopt when there is none.
  base::Result<std::optional<UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_STORE_H_
