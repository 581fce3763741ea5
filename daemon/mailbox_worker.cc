#include "daemon/mailbox_worker.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <utility>

#include "base/log.h"
#include "forum/store.h"

namespace mailforumd {
namespace {

// The forum as the pipeline sees it, backed by the worker's own Store.
class StoreLookup : public ForumLookup {
 public:
  explicit StoreLookup(forum::Store& store) : store_(store) {}
  base::Result<bool> ThreadExists(int64_t id) override { return store_.ThreadExists(id); }
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override {
    return store_.FindThreadByMessageIds(ids);
  }
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) override {
    return store_.CountThreadsOpenedSince(address, seconds);
  }
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) override {
    return store_.FindThreadAudience(thread_id);
  }
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) override {
    return store_.FindPostByMessageId(message_id);
  }
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids) override {
    return store_.MailedDomain(domain, outbox_id, message_ids);
  }

 private:
  forum::Store& store_;
};

// The lookup of one batch. Decide runs for a whole batch before the batch is
// recorded, so a reply fetched in the same batch as the message it answers
// would not find that message's thread (its Message-ID reaches message_ids
// only when recorded) and would open a thread of its own. This lookup notes
// when a decision asked for the Message-ID of a post decided earlier in the
// batch; the worker then records the batch so far and decides again.
class BatchLookup : public StoreLookup {
 public:
  using StoreLookup::StoreLookup;
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override {
    for (const std::string& id : ids) refers_to_pending_ = refers_to_pending_ || pending_.count(id) > 0;
    return StoreLookup::FindThreadByMessageIds(ids);
  }
  // `item` is decided but not yet recorded.
  void AddPending(const forum::InboundItem& item) {
    if (item.outcome == forum::Outcome::kPosted && !item.message_id.empty()) pending_.insert(item.message_id);
  }
  // Everything pending is recorded now.
  void ClearPending() { pending_.clear(); }
  // Whether a decision since the last call asked for a pending Message-ID (and so may be wrong).
  bool TakeRefersToPending() { return std::exchange(refers_to_pending_, false); }

 private:
  std::set<std::string> pending_;
  bool refers_to_pending_ = false;
};

// How often a daemon that does not own a mailbox checks whether its owner died.
constexpr std::chrono::milliseconds kLockRetry{2000};

// Sizes are asked for this many messages at a time (a few dozen bytes each).
constexpr size_t kInfoChunk = 1000;

// A message during which this many processes died is quarantined unparsed.
constexpr int kDeathsToQuarantine = 2;

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

std::chrono::milliseconds WithJitter(std::chrono::milliseconds d) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.5, 1.5);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) * factor(rng)));
}

}  // namespace

struct MailboxWorker::Connection {
  std::unique_ptr<forum::Store> store;
  std::unique_ptr<mail::ImapSession> imap;
};

MailboxWorker::MailboxWorker(WorkerOptions options) : options_(std::move(options)) {}
MailboxWorker::~MailboxWorker() = default;

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
  if (!c.store) {
    auto store = forum::Store::Connect(options_.dsn);
    if (!store) return store.error().WithContext("mailbox " + name);
    c.store = std::move(store).value();
    // The lock lives as long as this database connection: if we die, it is released.
    auto locked = c.store->TryLockMailbox(name);
    if (!locked) {
      c.store.reset();
      return locked.error().WithContext("mailbox " + name);
    }
    lock_busy_ = !*locked;
    if (lock_busy_) {
      c.store.reset();
      return base::Error{base::ErrorKind::kTransient, "mailbox " + name + " is worked by another daemon"};
    }
  }
  if (!c.imap || !c.imap->alive()) {
    c.imap.reset();
    auto imap = mail::ImapSession::Connect(options_.imap);
    if (!imap) return imap.error().WithContext("mailbox " + name);
    c.imap = std::move(imap).value();
    for (const std::string* folder : {&options_.quarantine_folder, &options_.after_folder}) {
      if (folder->empty()) continue;
      if (auto created = c.imap->CreateFolder(*folder); !created.ok()) {
        return created.error().WithContext("mailbox " + name);
      }
    }
  }
  return {};
}

base::Status MailboxWorker::ApplyPostActions(Connection& c, uint32_t uidvalidity, const std::vector<uint32_t>& normal,
                                             const std::vector<uint32_t>& quarantined,
                                             const std::vector<uint32_t>& untouched) {
  const std::string& name = options_.pipeline.mailbox;
  if (!quarantined.empty()) {
    if (auto s = c.imap->Move(quarantined, options_.quarantine_folder); !s.ok()) return s.error();
  }
  if (!normal.empty()) {
    base::Status s;
    switch (options_.after) {
      case WorkerOptions::After::kSeen: s = c.imap->StoreFlags(normal, "\\Seen"); break;
      case WorkerOptions::After::kMove: s = c.imap->Move(normal, options_.after_folder); break;
      case WorkerOptions::After::kDelete: s = c.imap->Delete(normal); break;
    }
    if (!s.ok()) return s.error();
  }
  std::vector<uint32_t> done = normal;
  done.insert(done.end(), quarantined.begin(), quarantined.end());
  done.insert(done.end(), untouched.begin(), untouched.end());
  if (auto s = c.store->MarkPostActionsDone(name, uidvalidity, done); !s.ok()) return s.error();
  return {};
}

base::Status MailboxWorker::Pass(Connection& c) {
  const std::string& name = options_.pipeline.mailbox;
  // A lost and silently renewed database session no longer holds the mailbox: stop and lock again.
  auto held = c.store->HoldsMailboxLock(name);
  if (!held) return held.error();
  if (!*held) return base::Error{base::ErrorKind::kTransient, "lost the lock of mailbox " + name + "; relocking"};
  auto selected = c.imap->Select(options_.folder);
  if (!selected) return selected.error();
  const uint32_t uidvalidity = selected->uidvalidity;

  auto state = c.store->GetMailboxState(name);
  if (!state) return state.error();
  uint32_t last_uid = 0;
  if (!state->has_value() || (*state)->uidvalidity != uidvalidity) {
    if (state->has_value()) {
      base::LogWarning("mailbox " + name + ": UIDVALIDITY changed from " + std::to_string((*state)->uidvalidity) +
                       " to " + std::to_string(uidvalidity) + "; rescanning (duplicates are recognised)");
    }
    if (auto s = c.store->ResetMailbox(name, uidvalidity); !s.ok()) return s.error();
    state = c.store->GetMailboxState(name);
    if (!state) return state.error();
  } else {
    last_uid = (*state)->last_uid;
  }
  const auto import_after = (*state)->first_contact - options_.import_max_age;

  // Reconcile: mail committed before a crash but not yet flagged, moved or deleted.
  auto pending = c.store->PendingPostActions(name, uidvalidity);
  if (!pending) return pending.error();
  if (!pending->empty()) {
    std::vector<uint32_t> normal, quarantined;
    for (const auto& p : *pending) (p.outcome == forum::Outcome::kQuarantined ? quarantined : normal).push_back(p.uid);
    base::LogInfo("mailbox " + name + ": finishing " + std::to_string(pending->size()) + " post-action(s)");
    if (auto s = ApplyPostActions(c, uidvalidity, normal, quarantined, {}); !s.ok()) return s.error();
  }

  auto uids = c.imap->UidsFrom(last_uid + 1);
  if (!uids) return uids.error();
  // Records `items` (decided from `raws`) in one transaction, then does their post-actions.
  auto record = [&](const std::vector<forum::InboundItem>& items,
                    const std::vector<FetchedMessage>& raws) -> base::Status {
    if (items.empty()) return {};
    // Deciding is over: a death from here on is not the fault of the last message decided.
    if (auto s = c.store->NoteWorking(name, uidvalidity, 0, WorkerOwnerId()); !s.ok()) return s.error();
    auto recorded = c.store->RecordBatch(items, options_.domain);
    if (!recorded) return recorded.error();
    if (options_.on_mail_queued &&
        std::any_of(items.begin(), items.end(), [](const auto& item) { return !item.outbox.empty(); })) {
      options_.on_mail_queued();
    }
    // What the store refused is poison: quarantine it so the mailbox goes on.
    std::vector<forum::InboundItem> poison;
    for (size_t i = 0; i < recorded->size(); ++i) {
      if ((*recorded)[i]) continue;
      base::LogError("mailbox " + name + " UID " + std::to_string(items[i].uid) +
                     ": cannot store, quarantining: " + (*recorded)[i].error().message);
      poison.push_back(QuarantineItem(name, raws[i], "could not be stored: " + (*recorded)[i].error().message));
    }
    if (!poison.empty()) {
      auto again = c.store->RecordBatch(poison, options_.domain);
      if (!again) return again.error();
      for (const auto& r : *again) {
        if (!r) return r.error();
      }
    }
    std::vector<uint32_t> normal, quarantined, untouched;
    size_t posted = 0;
    for (const auto& item : items) {
      const bool refused = std::any_of(poison.begin(), poison.end(), [&](const auto& p) { return p.uid == item.uid; });
      if (refused || item.outcome == forum::Outcome::kQuarantined) {
        quarantined.push_back(item.uid);
      } else if (item.outcome == forum::Outcome::kTooOld) {
        untouched.push_back(item.uid);
      } else {
        normal.push_back(item.uid);
        if (item.outcome == forum::Outcome::kPosted) ++posted;
      }
    }
    if (posted > 0 && options_.reply_address_for) {
      // Not fatal: the web says replies are not open yet, and the next batch (or a restart) fills it.
      if (auto filled = c.store->FillReplyAddresses(options_.reply_address_for, 1000); !filled) {
        base::LogWarning("mailbox " + name + ": cannot fill reply addresses: " + filled.error().message);
      }
    }
    if (auto s = ApplyPostActions(c, uidvalidity, normal, quarantined, untouched); !s.ok()) return s.error();
    base::LogInfo("mailbox " + name + ": " + std::to_string(items.size()) + " message(s), " + std::to_string(posted) +
                  " posted, " + std::to_string(quarantined.size()) + " quarantined");
    return {};
  };

  // A message during which a daemon died: decided again after one death, quarantined unparsed after two.
  auto crashed = c.store->TakeCrashedWork(name, uidvalidity, WorkerOwnerId());
  if (!crashed) return crashed.error();
  std::optional<forum::CrashedWork> crash = *crashed;
  // A message that is no longer in the folder (deleted by someone) needs nothing more.
  if (crash && !std::binary_search(uids->begin(), uids->end(), crash->uid)) crash.reset();
  if (crash) {
    base::LogWarning("mailbox " + name + ": a daemon died " + std::to_string(crash->deaths) +
                     " time(s) while deciding UID " + std::to_string(crash->uid) +
                     (crash->deaths >= kDeathsToQuarantine ? "; quarantining it unparsed" : "; trying it once more"));
  }

  BatchLookup lookup(*c.store);
  // Decides the messages of one fetched batch (ascending UIDs) and records them.
  auto decide_batch = [&](std::vector<mail::ImapMessage>& fetched) -> base::Status {
    std::vector<forum::InboundItem> items;
    std::vector<FetchedMessage> raws;
    lookup.ClearPending();
    for (auto& m : fetched) {
      FetchedMessage f{uidvalidity, m.uid, std::move(m.raw), m.size};
      if (m.internal_date < import_after) {
        forum::InboundItem old = QuarantineItem(name, f, "received before first contact minus import_max_age");
        old.outcome = forum::Outcome::kTooOld;
        old.raw.clear();
        items.push_back(std::move(old));
      } else if (m.size > options_.pipeline.max_message_size) {
        items.push_back(QuarantineItem(name, f,
                                       "message of " + std::to_string(m.size) + " bytes is over max_message_size (" +
                                           std::to_string(options_.pipeline.max_message_size) +
                                           "); its first " + std::to_string(f.raw.size()) + " bytes are kept"));
      } else if (crash && crash->uid == f.uid && crash->deaths >= kDeathsToQuarantine) {
        items.push_back(QuarantineItem(name, f,
                                       "a daemon died " + std::to_string(crash->deaths) +
                                           " times while deciding this message; quarantined unparsed"));
      } else {
        if (auto s = c.store->NoteWorking(name, uidvalidity, f.uid, WorkerOwnerId()); !s.ok()) return s.error();
        if (options_.before_decide) options_.before_decide(f.raw);
        auto item = Decide(f, options_.pipeline, lookup);
        if (!item) return item.error();
        if (lookup.TakeRefersToPending()) {
          // It answers a message of this batch that is not recorded yet: record the batch so far, so that
          // the thread match sees that message, and decide again.
          if (auto s = record(items, raws); !s.ok()) return s;
          items.clear();
          raws.clear();
          lookup.ClearPending();
          item = Decide(f, options_.pipeline, lookup);
          if (!item) return item.error();
        }
        lookup.AddPending(*item);
        items.push_back(std::move(item).value());
      }
      raws.push_back(std::move(f));
    }
    return record(items, raws);
  };

  // Size first: the sizes of up to kInfoChunk messages, then batches bounded by count and bytes.
  for (size_t start = 0; start < uids->size() && !stopped_; start += kInfoChunk) {
    const std::vector<uint32_t> chunk(
        uids->begin() + static_cast<std::ptrdiff_t>(start),
        uids->begin() + static_cast<std::ptrdiff_t>(std::min(uids->size(), start + kInfoChunk)));
    auto infos = c.imap->FetchInfo(chunk);
    if (!infos) return infos.error();
    for (size_t i = 0; i < infos->size() && !stopped_;) {
      std::vector<uint32_t> whole, first_bytes_only;
      uint64_t bytes = 0;
      for (; i < infos->size() && whole.size() + first_bytes_only.size() < options_.batch_size; ++i) {
        const mail::ImapMessageInfo& info = (*infos)[i];
        const bool oversized = info.size > options_.pipeline.max_message_size;
        const uint64_t cost = oversized ? std::min<uint64_t>(info.size, options_.quarantine_keep_bytes) : info.size;
        if (!(whole.empty() && first_bytes_only.empty()) && bytes + cost > options_.max_batch_bytes) break;
        (oversized ? first_bytes_only : whole).push_back(info.uid);
        bytes += cost;
      }
      auto fetched = c.imap->FetchBatch(whole);
      if (!fetched) return fetched.error();
      if (!first_bytes_only.empty()) {
        auto partial = c.imap->FetchBatch(first_bytes_only, static_cast<uint32_t>(std::min<uint64_t>(
                                                                 options_.quarantine_keep_bytes, UINT32_MAX)));
        if (!partial) return partial.error();
        for (auto& m : *partial) fetched->push_back(std::move(m));
        std::sort(fetched->begin(), fetched->end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
      }
      if (auto s = decide_batch(*fetched); !s.ok()) return s;
    }
  }
  return {};
}

base::Status MailboxWorker::RunOnce() {
  Connection c;
  if (auto s = Connect(c); !s.ok()) return s;
  base::Status result = Pass(c);
  if (!result.ok()) result = result.error().WithContext("mailbox " + name());
  if (c.store) (void)c.store->NoteMailboxPass(name(), result.ok() ? "" : result.error().message);
  if (c.imap) (void)c.imap->Logout();
  return result;
}

void MailboxWorker::Run() {
  const std::string& name = options_.pipeline.mailbox;
  std::chrono::milliseconds backoff{1000};
  Connection c;
  while (!stopped_) {
    base::Status s = Connect(c);
    if (s.ok()) s = Pass(c);
    if (!s.ok()) {
      const std::string message = s.error().message.find("mailbox " + name) == std::string::npos
                                      ? "mailbox " + name + ": " + s.error().message
                                      : s.error().message;
      if (lock_busy_) {
        // Another daemon works this mailbox; check often, so that we take over within seconds when it dies.
        base::LogDebug(message);
        if (!Wait(kLockRetry)) break;
        continue;
      }
      base::LogError(message + "; retrying in about " + std::to_string(backoff.count() / 1000) + " s");
      if (c.store) (void)c.store->NoteMailboxPass(name, message);
      // Start afresh: a session or connection that failed may be in any state.
      c.imap.reset();
      c.store.reset();
      if (!Wait(WithJitter(backoff))) break;
      backoff = std::min(backoff * 2, options_.max_backoff);
      continue;
    }
    backoff = std::chrono::milliseconds(1000);
    (void)c.store->NoteMailboxPass(name, "");
    if (options_.idle && c.imap->HasCapability("IDLE")) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopped_) break;
        idling_ = c.imap.get();
      }
      auto idled = c.imap->Idle(std::min<std::chrono::milliseconds>(options_.poll_interval, std::chrono::minutes(25)));
      {
        std::lock_guard<std::mutex> lock(mutex_);
        idling_ = nullptr;
      }
      if (!idled) {
        base::LogWarning("mailbox " + name + ": IDLE failed: " + idled.error().message + "; reconnecting");
        c.imap.reset();
      }
    } else if (!Wait(options_.poll_interval)) {
      break;
    }
  }
  if (c.imap) (void)c.imap->Logout();
}

}  // namespace mailforumd
