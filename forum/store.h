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

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "forum/admin.h"
#include "forum/inbound.h"
#include "forum/model.h"

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

  // Inserts missing categories and updates the names and descriptions of
  // existing ones (by slug). Categories absent from `categories` are kept:
  // their threads still exist.
  base::Status SyncCategories(const std::vector<Category>& categories);

  // All categories, ordered by slug.
  base::Result<std::vector<Category>> ListCategories();

  // --- ingestion (see forum/inbound.h) ---

  // Records `items` (in UID order) in ONE transaction: each item's
  // inbound_messages row, its post (a new thread or an answer), every
  // Message-ID that leads to the post, its outbox rows and bounce scores, and
  // the mailbox cursor. An item whose (mailbox, uidvalidity, uid) is already
  // recorded changes nothing (already_recorded). An item whose message key is
  // already recorded is stored as kDuplicate and makes no post. A rejection
  // outbox row is queued at most once per address per day. Our Message-IDs
  // are <post.{id}.{random}@domain>.
  // An item that fails by itself (a constraint, bad data) is rolled back to
  // its savepoint and its slot holds the error; the others commit, and the
  // cursor advances only up to the last UID before the first failed item.
  // A transient error (connection lost, serialization) fails the whole call
  // and commits nothing.
  base::Result<std::vector<base::Result<RecordResult>>> RecordBatch(const std::vector<InboundItem>& items,
                                                                   const std::string& domain);

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

  // Threads opened by `address` (case-insensitive) in the last `seconds`.
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds);

  // Takes the cluster-wide lock that makes this connection the only worker
  // of `mailbox` (a PostgreSQL session advisory lock; released when this
  // Store is destroyed or its connection dies). False when another holds it.
  base::Result<bool> TryLockMailbox(const std::string& mailbox);

  // --- operations (see forum/admin.h): trace, quarantine, dry runs ---

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

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_STORE_H_
