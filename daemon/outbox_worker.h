// OutboxWorker: the outbox table → SMTP (DESIGN.md §1, §2 item 4, §4).
//
// Each pass claims a batch of due rows (forum::Store::ClaimDue: FOR UPDATE
// SKIP LOCKED and a lease, so any number of workers and daemons share one
// outbox and a row is claimed by one of them at a time), then for each row:
// a recipient whose bounce score reaches the threshold is not mailed (the row
// becomes 'suppressed'); automatic mail (acknowledgements, notifications,
// rejection notices — never answers, which people wrote) to an address or
// domain that the loop circuit breaker paused (forum::LoopBreakerLimits) is
// held back: the row stays pending, due when the pause ends, logged once per
// pause and counted (held_by_loop_breaker()); otherwise the mail is composed once (ComposeMail,
// saved with the row, so every retry sends the same bytes with the same
// Message-ID), sent through ONE reused mail::SmtpTransport connection, and the
// row marked. A 5xx reply fails the row for good; a transient failure (4xx, a
// lost or refused connection) retries it after RetryDelay() until the row is
// older than max_age, when it fails. A sender killed between the server's
// acceptance and the commit of 'sent' sends that row again after the lease:
// delivery is at least once.
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
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/result.h"
#include "forum/outbox.h"
#include "mail/composer.h"
#include "mail/smtp_transport.h"

namespace forum {
class Store;
}

namespace mailforumd {

// What the outbox worker needs from the configuration.
struct OutboxOptions {
  std::string dsn;  // PostgreSQL
  mail::SmtpOptions smtp;
  // Composing (see ComposeMail).
  std::string from;               // smtp.from: "Acme Help <help@example.com>"
  std::string reply_to_template;  // smtp.reply_to: "help+{token}@example.com"
  std::string reply_key;          // signs reply tokens and VERP addresses
  std::string bounce_template;    // as mail::VerpAddress takes it: "bounces+{id}@example.com"
  std::string instance_name;      // "Acme Help"
  std::string base_url;           // "https://help.example.com": thread links are base_url/t/ID
  std::string domain;             // instance.domain: List-Id is <category>.<domain>
  std::string unsubscribe_url;    // List-Unsubscribe of answers and notifications; empty: none
  // Delivery.
  int batch = 50;                                                 // rows claimed at once
  std::chrono::milliseconds lease{std::chrono::minutes(10)};      // how long a claim lasts
  std::chrono::milliseconds max_age{std::chrono::hours(3 * 24)};  // transient failures give up after this
  double suppress_score = 3.0;  // bounce score that stops mail to an address
  forum::LoopBreakerLimits loop_breaker;  // when automatic mail to an address or domain pauses
  std::chrono::milliseconds retry_base{std::chrono::minutes(1)};     // first retry delay (RetryDelay)
  std::chrono::milliseconds retry_cap{std::chrono::hours(1)};        // longest retry delay
  std::chrono::milliseconds poll_interval{std::chrono::seconds(5)};  // wait between passes without Notify()
  std::chrono::milliseconds max_backoff{
      std::chrono::minutes(5)};  // after database or SMTP connection failures
};

// What one pass (or RunOnce) did, for logs and tests.
struct OutboxPassStats {
  int sent = 0;
  int retried = 0;     // transient failure: tried again later
  int failed = 0;      // permanent failure, or past max_age
  int suppressed = 0;  // the recipient's bounce score reached the threshold
  int held = 0;        // automatic mail held back by the loop circuit breaker
};

// The mail of claimed row `row`, as ComposeMessage takes it: From, Reply-To
// with the thread's signed token (none for rejections), the subject ("Re: "
// the thread's subject, except the notification of a new thread, which
// carries the subject itself), the threading headers, the List-* headers
// (answers and notifications), the VERP return path and the row's queue time
// as Date, so that composing the row again gives the same bytes. Answers to
// the asker and acknowledgements are In-Reply-To the Message-ID of the
// question the asker sent (their client shows them under it); other mail
// about a thread's later posts is In-Reply-To our Message-ID of its first
// post (what watchers received). Pure.
mail::OutboundMail ComposeMail(const forum::ClaimedMail& row, const OutboxOptions& options);

// The delay before try `attempts` + 1 after a transient failure, without
// jitter: retry_base × 2^(attempts - 1), at most retry_cap.
std::chrono::milliseconds RetryDelay(int attempts, const OutboxOptions& options);

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
  uint64_t held_by_loop_breaker() const { return held_by_loop_breaker_.load(std::memory_order_relaxed); }

 private:
  // Claims and handles one batch; `claimed` is set to the number of rows claimed.
  base::Status Pass(OutboxPassStats& stats, size_t& claimed);
  base::Status Handle(const forum::ClaimedMail& row, OutboxPassStats& stats);
  // Marks `row` after a transient failure: retry later, or failed when too old.
  base::Status Retry(const forum::ClaimedMail& row, const std::string& error, std::optional<int> reply_code,
                     OutboxPassStats& stats);
  // Holds `row` back when it is automatic mail to a recipient the loop circuit
  // breaker paused; `held` says whether it did.
  base::Status HoldIfLooping(const forum::ClaimedMail& row, OutboxPassStats& stats, bool& held);
  // Sleeps up to `d` or until Notify()/Stop(); returns false when stopped.
  bool Wait(std::chrono::milliseconds d);

  OutboxOptions options_;
  std::unique_ptr<forum::Store> store_;
  std::unique_ptr<mail::SmtpTransport> smtp_;
  // Set when the SMTP server cannot be reached: the rest of the batch is rescheduled without trying.
  std::optional<base::Error> connection_error_;
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> held_by_loop_breaker_{0};
  // Recipient → when its logged pause ends: each pause is logged once (Run's thread only).
  std::map<std::string, std::chrono::steady_clock::time_point> pause_logged_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool notified_ = false;  // guarded by mutex_
};

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_OUTBOX_WORKER_H_
