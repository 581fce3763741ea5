// OutboxWorker: the outbox table → SMTP (DESIGN.md §1, §2 item 4, §4): a
// thread that runs the engine's delivery passes (engine/outbox_delivery.h:
// claims, suppression, the loop breaker, composing once, retries, leases)
// on its own PostgreSQL connection and ONE reused mail::SmtpTransport.
//
// Between passes it waits for Notify() (the mailbox workers queued mail) or
// for poll_interval; database and connection failures are logged and retried
// with exponential backoff and jitter.
//
// Thread-safety: Run/RunOnce on one thread; Notify and Stop from any thread.
#ifndef MAILFORUM_DAEMON_OUTBOX_WORKER_H_
#define MAILFORUM_DAEMON_OUTBOX_WORKER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "daemon/heartbeat.h"
#include "engine/outbox_delivery.h"
#include "mail/smtp_transport.h"

namespace forum {
class Store;
}

namespace mailforumd {

// What the outbox worker needs from the configuration: the delivery's
// options and how it reaches the database and the SMTP server.
struct OutboxOptions : engine::DeliveryOptions {
  std::string dsn;  // PostgreSQL
  mail::SmtpOptions smtp;
  std::chrono::milliseconds poll_interval{std::chrono::seconds(5)};  // wait between passes without Notify()
  std::chrono::milliseconds max_backoff{
      std::chrono::minutes(5)};  // after database or SMTP connection failures
  // Beaten (by Run) at each turn and send, and before each wait with its
  // length (daemon/heartbeat.h); set up while the database and SMTP work.
  // Null: none. Outlives the worker.
  Heartbeat* heartbeat = nullptr;
};

using engine::ComposeMail;
using engine::OutboxPassStats;
using engine::RetryDelay;

class OutboxWorker {
 public:
  explicit OutboxWorker(OutboxOptions options);
  ~OutboxWorker();
  OutboxWorker(const OutboxWorker&) = delete;
  OutboxWorker& operator=(const OutboxWorker&) = delete;

  // Sends due mail until Stop(). Never throws; errors are logged and retried.
  void Run();

  // Sends what is due now (for --once and tests): claims batches until none
  // is full, then disconnects. Mail that failed transiently waits for its
  // retry time. Errors: the database's, or the SMTP connection's when no mail
  // could be handed over (the rows stay queued).
  base::Result<OutboxPassStats> RunOnce();

  // Wakes Run() to look for due mail now. Safe from any thread.
  void Notify();

  // Ends Run() soon: unsent rows of the current batch are released. Safe from any thread.
  void Stop();

  // How many times this worker held a row back for the loop circuit breaker
  // (a metric; a row held again after its pause counts again). Safe from any thread.
  uint64_t held_by_loop_breaker() const { return delivery_.held_by_loop_breaker(); }

  // The 'pending' rows after Run's last pass (Store::PendingOutboxRows); -1
  // before the first, or when it could not count. Safe from any thread.
  int64_t backlog() const { return backlog_.load(std::memory_order_relaxed); }

 private:
  // Claims and handles one batch; `claimed` is set to the number of rows claimed.
  base::Status Pass(OutboxPassStats& stats, size_t& claimed);
  // Gives back the batch the last pass claimed ahead (OutboxDelivery::ReleaseClaimed).
  base::Status ReleaseClaimed();
  // Sleeps up to `d` or until Notify()/Stop(); returns false when stopped.
  bool Wait(std::chrono::milliseconds d);
  // Beats options_.heartbeat, when there is one.
  void Beat(std::chrono::milliseconds next_within = std::chrono::milliseconds(0));

  OutboxOptions options_;
  std::unique_ptr<forum::Store> store_;
  std::unique_ptr<mail::SmtpTransport> smtp_;
  engine::SteadyClock clock_;
  engine::OutboxDelivery delivery_{options_, clock_};
  std::atomic<bool> stopped_{false};
  std::atomic<int64_t> backlog_{-1};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool notified_ = false;  // guarded by mutex_
};

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_OUTBOX_WORKER_H_
