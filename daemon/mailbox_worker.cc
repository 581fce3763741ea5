#include "daemon/mailbox_worker.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <utility>

#include "base/log.h"
#include "base/metrics.h"
#include "daemon/engine_adapters.h"
#include "engine/backoff.h"
#include "forum/store.h"

namespace mailforumd {
namespace {

// How often a daemon that does not own a mailbox checks whether its owner died.
constexpr std::chrono::milliseconds kLockRetry{2000};

const base::Counter kImapReconnects{"mailforum_imap_reconnects_total",
                                    "IMAP sessions a mailbox worker opened after its first, by mailbox.",
                                    {"mailbox"}};
const base::Counter kImapConnectFailures{"mailforum_imap_connect_failures_total",
                                         "IMAP connections or logins that failed, by mailbox.",
                                         {"mailbox"}};
const base::Gauge kImapIdle{
    "mailforum_imap_idle", "1 while the mailbox worker waits in IMAP IDLE, by mailbox.", {"mailbox"}};

// This process, as the owner of the crash-loop breaker's notes: a note left
// by another owner on a message never recorded means that owner died.
const std::string& WorkerOwnerId() {
  static const std::string id = [] {
    std::random_device rd;
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%d-%08x%08x", static_cast<int>(getpid()), rd(), rd());
    return std::string(buffer);
  }();
  return id;
}

}  // namespace

struct MailboxWorker::Connection {
  bool locked = false;  // this worker took the mailbox's lock (once)
  std::unique_ptr<mail::ImapSession> imap;
  ImapMailSource::Selected selected;  // what `imap` selected: passes on the same session select once
  engine::MailboxPassMemory memory;  // what the last pass left (engine/mailbox_pass.h)
};

MailboxWorker::MailboxWorker(WorkerOptions options)
    : options_(std::move(options)),
      database_(options_.database ? options_.database : std::make_shared<MailboxDatabase>(options_.dsn, 1)),
      pass_(std::make_shared<const engine::MailboxPassOptions>(options_)) {}
MailboxWorker::~MailboxWorker() = default;

void MailboxWorker::Update(engine::MailboxPassOptions pass) {
  auto snapshot = std::make_shared<const engine::MailboxPassOptions>(std::move(pass));
  std::lock_guard<std::mutex> lock(mutex_);
  pass_ = std::move(snapshot);
}

void MailboxWorker::Stop() {
  stopped_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  if (idling_ != nullptr) idling_->Interrupt();
  wake_.notify_all();
}

bool MailboxWorker::Wait(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, d, [this] { return stopped_.load(); });
  return !stopped_;
}

base::Status MailboxWorker::Connect(Connection& c) {
  const std::string& name = options_.pipeline.mailbox;
  lock_busy_ = false;
  if (!c.locked) {
    // The lock lives as long as the lock connection: if we die, it is released.
    auto locked = database_->TryLock(name);
    if (!locked) return locked.error().WithContext("mailbox " + name);
    lock_busy_ = !*locked;
    if (lock_busy_) {
      return base::Error{base::ErrorKind::kTransient, "mailbox " + name + " is worked by another daemon"};
    }
    c.locked = true;
  }
  if (!c.imap || !c.imap->alive()) {
    c.imap.reset();
    auto imap = mail::ImapSession::Connect(options_.imap);
    if (!imap) {
      kImapConnectFailures.Add({name});
      return imap.error().WithContext("mailbox " + name);
    }
    c.imap = std::move(imap).value();
    c.selected.reset();
    if (std::exchange(connected_before_, true)) kImapReconnects.Add({name});
    for (const std::string* folder : {&options_.quarantine_folder, &options_.after_folder}) {
      if (folder->empty()) continue;
      if (auto created = c.imap->CreateFolder(*folder); !created.ok()) {
        return created.error().WithContext("mailbox " + name);
      }
    }
  }
  return {};
}

std::function<void()> MailboxWorker::WhileWaiting() const {
  return [heartbeat = options_.heartbeat] {
    if (heartbeat != nullptr) heartbeat->Beat();  // waiting for the others' calls is not a wedge
  };
}

base::Status MailboxWorker::Pass(Connection& c) {
  std::shared_ptr<const engine::MailboxPassOptions> pass;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pass = pass_;  // kept for the whole pass, whatever Update does meanwhile
  }
  ImapMailSource source(*c.imap, &c.selected);
  // A pooled connection per ledger call, none held across IMAP round trips: 200 mailboxes woken at once
  // share a pool of 4 without waiting for each other's whole passes.
  PooledLedger ledger(*database_, WhileWaiting(), pass->reply_address_for);
  base::Status result = engine::RunMailboxPass(*pass, source, ledger, WorkerOwnerId(), stopped_, &c.memory);
  if (result.ok()) NotePass("");
  return result;
}

void MailboxWorker::Unlock(Connection& c) {
  if (!c.locked) return;
  database_->Unlock(name());
  c.locked = false;
  c.memory = {};  // whoever locks it next may find work owed
}

void MailboxWorker::NotePass(const std::string& error) {
  auto lease = database_->Acquire(WhileWaiting());
  if (lease && !lease->store().NoteMailboxPass(name(), error).ok()) lease->Discard();
}

base::Status MailboxWorker::RunOnce() {
  Connection c;
  base::Status result = Connect(c);
  if (result.ok()) result = Pass(c);
  if (!result.ok()) result = result.error().WithContext("mailbox " + name());
  if (!result.ok() && c.locked) NotePass(result.error().message);
  if (c.imap) (void)c.imap->Logout();
  Unlock(c);
  return result;
}

void MailboxWorker::Run() {
  const std::string& name = options_.pipeline.mailbox;
  std::chrono::milliseconds backoff{1000};
  Connection c;
  Heartbeat* const heartbeat = options_.heartbeat;
  auto beat = [heartbeat](std::chrono::milliseconds next_within) {
    if (heartbeat != nullptr) heartbeat->Beat(next_within);
  };
  while (!stopped_) {
    beat(std::chrono::milliseconds(0));
    base::Status s = Connect(c);
    if (s.ok()) s = Pass(c);
    if (!s.ok()) {
      const std::string message = s.error().message.find("mailbox " + name) == std::string::npos
                                      ? "mailbox " + name + ": " + s.error().message
                                      : s.error().message;
      if (lock_busy_) {
        // Another daemon works this mailbox; check often, so that we take over within seconds when it dies.
        base::LogDebug(message);
        beat(kLockRetry);
        if (!Wait(kLockRetry)) break;
        continue;
      }
      base::LogError(message + "; retrying in about " + std::to_string(backoff.count() / 1000) + " s");
      if (c.locked) NotePass(message);
      // Start afresh: a session or connection that failed may be in any state; the lock goes back
      // meanwhile (another daemon may work the mailbox).
      c.imap.reset();
      Unlock(c);
      if (heartbeat != nullptr) heartbeat->SetUp(false);
      const auto wait = engine::WithJitter(backoff, 0.5);
      beat(wait);
      if (!Wait(wait)) break;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = std::chrono::milliseconds(1000);
    if (heartbeat != nullptr) heartbeat->SetUp(true);
    if (options_.idle && c.imap->HasCapability("IDLE")) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) break;
        idling_ = c.imap.get();
      }
      const auto idle_for =
          std::min<std::chrono::milliseconds>(options_.poll_interval, std::chrono::minutes(25));
      beat(idle_for);
      kImapIdle.Set({name}, 1);
      auto idled = c.imap->Idle(idle_for);
      kImapIdle.Set({name}, 0);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        idling_ = nullptr;
      }
      if (!idled) {
        base::LogWarning("mailbox " + name + ": IDLE failed: " + idled.error().message + "; reconnecting");
        c.imap.reset();
      }
    } else {
      beat(options_.poll_interval);
      if (!Wait(options_.poll_interval)) break;
    }
  }
  if (c.imap) (void)c.imap->Logout();
  Unlock(c);
}

}  // namespace mailforumd
