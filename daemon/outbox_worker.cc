#include "daemon/outbox_worker.h"

#include <algorithm>
#include <utility>

#include "base/log.h"
#include "daemon/engine_adapters.h"
#include "engine/backoff.h"
#include "forum/store.h"

namespace mailforumd {

using std::chrono::milliseconds;

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

namespace {

// The mailer that beats the worker's heartbeat before each connection and
// send: a send that hangs is the loop not making progress.
class BeatingMailer : public engine::Mailer {
 public:
  BeatingMailer(engine::Mailer& mailer, Heartbeat* heartbeat) : mailer_(mailer), heartbeat_(heartbeat) {}
  bool connected() const override { return mailer_.connected(); }
  base::Status Connect() override {
    Beat();
    return mailer_.Connect();
  }
  base::Status Send(const mail::Envelope& envelope, std::string_view raw,
                    std::optional<int>& reply_code) override {
    Beat();
    return mailer_.Send(envelope, raw, reply_code);
  }
  void Disconnect() override { mailer_.Disconnect(); }

 private:
  void Beat() {
    if (heartbeat_ != nullptr) heartbeat_->Beat();
  }
  engine::Mailer& mailer_;
  Heartbeat* heartbeat_;
};

}  // namespace

base::Status OutboxWorker::Pass(OutboxPassStats& stats, size_t& claimed) {
  claimed = 0;
  // A connection the server closed while we waited (a restart) is replaced before its first query.
  if (store_ && !store_->CheckConnection().ok()) store_.reset();
  if (!store_) {
    delivery_.ForgetClaimed();  // claimed on the lost session: free again once it ended
    auto store = forum::Store::Connect(options_.dsn);
    if (!store) return store.error().WithContext("outbox");
    store_ = std::move(store).value();
  }
  StoreOutboxQueue queue(*store_);
  SmtpMailer smtp(options_.smtp, smtp_);
  BeatingMailer mailer(smtp, options_.heartbeat);
  return delivery_.Pass(queue, mailer, stopped_, stats, claimed);
}

base::Result<OutboxPassStats> OutboxWorker::RunOnce() {
  OutboxPassStats stats;
  base::Status result;
  for (;;) {
    size_t claimed = 0;
    result = Pass(stats, claimed);
    if (!result.ok() || delivery_.connection_error() || stopped_ ||
        claimed < static_cast<size_t>(options_.batch))
      break;
  }
  if (smtp_) smtp_->Disconnect();
  if (result.ok()) result = ReleaseClaimed();
  if (!result.ok()) {
    store_.reset();
    delivery_.ForgetClaimed();
    return result.error();
  }
  if (delivery_.connection_error() && stats.sent == 0)
    return delivery_.connection_error()->WithContext("outbox");
  return stats;
}

void OutboxWorker::Beat(milliseconds next_within) {
  if (options_.heartbeat != nullptr) options_.heartbeat->Beat(next_within);
}

void OutboxWorker::Run() {
  milliseconds backoff{1000};
  while (!stopped_) {
    Beat();
    OutboxPassStats stats;
    size_t claimed = 0;
    const base::Status s = Pass(stats, claimed);
    if (store_) {
      auto pending = store_->PendingOutboxRows();
      backlog_ = pending ? *pending : -1;
    }
    if (options_.heartbeat != nullptr) options_.heartbeat->SetUp(s.ok() && !delivery_.connection_error());
    if (stats.sent + stats.retried + stats.failed + stats.suppressed + stats.held > 0) {
      base::LogInfo("outbox: " + std::to_string(stats.sent) + " sent, " + std::to_string(stats.retried) +
                    " to retry, " + std::to_string(stats.failed) + " failed, " +
                    std::to_string(stats.suppressed) + " suppressed, " + std::to_string(stats.held) +
                    " held by the loop breaker");
    }
    if (!s.ok() || delivery_.connection_error()) {
      const std::string message =
          s.ok() ? "outbox: " + delivery_.connection_error()->message : s.error().message;
      base::LogError(message + "; retrying in about " + engine::DurationText(backoff));
      // Start afresh: a connection that failed may be in any state.
      if (!s.ok()) {
        store_.reset();
        delivery_.ForgetClaimed();
      }
      smtp_.reset();
      const milliseconds wait = engine::WithJitter(backoff, 0.2);
      Beat(wait);
      if (!Wait(wait)) break;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = milliseconds(1000);
    if (claimed == static_cast<size_t>(options_.batch)) continue;  // more may be due
    // Idle: hold no connection open between bursts (the next Send reconnects).
    if (claimed == 0 && smtp_) smtp_->Disconnect();
    // Nor a database connection that carried a large mail: libpq would keep
    // buffers that large for the daemon's life (forum/connection.h).
    if (store_ && store_->KeepsLargeBuffers()) {
      if (auto released = ReleaseClaimed(); !released.ok()) base::LogWarning(released.error().message);
      store_.reset();  // rows not released come back when its session ends
    }
    Beat(options_.poll_interval);
    if (!Wait(options_.poll_interval)) break;
  }
  if (auto released = ReleaseClaimed(); !released.ok()) base::LogWarning(released.error().message);
  if (smtp_) smtp_->Disconnect();
}

base::Status OutboxWorker::ReleaseClaimed() {
  if (!store_) {
    delivery_.ForgetClaimed();
    return {};
  }
  StoreOutboxQueue queue(*store_);
  return delivery_.ReleaseClaimed(queue);
}

}  // namespace mailforumd
