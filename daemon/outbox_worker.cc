#include "daemon/outbox_worker.h"

#include <algorithm>
#include <random>
#include <utility>

#include "base/log.h"
#include "forum/store.h"
#include "mail/reply_token.h"

namespace mailforumd {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

mail::OutboundKind KindOf(const std::string& kind) {
  if (kind == "notification") return mail::OutboundKind::kNotification;
  if (kind == "acknowledgement") return mail::OutboundKind::kAcknowledgement;
  if (kind == "rejection") return mail::OutboundKind::kRejection;
  return mail::OutboundKind::kAnswer;
}

// `d` scaled by a random factor in [0.8, 1.2], so that workers that failed together do not retry together.
milliseconds WithJitter(milliseconds d) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  return milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) * factor(rng)));
}

// "250 ms", "12 s".
std::string Duration(milliseconds d) {
  return d < std::chrono::seconds(1) ? std::to_string(d.count()) + " ms"
                                     : std::to_string((d.count() + 500) / 1000) + " s";
}

std::string Row(const forum::ClaimedMail& row) {
  return "outbox row " + std::to_string(row.id) + " (" + row.kind + " to " + row.recipient + ")";
}

}  // namespace

mail::OutboundMail ComposeMail(const forum::ClaimedMail& row, const OutboxOptions& options) {
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
    m.unsubscribe_url = options.unsubscribe_url;
  }
  return m;
}

milliseconds RetryDelay(int attempts, const OutboxOptions& options) {
  milliseconds delay = options.retry_base;
  for (int i = 1; i < attempts && delay < options.retry_cap; ++i) delay *= 2;
  return std::min(delay, options.retry_cap);
}

OutboxWorker::OutboxWorker(OutboxOptions options) : options_(std::move(options)) {}
OutboxWorker::~OutboxWorker() = default;

void OutboxWorker::Notify() {
  std::lock_guard<std::mutex> lock(mutex_);
  notified_ = true;
  wake_.notify_all();
}

void OutboxWorker::Stop() {
  stopped_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  wake_.notify_all();
}

bool OutboxWorker::Wait(milliseconds d) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, d, [this] { return stopped_.load() || notified_; });
  notified_ = false;
  return !stopped_;
}

base::Status OutboxWorker::Retry(const forum::ClaimedMail& row, const std::string& error,
                                 std::optional<int> reply_code, OutboxPassStats& stats) {
  if (row.age >= options_.max_age) {
    ++stats.failed;
    base::LogWarning(Row(row) + ": giving up after " + std::to_string(row.attempts) +
                     " attempt(s): " + error);
    return store_->MarkFailed(
        row.id, "gave up after " + std::to_string(row.attempts) + " attempt(s) over max_age: " + error,
        reply_code);
  }
  ++stats.retried;
  const milliseconds delay = WithJitter(RetryDelay(row.attempts, options_));
  base::LogInfo(Row(row) + ": " + error + "; trying again in about " + Duration(delay));
  return store_->MarkRetry(row.id, error, reply_code, delay);
}

base::Status OutboxWorker::HoldIfLooping(const forum::ClaimedMail& row, OutboxPassStats& stats, bool& held) {
  held = false;
  // Answers carry what people wrote: never held back.
  if (row.kind == "answer") return {};
  auto pause = store_->LoopPause(row.recipient, options_.loop_breaker);
  if (!pause) return pause.error();
  if (!pause->has_value()) return {};
  held = true;
  ++stats.held;
  held_by_loop_breaker_.fetch_add(1, std::memory_order_relaxed);
  const milliseconds left = **pause;
  const auto now = steady_clock::now();
  auto logged = pause_logged_.find(row.recipient);
  if (logged == pause_logged_.end() || logged->second <= now) {
    base::LogWarning("outbox: automatic mail to " + row.recipient +
                     " paused by the loop circuit breaker (machine replies or bounces from it or its domain "
                     "came too fast) for about " +
                     Duration(left));
    pause_logged_[row.recipient] = now + left;
  }
  return store_->Defer(row.id, "held back by the loop circuit breaker", left);
}

base::Status OutboxWorker::Handle(const forum::ClaimedMail& row, OutboxPassStats& stats) {
  if (row.bounce_score >= options_.suppress_score) {
    ++stats.suppressed;
    base::LogInfo(Row(row) + ": not sent, the recipient is suppressed");
    return store_->MarkSuppressed(row.id, "not sent: the bounce score of " + row.recipient + " (" +
                                              std::to_string(row.bounce_score) + ") reached suppress_score");
  }
  bool held = false;
  if (auto s = HoldIfLooping(row, stats, held); !s.ok() || held) return s;
  const mail::OutboundMail mail = ComposeMail(row, options_);
  const base::Result<mail::Envelope> envelope = mail::ComposeEnvelope(mail);
  // Composed once: every later try sends the saved bytes.
  const base::Result<std::string> payload =
      row.payload ? base::Result<std::string>(*row.payload) : mail::ComposeMessage(mail);
  if (!envelope || !payload) {
    const std::string why = "cannot be composed: " + (!envelope ? envelope.error() : payload.error()).message;
    ++stats.failed;
    base::LogError(Row(row) + ": " + why);
    return store_->MarkFailed(row.id, why, std::nullopt);
  }
  if (!row.payload) {
    if (auto saved = store_->SavePayload(row.id, *payload); !saved.ok()) return saved;
  }

  if (connection_error_) return Retry(row, connection_error_->message, std::nullopt, stats);
  if (!smtp_) {
    auto connected = mail::SmtpTransport::Connect(options_.smtp);
    if (!connected) {
      connection_error_ = connected.error();
      return Retry(row, connected.error().message, std::nullopt, stats);
    }
    smtp_ = std::move(connected).value();
  }
  const base::Status sent = smtp_->Send(*envelope, *payload);
  if (sent.ok()) {
    ++stats.sent;
    base::LogDebug(Row(row) + ": sent <" + row.message_id + ">");
    return store_->MarkSent(row.id);
  }
  const base::Error& error = sent.error();
  const std::optional<int> code =
      smtp_->last_reply() ? std::optional<int>(smtp_->last_reply()->code) : std::optional<int>();
  if ((code && *code >= 500 && *code < 600) || error.kind == base::ErrorKind::kInvalidInput) {
    ++stats.failed;
    base::LogWarning(Row(row) + ": failed for good: " + error.message);
    return store_->MarkFailed(row.id, error.message, code);
  }
  if (!code) {
    // No reply to blame (the connection broke, TLS or credentials failed on
    // reconnecting): the server is the problem, not this mail, so the rest of
    // the batch waits too.
    connection_error_ = error;
  }
  return Retry(row, error.message, code, stats);
}

base::Status OutboxWorker::Pass(OutboxPassStats& stats, size_t& claimed) {
  claimed = 0;
  connection_error_.reset();
  if (!store_) {
    auto store = forum::Store::Connect(options_.dsn);
    if (!store) return store.error().WithContext("outbox");
    store_ = std::move(store).value();
  }
  auto rows = store_->ClaimDue(options_.batch, options_.lease);
  if (!rows) return rows.error().WithContext("outbox");
  claimed = rows->size();
  const auto claimed_at = steady_clock::now();
  for (size_t i = 0; i < rows->size(); ++i) {
    // Near the end of the lease another worker may claim these rows again:
    // give them back rather than send them twice.
    if (stopped_ || steady_clock::now() - claimed_at > options_.lease * 3 / 4) {
      for (size_t j = i; j < rows->size(); ++j) {
        if (auto s = store_->Release((*rows)[j].id); !s.ok()) return s.error().WithContext("outbox");
      }
      break;
    }
    if (auto s = Handle((*rows)[i], stats); !s.ok()) return s.error().WithContext("outbox");
  }
  return {};
}

base::Result<OutboxPassStats> OutboxWorker::RunOnce() {
  OutboxPassStats stats;
  base::Status result;
  for (;;) {
    size_t claimed = 0;
    result = Pass(stats, claimed);
    if (!result.ok() || connection_error_ || stopped_ || claimed < static_cast<size_t>(options_.batch)) break;
  }
  if (smtp_) smtp_->Disconnect();
  if (!result.ok()) {
    store_.reset();
    return result.error();
  }
  if (connection_error_ && stats.sent == 0) return connection_error_->WithContext("outbox");
  return stats;
}

void OutboxWorker::Run() {
  milliseconds backoff{1000};
  while (!stopped_) {
    OutboxPassStats stats;
    size_t claimed = 0;
    const base::Status s = Pass(stats, claimed);
    if (stats.sent + stats.retried + stats.failed + stats.suppressed + stats.held > 0) {
      base::LogInfo("outbox: " + std::to_string(stats.sent) + " sent, " + std::to_string(stats.retried) +
                    " to retry, " + std::to_string(stats.failed) + " failed, " +
                    std::to_string(stats.suppressed) + " suppressed, " + std::to_string(stats.held) +
                    " held by the loop breaker");
    }
    if (!s.ok() || connection_error_) {
      const std::string message = s.ok() ? "outbox: " + connection_error_->message : s.error().message;
      base::LogError(message + "; retrying in about " + Duration(backoff));
      // Start afresh: a connection that failed may be in any state.
      if (!s.ok()) store_.reset();
      smtp_.reset();
      if (!Wait(WithJitter(backoff))) break;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = milliseconds(1000);
    if (claimed == static_cast<size_t>(options_.batch)) continue;  // more may be due
    // Idle: hold no connection open between bursts (the next Send reconnects).
    if (claimed == 0 && smtp_) smtp_->Disconnect();
    if (!Wait(options_.poll_interval)) break;
  }
  if (smtp_) smtp_->Disconnect();
}

}  // namespace mailforumd
