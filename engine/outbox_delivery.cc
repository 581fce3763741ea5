#include "engine/outbox_delivery.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
#include "engine/backoff.h"
#include "engine/in_background.h"
#include "engine/telemetry.h"
#include "forum/subscriptions.h"
#include "mail/reply_token.h"
#include "mail/unsubscribe_token.h"

namespace engine {
namespace {

using std::chrono::milliseconds;
using Outcome = forum::OutboxOutcome;
using Fate = forum::OutboxOutcome::Fate;

mail::OutboundKind KindOf(forum::OutboxKind kind) {
  switch (kind) {
    case forum::OutboxKind::kAnswer:
      return mail::OutboundKind::kAnswer;
    case forum::OutboxKind::kNotification:
      return mail::OutboundKind::kNotification;
    case forum::OutboxKind::kAcknowledgement:
      return mail::OutboundKind::kAcknowledgement;
    case forum::OutboxKind::kRejection:
      return mail::OutboundKind::kRejection;
  }
  return mail::OutboundKind::kAnswer;
}

std::string Row(const forum::ClaimedMail& row) {
  return "outbox row " + std::to_string(row.id) + " (" + std::string(forum::Name(row.kind)) + " to " +
         row.recipient + ")";
}

// List-Unsubscribe of `row`: its signed one-click and mailto links, or ""
// for mail that has none (rejections, mail to a mailing list).
std::string UnsubscribeUris(const forum::ClaimedMail& row, const DeliveryOptions& options) {
  const std::string scope = forum::ScopeOfMail(row.kind, row.thread_id, row.category);
  if (scope.empty() || row.id < 0 || static_cast<uint64_t>(row.id) > mail::kMaxUnsubscribeRowId ||
      options.reply_key.empty() ||
      std::find(options.list_addresses.begin(), options.list_addresses.end(), row.recipient) !=
          options.list_addresses.end()) {
    return "";
  }
  const std::string token =
      mail::MakeUnsubscribeToken(static_cast<uint64_t>(row.id), row.recipient, scope, options.reply_key);
  std::string uris;
  if (!options.unsubscribe_base_url.empty())
    uris = "<" + options.unsubscribe_base_url + "/unsubscribe/" + token + ">, ";
  return uris + "<mailto:" + mail::UnsubscribeAddress(options.reply_to_template, token) + ">";
}

}  // namespace

mail::OutboundMail ComposeMail(const forum::ClaimedMail& row, const DeliveryOptions& options) {
  mail::OutboundMail m;
  m.kind = KindOf(row.kind);
  m.message_id = row.message_id;
  m.from = options.from;
  m.to = row.recipient;
  m.date = row.queued_at;
  m.instance_name = options.instance_name;
  m.return_path = mail::VerpAddress(options.bounce_template, row.id, options.reply_key);
  if (m.kind == mail::OutboundKind::kRejection) {
    m.subject = "Your message to " + options.instance_name + " was not accepted";
    // The pipeline's "rule NAME" names a rule for the operator, not a reason for the sender.
    if (!row.rejection_reason.starts_with("rule ")) m.rejection_reason = row.rejection_reason;
    return m;
  }
  if (row.thread_id) {
    m.reply_to = mail::ReplyAddress(options.reply_to_template, static_cast<uint64_t>(*row.thread_id),
                                    options.reply_key);
    m.thread_url = options.base_url + "/t/" + std::to_string(*row.thread_id);
  }
  const bool about_a_post =
      m.kind == mail::OutboundKind::kAnswer || m.kind == mail::OutboundKind::kNotification;
  m.subject =
      about_a_post && row.post_opens_thread ? row.thread_subject : mail::ReplySubject(row.thread_subject);
  // The message this one follows, as the recipient knows it: the asker sent
  // the question; everyone else received our first post.
  std::string parent;
  if (m.kind == mail::OutboundKind::kAcknowledgement) {
    parent = row.question_message_id;
  } else if (!row.post_opens_thread) {
    const bool to_asker = row.recipient == row.thread_author && !row.question_message_id.empty();
    parent = to_asker ? row.question_message_id : row.root_message_id;
  }
  if (!parent.empty()) {
    m.in_reply_to = parent;
    m.references = {parent};
  }
  if (about_a_post) {
    m.author_name = row.post_author_name.empty() ? row.post_author_address : row.post_author_name;
    m.body_text = row.post_body;
    m.list_id = row.category.empty() ? options.domain : row.category + "." + options.domain;
    m.list_archive_url = options.base_url;
  }
  m.unsubscribe_url = UnsubscribeUris(row, options);
  return m;
}

milliseconds RetryDelay(int attempts, const DeliveryOptions& options) {
  milliseconds delay = options.retry_base;
  for (int i = 1; i < attempts && delay < options.retry_cap; ++i) delay *= 2;
  return std::min(delay, options.retry_cap);
}

void OutboxDelivery::Retry(const forum::ClaimedMail& row, const std::string& error,
                           std::optional<int> reply_code, OutboxPassStats& stats) {
  if (row.age >= options_.max_age) {
    ++stats.failed;
    base::LogWarning(Row(row) + ": giving up after " + std::to_string(row.attempts) +
                     " attempt(s): " + error);
    outcomes_.push_back(Outcome::Of(
        row.id, Fate::kFailed,
        "gave up after " + std::to_string(row.attempts) + " attempt(s) over max_age: " + error, reply_code));
    return;
  }
  ++stats.retried;
  const milliseconds delay = WithJitter(RetryDelay(row.attempts, options_), 0.2);
  base::LogInfo(Row(row) + ": " + error + "; trying again in about " + DurationText(delay));
  outcomes_.push_back(Outcome::Of(row.id, Fate::kRetry, error, reply_code, delay));
}

base::Status OutboxDelivery::HoldIfLooping(const forum::ClaimedMail& row, OutboxQueue& queue,
                                           OutboxPassStats& stats, bool& held) {
  held = false;
  // Answers carry what people wrote: never held back.
  if (row.kind == forum::OutboxKind::kAnswer) return {};
  auto pause = queue.LoopPause(row.recipient, options_.loop_breaker);
  if (!pause) return pause.error();
  if (!pause->has_value()) return {};
  held = true;
  ++stats.held;
  held_by_loop_breaker_.fetch_add(1, std::memory_order_relaxed);
  const milliseconds left = **pause;
  const auto now = clock_.Now();
  auto logged = pause_logged_.find(row.recipient);
  if (logged == pause_logged_.end() || logged->second <= now) {
    base::LogWarning("outbox: automatic mail to " + row.recipient +
                     " paused by the loop circuit breaker (machine replies or bounces from it or its domain "
                     "came too fast) for about " +
                     DurationText(left));
    pause_logged_[row.recipient] = now + left;
    CountLoopBreakerPause();
  }
  outcomes_.push_back(
      Outcome::Of(row.id, Fate::kDeferred, "held back by the loop circuit breaker", std::nullopt, left));
  return {};
}

base::Status OutboxDelivery::Prepare(const forum::ClaimedMail& row, OutboxQueue& queue,
                                     OutboxPassStats& stats, std::vector<Ready>& ready,
                                     std::vector<std::pair<int64_t, std::string>>& to_save) {
  if (row.bounce_score >= options_.suppress_score) {
    ++stats.suppressed;
    base::LogInfo(Row(row) + ": not sent, the recipient is suppressed");
    outcomes_.push_back(Outcome::Of(row.id, Fate::kSuppressed,
                                    "not sent: the bounce score of " + row.recipient + " (" +
                                        std::to_string(row.bounce_score) + ") reached suppress_score"));
    return {};
  }
  if (!row.unsubscribed_scope.empty()) {
    ++stats.suppressed;
    const std::string why = "not sent: " + row.recipient + " unsubscribed from " +
                            forum::DescribeScope(row.unsubscribed_scope) + " (" + row.unsubscribed_source +
                            ")";
    base::LogInfo(Row(row) + ": " + why);
    outcomes_.push_back(Outcome::Of(row.id, Fate::kUnsubscribed, why));
    return {};
  }
  bool held = false;
  if (auto s = HoldIfLooping(row, queue, stats, held); !s.ok() || held) return s;
  const mail::OutboundMail mail = ComposeMail(row, options_);
  base::Result<mail::Envelope> envelope = mail::ComposeEnvelope(mail);
  // Composed once: every later try sends the saved bytes.
  base::Result<std::string> payload =
      row.payload ? base::Result<std::string>(*row.payload) : mail::ComposeMessage(mail);
  if (!envelope || !payload) {
    const std::string why = "cannot be composed: " + (!envelope ? envelope.error() : payload.error()).message;
    ++stats.failed;
    base::LogError(Row(row) + ": " + why);
    outcomes_.push_back(Outcome::Of(row.id, Fate::kFailed, why));
    return {};
  }
  if (!row.payload) to_save.emplace_back(row.id, *payload);
  ready.push_back({&row, std::move(envelope).value(), std::move(payload).value()});
  return {};
}

void OutboxDelivery::Send(const Ready& mail, Mailer& mailer, OutboxPassStats& stats,
                          std::vector<const forum::ClaimedMail*>& sent) {
  const forum::ClaimedMail& row = *mail.row;
  if (connection_error_) return Retry(row, connection_error_->message, std::nullopt, stats);
  if (!mailer.connected()) {
    if (auto connected = mailer.Connect(); !connected.ok()) {
      connection_error_ = connected.error();
      CountSmtpResult(std::nullopt);
      return Retry(row, connected.error().message, std::nullopt, stats);
    }
  }
  std::optional<int> code;
  const base::Status result = mailer.Send(mail.envelope, mail.payload, code);
  CountSmtpResult(result.ok() && !code ? std::optional<int>(250) : code);
  if (result.ok()) {
    ++stats.sent;
    sent.push_back(&row);
    outcomes_.push_back(Outcome::Of(row.id, Fate::kSent));
    return;
  }
  const base::Error& error = result.error();
  if ((code && *code >= 500 && *code < 600) || error.kind == base::ErrorKind::kInvalidInput) {
    ++stats.failed;
    base::LogWarning(Row(row) + ": failed for good: " + error.message);
    outcomes_.push_back(Outcome::Of(row.id, Fate::kFailed, error.message, code));
    return;
  }
  if (!code) {
    // No reply to blame (the connection broke, TLS or credentials failed on
    // reconnecting): the server is the problem, not this mail, so the rest of
    // the batch waits too.
    connection_error_ = error;
  }
  Retry(row, error.message, code, stats);
}

base::Status OutboxDelivery::Pass(OutboxQueue& queue, Mailer& mailer, const std::atomic<bool>& stopped,
                                  OutboxPassStats& stats, size_t& claimed) {
  claimed = 0;
  connection_error_.reset();
  outcomes_.clear();
  std::vector<forum::ClaimedMail> rows;
  std::chrono::steady_clock::time_point claimed_at;
  if (next_) {
    rows = std::move(*next_);
    next_.reset();
    claimed_at = next_claimed_at_;
  } else {
    // Fates wait only while the batch after them is claimed: none wait here.
    auto due = queue.ClaimDue(options_.batch, options_.lease);
    if (!due) return due.error().WithContext("outbox");
    rows = std::move(due).value();
    claimed_at = clock_.Now();
  }
  claimed = rows.size();
  // What needs no server (suppressed, held back, cannot be composed) is decided first; the new messages
  // of the rest are saved in one statement before any is sent.
  std::vector<Ready> ready;
  std::vector<std::pair<int64_t, std::string>> to_save;
  for (const forum::ClaimedMail& row : rows) {
    if (auto s = Prepare(row, queue, stats, ready, to_save); !s.ok()) return s.error().WithContext("outbox");
  }
  if (auto s = queue.SavePayloads(to_save); !s.ok()) return s.error().WithContext("outbox");
  // A full batch may be followed by more: while it is sent, a second thread
  // records the fates still waiting (the batch before's) and claims the next
  // batch, in one transaction. The queue is not used here meanwhile.
  using Claim = base::Result<std::vector<forum::ClaimedMail>>;
  std::optional<InBackground<Claim>> ahead;
  const auto ahead_at = clock_.Now();  // no later than the claim: its lease is counted from here
  if (claimed == static_cast<size_t>(options_.batch) && !stopped) {
    ahead.emplace("claim outbox rows", [this, &queue, waiting = std::exchange(unrecorded_, {})]() -> Claim {
      if (waiting.empty()) return queue.ClaimDue(options_.batch, options_.lease);
      return queue.RecordOutcomesAndClaim(waiting, options_.batch, options_.lease);
    });
  }
  std::vector<const forum::ClaimedMail*> sent;
  bool released = false;
  for (size_t i = 0; i < ready.size(); ++i) {
    // Near the end of the lease another worker may claim these rows again:
    // give them back rather than send them twice.
    if (stopped || clock_.Now() - claimed_at > options_.lease * 3 / 4) {
      for (size_t j = i; j < ready.size(); ++j)
        outcomes_.push_back(Outcome::Of(ready[j].row->id, Fate::kReleased));
      released = true;
      break;
    }
    Send(ready[i], mailer, stats, sent);
  }
  std::vector<forum::ClaimedMail> claimed_ahead;
  if (ahead) {
    // When this fails, the fates of this batch and of the one before are not
    // recorded: those rows are sent again, with the same bytes, once their
    // claims are free (at least once).
    auto next = ahead->Take();
    if (!next) return next.error().WithContext("outbox");
    claimed_ahead = std::move(next).value();
  }
  if (!claimed_ahead.empty() && !released && !stopped && !connection_error_) {
    // The next Pass sends them; this batch's fates are recorded with the claim after them. A death before
    // that leaves the rows pending: sent again with the same bytes after the lease.
    next_ = std::move(claimed_ahead);
    next_claimed_at_ = ahead_at;
    unrecorded_ = std::move(outcomes_);
  } else {
    // The fates still waiting and this batch's in one statement and one commit, with the rows claimed
    // ahead given back (due now, the claim not counted as an attempt).
    std::vector<forum::OutboxOutcome> fates = std::exchange(unrecorded_, {});
    fates.insert(fates.end(), outcomes_.begin(), outcomes_.end());
    for (const forum::ClaimedMail& row : claimed_ahead) fates.push_back(Outcome::Of(row.id, Fate::kReleased));
    if (auto s = queue.RecordOutcomes(fates); !s.ok()) return s.error().WithContext("outbox");
  }
  outcomes_.clear();
  for (const forum::ClaimedMail* row : sent) base::LogDebug(Row(*row) + ": sent <" + row->message_id + ">");
  return {};
}

base::Status OutboxDelivery::ReleaseClaimed(OutboxQueue& queue) {
  std::vector<forum::OutboxOutcome> fates = std::exchange(unrecorded_, {});
  if (next_) {
    for (const forum::ClaimedMail& row : *next_) fates.push_back(Outcome::Of(row.id, Fate::kReleased));
    next_.reset();
  }
  if (auto s = queue.RecordOutcomes(fates); !s.ok()) return s.error().WithContext("outbox");
  return {};
}

void OutboxDelivery::ForgetClaimed() {
  next_.reset();
  unrecorded_.clear();
}

}  // namespace engine
