// MailboxWorker: one IMAP mailbox → the forum, exactly once (DESIGN.md §1–§2).
//
// Each pass: take the mailbox's cluster-wide lock (only one daemon works a
// mailbox; another takes over within seconds when the owner dies), SELECT,
// handle a new UIDVALIDITY by rescanning (deduplicated by message key),
// finish the post-actions that a crash left undone, then fetch new mail in
// batches: decide (daemon/pipeline.h), record each batch in ONE transaction,
// and only after the commit do the post-action on the server (\Seen, move or
// delete; quarantined mail moves to the quarantine folder). Between passes it
// waits in IDLE (or polls).
//
// Size first: each batch's sizes are fetched before its bytes. A batch holds
// at most batch_size messages and max_batch_bytes bytes, so memory stays
// bounded whatever the mailbox holds; of a message over max_message_size
// only the first quarantine_keep_bytes are fetched, and it is quarantined.
//
// Crash-loop breaker: before a message is decided, its UID is noted in the
// database (Store::NoteWorking). When a pass finds the note of another
// process on a message that was never recorded, that process died while
// deciding it (a crash, or a kill of a hung daemon); after two such deaths
// the message is quarantined unparsed and the mailbox goes on.
//
// Every failure is logged with the mailbox's name
// and retried with exponential backoff and jitter; one failing mailbox never
// affects another (each worker has its own thread, IMAP session and
// database connection).
//
// Thread-safety: Run/RunOnce on one thread; Stop from any thread.
#ifndef MAILFORUM_DAEMON_MAILBOX_WORKER_H_
#define MAILFORUM_DAEMON_MAILBOX_WORKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "daemon/pipeline.h"
#include "mail/imap_session.h"

namespace mailforumd {

struct WorkerOptions {
  mail::ImapOptions imap;
  std::string folder = "INBOX";
  bool idle = true;
  std::chrono::milliseconds poll_interval{std::chrono::seconds(60)};
  enum class After { kSeen, kMove, kDelete } after = After::kSeen;
  std::string after_folder;           // kMove
  std::string quarantine_folder = "Quarantine";
  std::chrono::milliseconds import_max_age{std::chrono::hours(7 * 24)};
  PipelineConfig pipeline;            // its `mailbox` names this worker
  std::string dsn;                    // PostgreSQL
  std::string domain;                 // of our Message-IDs
  size_t batch_size = 100;            // at most this many messages per fetch and transaction
  uint64_t max_batch_bytes = 32ull << 20;  // and at most this many bytes (one larger message goes alone)
  // Of a message over pipeline.max_message_size only this many bytes are
  // fetched, and kept in the quarantine.
  uint64_t quarantine_keep_bytes = 1ull << 20;
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  // Called (on the worker's thread) after a batch that queued outbound mail
  // is committed, e.g. to wake the outbox worker. Empty: nothing.
  std::function<void()> on_mail_queued;
  // The public reply address of a thread: after a batch that posted, threads
  // without one get it (Store::FillReplyAddresses; one cheap query when none
  // is missing). Empty: not filled here.
  std::function<std::string(int64_t thread_id)> reply_address_for;
  // Test hook, called on the worker's thread just before each message is
  // decided (a test makes it hang or crash to prove the crash-loop breaker).
  // Only test programs set it; no configuration can.
  std::function<void(std::string_view raw)> before_decide;
};

class MailboxWorker {
 public:
  explicit MailboxWorker(WorkerOptions options);
  ~MailboxWorker();
  MailboxWorker(const MailboxWorker&) = delete;
  MailboxWorker& operator=(const MailboxWorker&) = delete;

  // Works the mailbox until Stop(). Never throws; errors are logged and retried.
  void Run();

  // One pass over what is pending (for --once and tests): connect, lock,
  // ingest everything new, disconnect. Errors: the first failure, with the
  // mailbox's name; kTransient when another daemon holds the mailbox.
  base::Status RunOnce();

  // Ends Run() soon: wakes a wait or an IDLE. Safe from any thread or a signal-handling thread.
  void Stop();

  const std::string& name() const { return options_.pipeline.mailbox; }

 private:
  struct Connection;
  base::Status Connect(Connection& c);
  base::Status Pass(Connection& c);
  base::Status ApplyPostActions(Connection& c, uint32_t uidvalidity, const std::vector<uint32_t>& normal,
                                const std::vector<uint32_t>& quarantined, const std::vector<uint32_t>& untouched);
  // Sleeps up to `d`; returns false when stopped.
  bool Wait(std::chrono::milliseconds d);

  WorkerOptions options_;
  std::atomic<bool> stopped_{false};
  bool lock_busy_ = false;  // the last Connect found the mailbox locked by another daemon
  std::mutex mutex_;
  std::condition_variable wake_;
  mail::ImapSession* idling_ = nullptr;  // guarded by mutex_: the session to interrupt on Stop()
};

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_MAILBOX_WORKER_H_
