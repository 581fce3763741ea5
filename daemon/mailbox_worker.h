// MailboxWorker: one IMAP mailbox → the forum, exactly once (DESIGN.md §1–§2).
//
// The worker takes the mailbox's cluster-wide lock (only one daemon works a
// mailbox; another takes over within seconds when the owner dies), then runs
// passes (engine/mailbox_pass.h: the pass's logic, through adapters of its
// ports to this worker's ImapSession and a Store borrowed from the daemon's
// MailboxDatabase for the pass) and between passes waits in IDLE (or polls).
// The lock lives on the MailboxDatabase's lock connection.
//
// Every failure is logged with the mailbox's name, gives the lock back and
// is retried with exponential backoff and jitter; one failing mailbox never
// affects another (each worker has its own thread and IMAP session).
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
#include "daemon/heartbeat.h"
#include "daemon/mailbox_database.h"
#include "engine/mailbox_pass.h"
#include "mail/imap_session.h"

namespace mailforumd {

// The pass's options (engine/mailbox_pass.h) and how the worker reaches and waits for the mailbox.
struct WorkerOptions : engine::MailboxPassOptions {
  mail::ImapOptions imap;
  bool idle = true;
  std::chrono::milliseconds poll_interval{std::chrono::seconds(60)};
  std::string dsn;  // PostgreSQL
  // The daemon's mailbox locks and pooled connections, shared by its workers;
  // null: the worker makes its own (one lock connection, a pool of one).
  std::shared_ptr<MailboxDatabase> database;
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  // Beaten (by Run) at each turn and IDLE wake, and before each wait with its
  // length (daemon/heartbeat.h); up while the mailbox connects and passes.
  // Null: none. Outlives the worker.
  Heartbeat* heartbeat = nullptr;
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

  // New rules, categories, limits and other settings of the pass (a
  // reload): the next pass runs with `pass`, the one in hand finishes with
  // what it started with; the session stays. The mailbox (pass.pipeline.mailbox)
  // and its folders must be the ones the worker was made with. Safe from any thread.
  void Update(engine::MailboxPassOptions pass);

  const std::string& name() const { return options_.pipeline.mailbox; }

 private:
  struct Connection;
  base::Status Connect(Connection& c);
  base::Status Pass(Connection& c);
  // What a wait for a pooled connection calls about every second: beats the heartbeat.
  std::function<void()> WhileWaiting() const;
  // Gives the lock back (after a failure or at the end).
  void Unlock(Connection& c);
  // Records the pass's outcome for `mailforumctl status` (best effort).
  void NotePass(const std::string& error);
  // Sleeps up to `d`; returns false when stopped.
  bool Wait(std::chrono::milliseconds d);

  WorkerOptions options_;
  std::shared_ptr<MailboxDatabase> database_;
  std::atomic<bool> stopped_{false};
  bool lock_busy_ = false;         // the last Connect found the mailbox locked by another daemon
  bool connected_before_ = false;  // an IMAP session was opened before: the next is a reconnect
  std::mutex mutex_;
  std::condition_variable wake_;
  mail::ImapSession* idling_ = nullptr;  // guarded by mutex_: the session to interrupt on Stop()
  // guarded by mutex_: the settings of the next pass, an immutable snapshot (Update swaps it).
  std::shared_ptr<const engine::MailboxPassOptions> pass_;
};

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_MAILBOX_WORKER_H_
