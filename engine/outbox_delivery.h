// Outbox delivery: due rows of the outbox → the mailer, at least once, each
// mail with one stable Message-ID (DESIGN.md §1, §2 item 4, §4), written
// against the ports (engine/ports.h): no threads, no sockets.
//
// A pass claims a batch of due rows (OutboxQueue::ClaimDue: a lease, so any
// number of workers share one outbox), then for each row: a recipient whose
// bounce score reaches the threshold, or who unsubscribed from what the row
// is about (forum/subscriptions.h), is not mailed (the row becomes
// 'suppressed' with the reason); automatic mail (acknowledgements, notifications, rejection
// notices — never answers, which people wrote) to an address or domain that
// the loop circuit breaker paused is held back: the row stays pending, due
// when the pause ends, logged once per pause and counted; otherwise the mail
// is composed once (ComposeMail; the batch's new messages are saved with
// their rows in one statement before any is sent, so every retry sends the
// same bytes with the same Message-ID) and sent through the one Mailer. The
// batch's outcomes are recorded in ONE statement and one commit
// (OutboxQueue::RecordOutcomes), never a commit per mail. While a full batch
// is sent, a second thread claims the next batch, in one transaction with
// the outcomes of the batch before (RecordOutcomesAndClaim): the database's
// work overlaps the SMTP server's, and a full batch's outcomes wait for the
// next batch's claim (the last batch's, or a batch released, stopped or cut
// by a broken connection, are recorded at its end, with the rows claimed
// ahead given back). A 5xx reply fails the row for good; a transient
// failure (4xx, a lost or refused connection) retries it after RetryDelay() until the row is older than
// max_age, when it fails. A failure without a reply (the connection broke) reschedules the rest of the batch
// without trying. Near the end of the lease the rest of the batch is released rather than sent: another
// worker may claim it. A sender killed between the server's acceptance and the commit of its batch's
// outcomes (at most two batches: one sent, one being sent) sends those rows again after the lease, with the
// same bytes and Message-IDs: delivery is at least once.
//
// Thread-safety: one OutboxDelivery on one thread; held_by_loop_breaker() from any. During a Pass the
// queue is called from a thread of the pass's own while the caller's thread sends, never from both at once.
#ifndef MAILFORUM_ENGINE_OUTBOX_DELIVERY_H_
#define MAILFORUM_ENGINE_OUTBOX_DELIVERY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/ports.h"
#include "forum/outbox.h"
#include "mail/composer.h"

namespace engine {

// What delivery needs from the configuration.
struct DeliveryOptions {
  // Composing (see ComposeMail).
  std::string from;               // smtp.from: "Acme Help <help@example.com>"
  std::string reply_to_template;  // smtp.reply_to: "help+{token}@example.com"
  std::string reply_key;          // signs reply tokens and VERP addresses
  std::string bounce_template;    // as mail::VerpAddress takes it: "bounces+{id}@example.com"
  std::string instance_name;      // "Acme Help"
  std::string base_url;           // "https://help.example.com": thread links are base_url/t/ID
  std::string domain;             // instance.domain: List-Id is <category>.<domain>
  // Answers, notifications and acknowledgements carry List-Unsubscribe with
  // the recipient's signed token (mail/unsubscribe_token.h) for what the mail
  // is about (forum::ScopeOfMail): <unsubscribe_base_url/unsubscribe/TOKEN>
  // when this is set (instance.base_url when it is https://: RFC 8058's
  // one-click, answered by the web), and always <mailto:> the reply template
  // with "unsub-TOKEN" as its token.
  std::string unsubscribe_base_url;
  // Watchers that are mailing lists (categories[].lists, lower-case): their
  // mail carries no unsubscribe link (List-Id lets members filter).
  std::vector<std::string> list_addresses;
  // Delivery.
  int batch = 50;                                                 // rows claimed at once
  std::chrono::milliseconds lease{std::chrono::minutes(10)};      // how long a claim lasts
  std::chrono::milliseconds max_age{std::chrono::hours(3 * 24)};  // transient failures give up after this
  double suppress_score = 3.0;            // bounce score that stops mail to an address
  forum::LoopBreakerLimits loop_breaker;  // when automatic mail to an address or domain pauses
  std::chrono::milliseconds retry_base{std::chrono::minutes(1)};  // first retry delay (RetryDelay)
  std::chrono::milliseconds retry_cap{std::chrono::hours(1)};     // longest retry delay
};

// What one pass (or RunOnce) did, for logs and tests.
struct OutboxPassStats {
  int sent = 0;
  int retried = 0;     // transient failure: tried again later
  int failed = 0;      // permanent failure, or past max_age
  int suppressed = 0;  // the recipient's bounce score reached the threshold, or it unsubscribed
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
mail::OutboundMail ComposeMail(const forum::ClaimedMail& row, const DeliveryOptions& options);

// The delay before try `attempts` + 1 after a transient failure, without
// jitter: retry_base × 2^(attempts - 1), at most retry_cap.
std::chrono::milliseconds RetryDelay(int attempts, const DeliveryOptions& options);

class OutboxDelivery {
 public:
  OutboxDelivery(const DeliveryOptions& options, Clock& clock) : options_(options), clock_(clock) {}

  // Claims and handles one batch from `queue` through `mailer`; `claimed` is
  // set to the number of rows claimed. Once `stopped` is set, the rest of the
  // batch is released. A full batch claims the next while it is sent (with
  // the last batch's fates, in one transaction); when it is handled without
  // a connection failure, release or stop, the next Pass sends that batch and
  // this batch's fates wait for the claim after it.
  // Errors: the queue's (the pass stops there).
  base::Status Pass(OutboxQueue& queue, Mailer& mailer, const std::atomic<bool>& stopped,
                    OutboxPassStats& stats, size_t& claimed);

  // Records the fates still waiting and gives the batch claimed ahead by the
  // last Pass, if any, back to `queue` (due now, the claim not counted as an
  // attempt), in one commit: for a worker that stops (or goes idle) before
  // the next Pass. Errors: the queue's (the rows then come back when their
  // claim's owner session ends, or after the lease, and are sent again).
  base::Status ReleaseClaimed(OutboxQueue& queue);
  // Forgets the batch claimed ahead and the fates still waiting without
  // touching the queue: for a worker whose database connection failed (its
  // session's end frees the claims; the mail sent is sent again).
  void ForgetClaimed();

  // The failure of the mailer's connection in the last pass, when it could not be reached or broke.
  const std::optional<base::Error>& connection_error() const { return connection_error_; }

  // How many times a row was held back for the loop circuit breaker (a metric). Safe from any thread.
  uint64_t held_by_loop_breaker() const { return held_by_loop_breaker_.load(std::memory_order_relaxed); }

 private:
  // A row ready to send: its envelope and bytes.
  struct Ready {
    const forum::ClaimedMail* row;
    mail::Envelope envelope;
    std::string payload;
  };
  // Decides what `row` needs no server for (suppressed, held back, cannot be
  // composed: its outcome is noted), or composes it into `ready` (and
  // `to_save` when its bytes are new). Errors: the queue's (LoopPause).
  base::Status Prepare(const forum::ClaimedMail& row, OutboxQueue& queue, OutboxPassStats& stats,
                       std::vector<Ready>& ready, std::vector<std::pair<int64_t, std::string>>& to_save);
  // Notes `row`'s outcome after a transient failure: retry later, or failed when too old.
  void Retry(const forum::ClaimedMail& row, const std::string& error, std::optional<int> reply_code,
             OutboxPassStats& stats);
  // Holds `row` back when it is automatic mail to a recipient the loop breaker paused; `held` says whether.
  base::Status HoldIfLooping(const forum::ClaimedMail& row, OutboxQueue& queue, OutboxPassStats& stats,
                             bool& held);
  // Sends `mail` and notes its outcome (`sent` gets it when the server accepted it).
  void Send(const Ready& mail, Mailer& mailer, OutboxPassStats& stats,
            std::vector<const forum::ClaimedMail*>& sent);

  const DeliveryOptions& options_;
  Clock& clock_;
  std::optional<base::Error> connection_error_;
  std::vector<forum::OutboxOutcome> outcomes_;  // of the current batch
  // The fates of the last batch when the next was claimed ahead: recorded with the claim after it.
  std::vector<forum::OutboxOutcome> unrecorded_;
  // The next batch, claimed while the last was sent, and (no later than) when.
  std::optional<std::vector<forum::ClaimedMail>> next_;
  std::chrono::steady_clock::time_point next_claimed_at_;
  std::atomic<uint64_t> held_by_loop_breaker_{0};
  // Recipient → when its logged pause ends: each pause is logged once.
  std::map<std::string, std::chrono::steady_clock::time_point> pause_logged_;
};

}  // namespace engine

#endif  // MAILFORUM_ENGINE_OUTBOX_DELIVERY_H_
