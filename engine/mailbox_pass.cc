#include "engine/mailbox_pass.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "base/log.h"

namespace engine {
namespace {

// Sizes are asked for this many messages at a time (a few dozen bytes each).
constexpr size_t kInfoChunk = 1000;

// A message during which this many processes died is quarantined unparsed.
constexpr int kDeathsToQuarantine = 2;

// The lookup of one batch. A batch is decided before it is recorded, so a
// reply fetched in the same batch as the message it answers would not find
// that message's thread (its Message-ID reaches the ledger only when
// recorded) and would open a thread of its own. This lookup notes when a
// decision asked for the Message-ID of a post decided earlier in the batch;
// the pass then records the batch so far and decides again.
class BatchLookup : public ForumLookup {
 public:
  explicit BatchLookup(ForumLookup& inner) : inner_(inner) {}
  base::Result<bool> ThreadExists(int64_t id) override { return inner_.ThreadExists(id); }
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override {
    for (const std::string& id : ids) refers_to_pending_ = refers_to_pending_ || pending_.count(id) > 0;
    return inner_.FindThreadByMessageIds(ids);
  }
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) override {
    return inner_.CountThreadsOpenedSince(address, seconds);
  }
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) override {
    return inner_.FindThreadAudience(thread_id);
  }
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) override {
    return inner_.FindPostByMessageId(message_id);
  }
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids) override {
    return inner_.MailedDomain(domain, outbox_id, message_ids);
  }
  base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id) override {
    return inner_.FindUnsubscribeTarget(outbox_id);
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
  ForumLookup& inner_;
  std::set<std::string> pending_;
  bool refers_to_pending_ = false;
};

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

  base::Status Run() {
    if (auto s = CheckLock(); !s.ok()) return s;
    if (auto s = SelectAndReconcileCursor(); !s.ok()) return s;
    if (auto s = FinishOwedPostActions(); !s.ok()) return s;
    auto uids = source_.UidsFrom(last_uid_ + 1);
    if (!uids) return uids.error();
    if (auto s = TakeCrash(*uids); !s.ok()) return s;
    return FetchAndIngest(*uids);
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
  base::Status SelectAndReconcileCursor() {
    auto selected = source_.Select(o_.folder);
    if (!selected) return selected.error();
    uidvalidity_ = *selected;
    auto state = ledger_.GetMailboxState(name_);
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

  // Size first: the sizes of up to kInfoChunk messages, then batches bounded by count and bytes.
  base::Status FetchAndIngest(const std::vector<uint32_t>& uids) {
    for (size_t start = 0; start < uids.size() && !stopped_; start += kInfoChunk) {
      const std::vector<uint32_t> chunk(
          uids.begin() + static_cast<std::ptrdiff_t>(start),
          uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), start + kInfoChunk)));
      auto infos = source_.FetchInfo(chunk);
      if (!infos) return infos.error();
      for (size_t i = 0; i < infos->size() && !stopped_;) {
        auto fetched = FetchNextBatch(*infos, i);
        if (!fetched) return fetched.error();
        if (auto s = IngestBatch(*fetched); !s.ok()) return s;
      }
    }
    return {};
  }

  // The next batch from infos[i...] (advancing i): whole messages, and the
  // first bytes of those over max_message_size; in ascending UID order.
  base::Result<std::vector<mail::ImapMessage>> FetchNextBatch(const std::vector<mail::ImapMessageInfo>& infos,
                                                              size_t& i) {
    std::vector<uint32_t> whole, first_bytes_only;
    uint64_t bytes = 0;
    for (; i < infos.size() && whole.size() + first_bytes_only.size() < o_.batch_size; ++i) {
      const bool oversized = infos[i].size > o_.pipeline.max_message_size;
      const uint64_t cost =
          oversized ? std::min<uint64_t>(infos[i].size, o_.quarantine_keep_bytes) : infos[i].size;
      if (!(whole.empty() && first_bytes_only.empty()) && bytes + cost > o_.max_batch_bytes) break;
      (oversized ? first_bytes_only : whole).push_back(infos[i].uid);
      bytes += cost;
    }
    auto fetched = source_.FetchBatch(whole, 0);
    if (!fetched) return fetched.error();
    if (!first_bytes_only.empty()) {
      auto partial = source_.FetchBatch(
          first_bytes_only, static_cast<uint32_t>(std::min<uint64_t>(o_.quarantine_keep_bytes, UINT32_MAX)));
      if (!partial) return partial.error();
      for (auto& m : *partial) fetched->push_back(std::move(m));
    }
    std::sort(fetched->begin(), fetched->end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
    return fetched;
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

  // Decides the messages of one fetched batch (ascending UIDs) and records them.
  base::Status IngestBatch(std::vector<mail::ImapMessage>& fetched) {
    Decided batch;
    lookup_.ClearPending();
    for (auto& m : fetched) {
      FetchedMessage f{uidvalidity_, m.uid, std::move(m.raw), m.size};
      if (auto admitted = Admit(m, f)) {
        batch.items.push_back(std::move(*admitted));
      } else {
        auto item = DecideInBatch(f, batch);
        if (!item) return item.error();
        lookup_.AddPending(*item);
        batch.items.push_back(std::move(item).value());
      }
      batch.raws.push_back(std::move(f));
    }
    return Record(batch);
  }

  // Decides `f`; when it answers a message of `batch` not yet recorded,
  // records the batch so far (so the thread match sees that message) and
  // decides again.
  base::Result<forum::InboundItem> DecideInBatch(const FetchedMessage& f, Decided& batch) {
    if (auto s = ledger_.NoteWorking(name_, uidvalidity_, f.uid, owner_); !s.ok()) return s.error();
    if (o_.before_decide) o_.before_decide(f.raw);
    auto item = Decide(f, o_.pipeline, lookup_);
    if (!item || !lookup_.TakeRefersToPending()) return item;
    if (auto s = Record(batch); !s.ok()) return s.error();
    batch = Decided{};
    lookup_.ClearPending();
    return Decide(f, o_.pipeline, lookup_);
  }

  // Records `batch` in one transaction, quarantines what the ledger refused,
  // then does the post-actions.
  base::Status Record(const Decided& batch) {
    if (batch.items.empty()) return {};
    // Deciding is over: a death from here on is not the fault of the last message decided.
    if (auto s = ledger_.NoteWorking(name_, uidvalidity_, 0, owner_); !s.ok()) return s.error();
    auto recorded = ledger_.RecordBatch(batch.items, o_.domain);
    if (!recorded) return recorded.error();
    if (o_.on_mail_queued && std::any_of(batch.items.begin(), batch.items.end(),
                                         [](const auto& item) { return !item.outbox.empty(); })) {
      o_.on_mail_queued();
    }
    auto refused = QuarantineRefused(batch, *recorded);
    if (!refused) return refused.error();
    PostActions actions;
    size_t posted = 0;
    for (const auto& item : batch.items) {
      if (refused->count(item.uid) > 0 || item.outcome == forum::Outcome::kQuarantined) {
        actions.quarantined.push_back(item.uid);
      } else if (item.outcome == forum::Outcome::kTooOld) {
        actions.untouched.push_back(item.uid);
      } else {
        actions.normal.push_back(item.uid);
        if (item.outcome == forum::Outcome::kPosted) ++posted;
      }
    }
    if (posted > 0) FillReplyAddresses();
    if (auto s = ApplyPostActions(actions); !s.ok()) return s.error();
    base::LogInfo("mailbox " + name_ + ": " + std::to_string(batch.items.size()) + " message(s), " +
                  std::to_string(posted) + " posted, " + std::to_string(actions.quarantined.size()) +
                  " quarantined");
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
};

}  // namespace

base::Status RunMailboxPass(const MailboxPassOptions& options, MailSource& source, InboundLedger& ledger,
                            const std::string& owner, const std::atomic<bool>& stopped) {
  return Pass(options, source, ledger, owner, stopped).Run();
}

}  // namespace engine
