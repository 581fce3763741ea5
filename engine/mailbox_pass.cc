#include "engine/mailbox_pass.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "base/ascii.h"
#include "base/log.h"
#include "engine/in_background.h"
#include "engine/search_ahead.h"
#include "engine/telemetry.h"

namespace engine {
namespace {

// Sizes are asked for this many messages at a time (a few dozen bytes each).
constexpr size_t kInfoChunk = 1000;

// A message during which this many processes died is quarantined unparsed.
constexpr int kDeathsToQuarantine = 2;

// The lookup of one batch. A batch is decided whole before it is recorded
// in one transaction, so a message may answer a post decided earlier in the
// same batch and not yet in the ledger. This lookup answers from those
// pending decisions where the ledger cannot: a reply to a pending post joins
// its thread (a thread the batch opens is named by a placeholder,
// -(index of the item that opens it + 1), which RecordBatch resolves; see
// forum::PostDraft::thread_id), a pending post's author is among its
// thread's participants, and the batch's new threads count against their
// sender's hourly limit.
class BatchLookup : public ForumLookup {
 public:
  explicit BatchLookup(ForumLookup& inner) : inner_(inner) {}
  // Asks the ledger the batch's lookups at once (engine::AddBatchLookups), before it is decided.
  base::Status Preload(const std::vector<std::string>& message_ids, const std::vector<std::string>& senders) {
    if (!message_ids.empty()) {
      auto threads = inner_.FindThreadsOfMessageIds(message_ids);
      if (!threads) return threads.error();
      threads_ = std::move(threads).value();
      asked_.insert(message_ids.begin(), message_ids.end());
    }
    if (!senders.empty()) {
      auto counts = inner_.CountThreadsOpenedSinceEach(senders, kNewThreadWindowSeconds);
      if (!counts) return counts.error();
      for (const auto& [sender, count] : *counts) counted_[{sender, kNewThreadWindowSeconds}] = count;
    }
    return {};
  }
  base::Result<bool> ThreadExists(int64_t id) override { return inner_.ThreadExists(id); }
  // The first of `ids` known to the ledger or pending (the ledger wins for an id that is both).
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override {
    if (std::all_of(ids.begin(), ids.end(), [&](const auto& id) { return asked_.count(id) > 0; })) {
      for (const std::string& id : ids) {
        if (auto known = threads_.find(id); known != threads_.end())
          return std::optional<int64_t>(known->second);
        if (auto pending = posts_.find(id); pending != posts_.end())
          return std::optional<int64_t>(pending->second.thread_id);
      }
      return std::optional<int64_t>();
    }
    auto pending = std::find_if(ids.begin(), ids.end(), [&](const auto& id) { return posts_.count(id) > 0; });
    if (pending == ids.end()) return inner_.FindThreadByMessageIds(ids);
    auto known = inner_.FindThreadByMessageIds(std::vector<std::string>(ids.begin(), pending + 1));
    if (!known || known->has_value()) return known;
    return std::optional<int64_t>(posts_.at(*pending).thread_id);
  }
  // The ledger's count is asked once per sender and batch (a batch is decided in well under its window),
  // plus the batch's pending new threads.
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) override {
    const std::string sender = base::AsciiLower(address);
    auto known = counted_.find({sender, seconds});
    if (known == counted_.end()) {
      auto count = inner_.CountThreadsOpenedSince(address, seconds);
      if (!count) return count;
      known = counted_.emplace(std::make_pair(sender, seconds), *count).first;
    }
    auto it = opened_by_.find(sender);
    return known->second + (it == opened_by_.end() ? 0 : it->second);
  }
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) override {
    if (thread_id < 0) {
      auto it = new_threads_.find(thread_id);
      if (it == new_threads_.end()) return std::optional<forum::ThreadAudience>();
      return std::optional<forum::ThreadAudience>(it->second);
    }
    auto audience = inner_.FindThreadAudience(thread_id);
    if (!audience || !audience->has_value()) return audience;
    if (auto it = joined_.find(thread_id); it != joined_.end()) {
      for (const std::string& author : it->second) AddParticipant((*audience)->participants, author);
    }
    return audience;
  }
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) override {
    auto known = inner_.FindPostByMessageId(message_id);
    if (!known || known->has_value()) return known;
    auto it = posts_.find(message_id);
    if (it == posts_.end()) return known;
    return std::optional<forum::PostRef>(it->second);
  }
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids) override {
    return inner_.MailedDomain(domain, outbox_id, message_ids);
  }
  base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id) override {
    return inner_.FindUnsubscribeTarget(outbox_id);
  }
  // `item`, the batch's item number `index`, is decided but not yet recorded.
  void AddPending(const forum::InboundItem& item, size_t index) {
    if (item.outcome != forum::Outcome::kPosted || !item.post) return;
    const int64_t placeholder = -static_cast<int64_t>(index) - 1;
    const std::string author = base::AsciiLower(item.post->author_address);
    int64_t thread = item.post->thread_id.value_or(placeholder);
    if (!item.post->thread_id) {
      forum::ThreadAudience audience;
      audience.thread_id = placeholder;
      audience.category = item.post->category;
      audience.author_address = author;
      audience.participants = {author};
      new_threads_[placeholder] = std::move(audience);
      ++opened_by_[author];
    } else if (thread < 0) {
      if (auto it = new_threads_.find(thread); it != new_threads_.end())
        AddParticipant(it->second.participants, author);
    } else {
      AddParticipant(joined_[thread], author);
    }
    if (!item.message_id.empty())
      posts_.emplace(item.message_id, forum::PostRef{placeholder, thread, author});
  }
  // Everything pending is recorded now (the ledger is asked again for its threads and counts).
  void ClearPending() {
    asked_.clear();
    threads_.clear();
    posts_.clear();
    new_threads_.clear();
    joined_.clear();
    opened_by_.clear();
    counted_.clear();
  }

 private:
  static void AddParticipant(std::vector<std::string>& participants, const std::string& author) {
    if (std::find(participants.begin(), participants.end(), author) == participants.end())
      participants.push_back(author);
  }

  ForumLookup& inner_;
  std::set<std::string> asked_;             // Message-IDs preloaded: the ledger's answer is in threads_
  std::map<std::string, int64_t> threads_;  // the ledger's thread by Message-ID, of those asked
  std::map<std::string, forum::PostRef> posts_;           // pending post by inbound Message-ID
  std::map<int64_t, forum::ThreadAudience> new_threads_;  // by placeholder
  std::map<int64_t, std::vector<std::string>> joined_;    // ledger thread → authors of pending posts in it
  std::map<std::string, int64_t> opened_by_;              // sender → new threads pending
  std::map<std::pair<std::string, int64_t>, int64_t> counted_;  // (sender, seconds) → the ledger's count
};

std::string Ms(std::chrono::steady_clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

// What a batch's post-actions are, by outcome.
struct PostActions {
  std::vector<uint32_t> normal;       // \Seen, moved or deleted as configured
  std::vector<uint32_t> quarantined;  // moved to the quarantine folder
  std::vector<uint32_t> untouched;    // too old: left as they are
};

// A fetched batch's decisions and the messages they were decided from (same order).
struct Decided {
  std::vector<forum::InboundItem> items;
  std::vector<FetchedMessage> raws;
};

// A recorded batch: what is left to do, without its messages.
struct RecordedBatch {
  size_t messages = 0;  // 0: nothing was fetched (all gone meanwhile), nothing to do
  size_t posted = 0;
  PostActions actions;
};

// One fetched batch (ascending UIDs), or the end of the new mail.
struct FetchedBatch {
  bool end = false;  // nothing was left to fetch
  std::vector<mail::ImapMessage> messages;
  uint64_t bytes = 0;                            // of `messages`' raw bytes
  std::chrono::steady_clock::duration took{};    // the fetch's own time
  std::chrono::steady_clock::duration waited{};  // how long the pass stood still for it
  std::chrono::steady_clock::time_point done;    // when it was over
};

// The new messages `uids` as batches, size first: the sizes of up to
// kInfoChunk messages at a time, then batches bounded by batch_size and
// max_batch_bytes (one larger message goes alone), whole messages and the
// first quarantine_keep_bytes of those over max_message_size. A batch that
// can reach `suspect` (a UID; 0: none) within twice those bounds ends with it
// instead, so the suspect of a careful pass is recorded by its first commit.
// Uses the source only, and FETCH is BODY.PEEK: it flags nothing, so a batch
// fetched and then dropped needs nothing undone. Thread-safety: one thread at
// a time.
class BatchFetcher {
 public:
  BatchFetcher(const MailboxPassOptions& options, MailSource& source, const std::vector<uint32_t>& uids,
               uint32_t suspect)
      : o_(options), source_(source), uids_(uids), suspect_(suspect) {}

  // The next batch; `end` once every message has been fetched. Errors: the source's.
  base::Result<FetchedBatch> Next() {
    const auto start = std::chrono::steady_clock::now();
    FetchedBatch batch;
    if (uids_.size() == 1 && next_uid_ == 0) {
      next_uid_ = 1;
      auto lone = FetchLone();
      if (!lone) return lone.error();
      batch.messages = std::move(lone).value();
      batch.end = batch.messages.empty();  // gone meanwhile (expunged by another client)
      return Finish(std::move(batch), start);
    }
    while (next_info_ == infos_.size()) {
      if (next_uid_ == uids_.size()) {
        batch.end = true;
        return batch;
      }
      const auto first = uids_.begin() + static_cast<std::ptrdiff_t>(next_uid_);
      const size_t n = std::min(kInfoChunk, uids_.size() - next_uid_);
      auto infos = source_.FetchInfo(std::vector<uint32_t>(first, first + static_cast<std::ptrdiff_t>(n)));
      if (!infos) return infos.error();
      next_uid_ += n;
      infos_ = std::move(infos).value();
      next_info_ = 0;
    }
    std::vector<uint32_t> whole, first_bytes_only;
    const size_t end = BatchEnd();
    for (; next_info_ < end; ++next_info_) {
      const mail::ImapMessageInfo& info = infos_[next_info_];
      (Oversized(info.size) ? first_bytes_only : whole).push_back(info.uid);
    }
    auto fetched = source_.FetchBatch(whole, 0);
    if (!fetched) return fetched.error();
    batch.messages = std::move(fetched).value();
    if (!first_bytes_only.empty()) {
      auto partial = source_.FetchBatch(
          first_bytes_only, static_cast<uint32_t>(std::min<uint64_t>(o_.quarantine_keep_bytes, UINT32_MAX)));
      if (!partial) return partial.error();
      for (auto& m : *partial) batch.messages.push_back(std::move(m));
    }
    std::sort(batch.messages.begin(), batch.messages.end(),
              [](const auto& a, const auto& b) { return a.uid < b.uid; });
    return Finish(std::move(batch), start);
  }

 private:
  static FetchedBatch Finish(FetchedBatch batch, std::chrono::steady_clock::time_point start) {
    for (const auto& m : batch.messages) batch.bytes += m.raw.size();
    batch.done = std::chrono::steady_clock::now();
    batch.took = batch.done - start;
    return batch;
  }

  // The one message of a pass that found one (the usual pass after IDLE): its size and its first
  // quarantine_keep_bytes in one command, instead of its size first. That is all of most messages, and all
  // that is kept of one over max_message_size; a larger one under it is then fetched whole.
  base::Result<std::vector<mail::ImapMessage>> FetchLone() {
    const auto first = static_cast<uint32_t>(std::min<uint64_t>(o_.quarantine_keep_bytes, UINT32_MAX));
    auto fetched = source_.FetchBatch(uids_, first);
    if (!fetched) return fetched.error();
    const bool cut = std::any_of(fetched->begin(), fetched->end(), [&](const mail::ImapMessage& m) {
      return !Oversized(m.size) && m.raw.size() >= first;
    });
    if (cut) return source_.FetchBatch(uids_, 0);
    return fetched;
  }

  bool Oversized(uint64_t size) const { return size > o_.pipeline.max_message_size; }
  // What a message costs a batch's bytes: what of it is fetched.
  uint64_t Cost(const mail::ImapMessageInfo& info) const {
    return Oversized(info.size) ? std::min<uint64_t>(info.size, o_.quarantine_keep_bytes) : info.size;
  }
  // Of infos_: the first past the batch that starts at next_info_ and holds up to `count` messages and
  // `bytes` (but at least one message).
  size_t EndWithin(size_t count, uint64_t bytes) const {
    size_t i = next_info_;
    for (uint64_t sum = 0; i < infos_.size() && i - next_info_ < count; ++i) {
      if (i > next_info_ && sum + Cost(infos_[i]) > bytes) break;
      sum += Cost(infos_[i]);
    }
    return i;
  }
  // Of infos_: the first past the next batch. It ends with the suspect when that is within twice the bounds.
  size_t BatchEnd() {
    const size_t end = EndWithin(o_.batch_size, o_.max_batch_bytes);
    if (suspect_ == 0) return end;
    const size_t reach = EndWithin(2 * o_.batch_size, 2 * o_.max_batch_bytes);
    for (size_t i = next_info_; i < reach; ++i) {
      if (infos_[i].uid < suspect_) continue;
      const bool found = infos_[i].uid == suspect_;
      suspect_ = 0;  // reached (or gone): from here on batches are as usual
      return found ? i + 1 : end;
    }
    return end;
  }

  const MailboxPassOptions& o_;
  MailSource& source_;
  const std::vector<uint32_t>& uids_;
  uint32_t suspect_;     // see the class comment; 0 once reached
  size_t next_uid_ = 0;  // of uids_: the first whose size is not asked yet
  std::vector<mail::ImapMessageInfo> infos_;
  size_t next_info_ = 0;  // of infos_: the first not fetched yet
};

// A fetched message made ready to decide: decided already at admission, or prepared (engine::Prepare).
struct ReadyMessage {
  FetchedMessage fetched;
  std::optional<forum::InboundItem> admitted;
  PreparedMessage prepared;
};

// A fetched batch made ready to decide (same order), and how long preparing it took.
struct ReadyBatch {
  std::vector<ReadyMessage> messages;
  std::chrono::steady_clock::duration took{};
};

class Pass {
 public:
  Pass(const MailboxPassOptions& options, MailSource& source, InboundLedger& ledger, const std::string& owner,
       const std::atomic<bool>& stopped)
      : o_(options),
        name_(options.pipeline.mailbox),
        source_(source),
        ledger_(ledger),
        owner_(owner),
        stopped_(stopped),
        lookup_(ledger) {}

  // `memory`: see MailboxPassMemory; rewritten at the end.
  base::Status Run(MailboxPassMemory* memory) {
    const MailboxPassMemory before =
        memory ? std::exchange(*memory, MailboxPassMemory{}) : MailboxPassMemory{};
    if (auto s = SelectAndReconcileCursor(); !s.ok()) return s;
    const bool owed = !(before.clean && before.uidvalidity == uidvalidity_);
    if (owed) {
      if (auto s = FinishOwedPostActions(); !s.ok()) return s;
    }
    auto uids = source_.UidsFrom(last_uid_ + 1);
    if (!uids) return uids.error();
    if (owed) {
      if (auto s = TakeCrash(*uids); !s.ok()) return s;
    }
    if (auto s = FetchAndIngest(*uids); !s.ok()) return s;
    if (memory && !crash_) *memory = MailboxPassMemory{true, uidvalidity_};
    return {};
  }

 private:
  // A lost and silently renewed database session no longer holds the mailbox: stop and lock again.
  base::Status CheckLock() {
    auto held = ledger_.HoldsMailboxLock(name_);
    if (!held) return held.error();
    if (!*held)
      return base::Error{base::ErrorKind::kTransient, "lost the lock of mailbox " + name_ + "; relocking"};
    return {};
  }

  // SELECT; a UIDVALIDITY that differs from the ledger's rescans the folder (duplicates are recognised).
  // The lock is checked on its own connection while the folder is selected and the cursor read (neither
  // writes), and its answer is awaited before anything else: a pass after IDLE waits for one database
  // round trip here instead of two.
  base::Status SelectAndReconcileCursor() {
    InBackground<base::Status> lock("check the mailbox lock", [this] { return CheckLock(); });
    auto selected = source_.Select(o_.folder);
    if (!selected) return selected.error();
    auto state = ledger_.GetMailboxState(name_);
    if (auto s = lock.Take(); !s.ok()) return s;
    uidvalidity_ = *selected;
    if (!state) return state.error();
    if (state->has_value() && (*state)->uidvalidity == uidvalidity_) {
      last_uid_ = (*state)->last_uid;
    } else {
      if (state->has_value()) {
        base::LogWarning("mailbox " + name_ + ": UIDVALIDITY changed from " +
                         std::to_string((*state)->uidvalidity) + " to " + std::to_string(uidvalidity_) +
                         "; rescanning (duplicates are recognised)");
      }
      if (auto s = ledger_.ResetMailbox(name_, uidvalidity_); !s.ok()) return s.error();
      state = ledger_.GetMailboxState(name_);
      if (!state) return state.error();
      last_uid_ = 0;
    }
    import_after_ = (*state)->first_contact - o_.import_max_age;
    return {};
  }

  // Mail committed before a crash but not yet flagged, moved or deleted.
  base::Status FinishOwedPostActions() {
    auto pending = ledger_.PendingPostActions(name_, uidvalidity_);
    if (!pending) return pending.error();
    if (pending->empty()) return {};
    PostActions actions;
    for (const auto& p : *pending) {
      (p.outcome == forum::Outcome::kQuarantined ? actions.quarantined : actions.normal).push_back(p.uid);
    }
    base::LogInfo("mailbox " + name_ + ": finishing " + std::to_string(pending->size()) + " post-action(s)");
    return ApplyPostActions(actions);
  }

  base::Status ApplyPostActions(const PostActions& a) {
    if (!a.quarantined.empty()) {
      if (auto s = source_.Move(a.quarantined, o_.quarantine_folder); !s.ok()) return s.error();
    }
    if (!a.normal.empty()) {
      base::Status s;
      switch (o_.after) {
        case MailboxPassOptions::After::kSeen:
          s = source_.MarkSeen(a.normal);
          break;
        case MailboxPassOptions::After::kMove:
          s = source_.Move(a.normal, o_.after_folder);
          break;
        case MailboxPassOptions::After::kDelete:
          s = source_.Delete(a.normal);
          break;
      }
      if (!s.ok()) return s.error();
    }
    std::vector<uint32_t> done = a.normal;
    done.insert(done.end(), a.quarantined.begin(), a.quarantined.end());
    done.insert(done.end(), a.untouched.begin(), a.untouched.end());
    return ledger_.MarkPostActionsDone(name_, uidvalidity_, done);
  }

  // A message during which a daemon died: decided again after one death, quarantined unparsed after two.
  base::Status TakeCrash(const std::vector<uint32_t>& uids) {
    auto crashed = ledger_.TakeCrashedWork(name_, uidvalidity_, owner_);
    if (!crashed) return crashed.error();
    crash_ = *crashed;
    // A message that is no longer in the folder (deleted by someone) needs nothing more.
    if (crash_ && !std::binary_search(uids.begin(), uids.end(), crash_->uid)) crash_.reset();
    if (crash_) {
      base::LogWarning(
          "mailbox " + name_ + ": a daemon died " + std::to_string(crash_->deaths) +
          " time(s) while deciding UID " + std::to_string(crash_->uid) +
          (crash_->deaths >= kDeathsToQuarantine ? "; quarantining it unparsed" : "; trying it once more"));
    }
    return {};
  }

  // Batches overlap: while batch N is decided (lookups), batch N+1 is fetched on a second thread; while N is
  // recorded on that thread, N+1 is prepared (parsed, classified, its rules matched). N's post-actions wait
  // for both, since they use the same connection, and the fetch of N+2 starts after them. A stop between
  // batches drops the batch fetched and prepared meanwhile.
  base::Status FetchAndIngest(const std::vector<uint32_t>& uids) {
    if (stopped_) return {};
    BatchFetcher fetcher(o_, source_, uids, crash_ ? crash_->uid : 0);
    auto batch = fetcher.Next();  // the first: nothing to overlap
    if (batch) batch->waited = batch->took;
    std::optional<ReadyBatch> ready;  // `batch` prepared
    for (;;) {
      if (!batch) return batch.error();
      if (batch->end || stopped_) return {};
      timings_ = {};
      timings_.fetch = batch->took;
      timings_.waited = batch->waited;
      fetched_at_ = batch->done;
      CountFetched(name_, batch->messages.size(), batch->bytes);
      if (!ready) {
        auto prepared = Prepare(batch->messages, /*decided_next=*/true);
        if (!prepared) return prepared.error();
        ready = std::move(prepared).value();
      }
      timings_.prepare = ready->took;
      InBackground<base::Result<FetchedBatch>> next("prefetch mail", [&] { return fetcher.Next(); });
      auto decided = Decide(*ready);
      ready.reset();
      if (!decided) return decided.error();
      InBackground<base::Result<RecordedBatch>> recording("record mail", [&] { return Record(*decided); });
      const auto wait_start = std::chrono::steady_clock::now();
      batch = next.Take();
      if (batch) batch->waited = std::chrono::steady_clock::now() - wait_start;
      if (batch && !batch->end && !stopped_) {
        auto prepared = Prepare(batch->messages, /*decided_next=*/false);
        if (!prepared) return prepared.error();
        ready = std::move(prepared).value();
      }
      auto recorded = recording.Take();
      if (!recorded) return recorded.error();
      // The connection is this thread's again. The post-actions are done even when that fetch failed: its
      // error still ends the pass (at the top of the loop), and post-actions that fail with it stay owed.
      auto done = FinishBatch(*recorded);
      if (!done.ok() && batch) return done;
    }
  }

  // Admission: what is decided without parsing (too old, too large, a crash
  // loop); nullopt for a message the pipeline decides.
  std::optional<forum::InboundItem> Admit(const mail::ImapMessage& m, const FetchedMessage& f) const {
    if (m.internal_date < import_after_) {
      forum::InboundItem old = QuarantineItem(name_, f, "received before first contact minus import_max_age");
      old.outcome = forum::Outcome::kTooOld;
      old.raw.clear();
      return old;
    }
    if (m.size > o_.pipeline.max_message_size) {
      return QuarantineItem(name_, f,
                            "message of " + std::to_string(m.size) + " bytes is over max_message_size (" +
                                std::to_string(o_.pipeline.max_message_size) + "); its first " +
                                std::to_string(f.raw.size()) + " bytes are kept");
    }
    if (crash_ && crash_->uid == f.uid && crash_->deaths >= kDeathsToQuarantine) {
      return QuarantineItem(name_, f,
                            "a daemon died " + std::to_string(crash_->deaths) +
                                " times while deciding this message; quarantined unparsed");
    }
    return std::nullopt;
  }

  // Makes the messages of one fetched batch (ascending UIDs) ready to decide:
  // what admission decides, and the rest prepared, each noted as worked on
  // first (the crash-loop breaker). Asks the ledger nothing else; never uses
  // the source, so it runs while the batch before is recorded. Unless
  // `decided_next` (nothing is recorded meanwhile), the note says "none" at
  // the end; else the last message's note stands until the batch is decided.
  // While a batch is recorded (not `decided_next`), the posts' search vectors
  // are made ahead (SearchAhead), beside the parsing and the recording.
  base::Result<ReadyBatch> Prepare(std::vector<mail::ImapMessage>& fetched, bool decided_next) {
    const auto start = std::chrono::steady_clock::now();
    ReadyBatch batch;
    batch.messages.reserve(fetched.size());
    std::optional<SearchAhead> search;
    if (!decided_next) search.emplace(ledger_);
    for (auto& m : fetched) {
      ReadyMessage& ready = batch.messages.emplace_back();
      ready.fetched = FetchedMessage{uidvalidity_, m.uid, std::move(m.raw), m.size};
      ready.admitted = Admit(m, ready.fetched);
      if (ready.admitted) continue;
      if (auto s = Note(m.uid); !s.ok()) return s.error();
      if (o_.before_decide) o_.before_decide(ready.fetched.raw);
      ready.prepared = engine::Prepare(ready.fetched, o_.pipeline);
      if (search && !ready.prepared.decided) {
        search->Add(batch.messages.size() - 1, ready.prepared.trimmed.trimmed);
      }
    }
    if (search) {
      auto made = search->Finish();
      for (auto& [index, vector] : made) batch.messages[index].prepared.search = std::move(vector);
    }
    if (!decided_next) {
      if (auto s = NoteIdle(); !s.ok()) return s.error();
    }
    batch.took = std::chrono::steady_clock::now() - start;
    return batch;
  }

  // Decides a prepared batch: a reply to a message of the same batch is
  // resolved in memory (BatchLookup), so that the batch is recorded whole,
  // in one transaction. Touches the ledger only, never the source.
  base::Result<Decided> Decide(ReadyBatch& ready) {
    const auto start = std::chrono::steady_clock::now();
    Decided batch;
    lookup_.ClearPending();
    std::vector<std::string> message_ids, senders;
    for (const ReadyMessage& m : ready.messages) {
      if (!m.admitted) AddBatchLookups(m.prepared, message_ids, senders);
    }
    if (auto s = lookup_.Preload(message_ids, senders); !s.ok()) return s.error();
    // The crash-loop breaker's note names each message in a careful pass (one
    // that found a death, crash_), else one message of the batch: the last
    // one prepared when its note still stands, else the first. A death while
    // deciding then makes the next pass careful, which pins it down.
    const bool careful = crash_.has_value();
    bool noted = !careful && NamesOneToDecide(ready);
    for (ReadyMessage& m : ready.messages) {
      if (m.admitted) {
        batch.items.push_back(std::move(*m.admitted));
      } else {
        if (careful || !noted) {
          if (auto s = Note(m.fetched.uid); !s.ok()) return s.error();
          noted = true;
        }
        auto item = engine::Decide(m.fetched, std::move(m.prepared), o_.pipeline, lookup_);
        if (!item) return item.error();
        lookup_.AddPending(*item, batch.items.size());
        batch.items.push_back(std::move(item).value());
      }
      batch.raws.push_back(std::move(m.fetched));
    }
    if (auto s = NoteIdle(); !s.ok()) return s.error();
    timings_.decide = std::chrono::steady_clock::now() - start;
    return batch;
  }

  // Notes `uid` as worked on (0: none) in the ledger, unless the last note
  // of this pass said so already (the pass holds the mailbox's lock: no one
  // else notes on it meanwhile).
  base::Status Note(uint32_t uid) {
    if (noted_ == uid) return {};
    auto s = ledger_.NoteWorking(name_, uidvalidity_, uid, owner_);
    noted_ = s.ok() ? std::optional<uint32_t>(uid) : std::nullopt;
    return s;
  }
  // No message is worked on now: a death from here on is not the fault of the last one noted.
  base::Status NoteIdle() { return Note(0); }
  // Whether the standing note names a message of `ready` that is to be decided.
  bool NamesOneToDecide(const ReadyBatch& ready) const {
    if (!noted_ || *noted_ == 0) return false;
    return std::any_of(ready.messages.begin(), ready.messages.end(),
                       [&](const ReadyMessage& m) { return !m.admitted && m.fetched.uid == *noted_; });
  }

  // Records `batch` in one transaction and quarantines what the ledger
  // refused; what is left to do. Runs while the pass prepares the next batch:
  // it uses the ledger (which takes calls from two threads), never the
  // source, the lookup or the working note.
  base::Result<RecordedBatch> Record(const Decided& batch) {
    RecordedBatch out;
    if (batch.items.empty()) return out;
    const auto record_start = std::chrono::steady_clock::now();
    auto recorded = ledger_.RecordBatch(batch.items, o_.domain);
    timings_.record = std::chrono::steady_clock::now() - record_start;
    if (!recorded) return recorded.error();
    if (o_.on_mail_queued && std::any_of(batch.items.begin(), batch.items.end(),
                                         [](const auto& item) { return !item.outbox.empty(); })) {
      o_.on_mail_queued();
    }
    auto refused = QuarantineRefused(batch, *recorded);
    if (!refused) return refused.error();
    const auto fetch_to_commit = std::chrono::steady_clock::now() - fetched_at_;
    for (size_t i = 0; i < batch.items.size(); ++i) {
      ReportDecided(name_, batch.items[i], (*recorded)[i], fetch_to_commit);
    }
    out.messages = batch.items.size();
    for (const auto& item : batch.items) {
      if (refused->count(item.uid) > 0 || item.outcome == forum::Outcome::kQuarantined) {
        out.actions.quarantined.push_back(item.uid);
      } else if (item.outcome == forum::Outcome::kTooOld) {
        out.actions.untouched.push_back(item.uid);
      } else {
        out.actions.normal.push_back(item.uid);
        if (item.outcome == forum::Outcome::kPosted) ++out.posted;
      }
    }
    if (out.posted > 0) FillReplyAddresses();
    return out;
  }

  // The post-actions of a recorded batch, and its log line.
  base::Status FinishBatch(const RecordedBatch& batch) {
    if (batch.messages == 0) return {};
    const auto after_start = std::chrono::steady_clock::now();
    if (auto s = ApplyPostActions(batch.actions); !s.ok()) return s.error();
    const auto after = std::chrono::steady_clock::now() - after_start;
    // Tests and operators wait for "N message(s), ": the timings go last. The fetch overlapped the
    // batch before; "waited" is how long the pass stood still for it.
    base::LogInfo("mailbox " + name_ + ": " + std::to_string(batch.messages) + " message(s), " +
                  std::to_string(batch.posted) + " posted, " +
                  std::to_string(batch.actions.quarantined.size()) + " quarantined (fetch " +
                  Ms(timings_.fetch) + ", waited " + Ms(timings_.waited) + ", prepare " +
                  Ms(timings_.prepare) + ", decide " + Ms(timings_.decide) + ", record " +
                  Ms(timings_.record) + ", post-actions " + Ms(after) + ")");
    return {};
  }

  // What the ledger refused is poison: quarantined, so the mailbox goes on. Their UIDs.
  base::Result<std::set<uint32_t>> QuarantineRefused(
      const Decided& batch, const std::vector<base::Result<forum::RecordResult>>& recorded) {
    std::vector<forum::InboundItem> poison;
    std::set<uint32_t> uids;
    for (size_t i = 0; i < recorded.size(); ++i) {
      if (recorded[i]) continue;
      base::LogError("mailbox " + name_ + " UID " + std::to_string(batch.items[i].uid) +
                     ": cannot store, quarantining: " + recorded[i].error().message);
      poison.push_back(
          QuarantineItem(name_, batch.raws[i], "could not be stored: " + recorded[i].error().message));
      uids.insert(batch.items[i].uid);
    }
    if (poison.empty()) return uids;
    auto again = ledger_.RecordBatch(poison, o_.domain);
    if (!again) return again.error();
    for (const auto& r : *again) {
      if (!r) return r.error();
    }
    return uids;
  }

  // Not fatal: the web says replies are not open yet, and the next batch (or a restart) fills it.
  void FillReplyAddresses() {
    if (!o_.reply_address_for) return;
    if (auto filled = ledger_.FillReplyAddresses(o_.reply_address_for, 1000); !filled) {
      base::LogWarning("mailbox " + name_ + ": cannot fill reply addresses: " + filled.error().message);
    }
  }

  const MailboxPassOptions& o_;
  const std::string& name_;
  MailSource& source_;
  InboundLedger& ledger_;
  const std::string& owner_;
  const std::atomic<bool>& stopped_;
  BatchLookup lookup_;
  uint32_t uidvalidity_ = 0;
  uint32_t last_uid_ = 0;
  std::chrono::system_clock::time_point import_after_;
  std::optional<forum::CrashedWork> crash_;
  std::optional<uint32_t> noted_;  // the last note of this pass (Note), if known
  // Where the time of the current batch went (its log line says).
  struct {
    std::chrono::steady_clock::duration fetch{}, waited{}, prepare{}, decide{}, record{};
  } timings_;
  std::chrono::steady_clock::time_point fetched_at_ = std::chrono::steady_clock::now();  // of the last batch
};

}  // namespace

base::Status RunMailboxPass(const MailboxPassOptions& options, MailSource& source, InboundLedger& ledger,
                            const std::string& owner, const std::atomic<bool>& stopped,
                            MailboxPassMemory* memory) {
  return Pass(options, source, ledger, owner, stopped).Run(memory);
}

}  // namespace engine
