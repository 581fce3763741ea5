#include "engine/testing/fakes.h"

#include <algorithm>
#include <functional>
#include <mutex>

namespace engine::testing {
namespace {

base::Error Dead() { return base::Error{base::ErrorKind::kTransient, "connection lost (an earlier fault)"}; }

}  // namespace

std::vector<uint32_t> FakeMailbox::In(const std::string& folder) const {
  std::vector<uint32_t> out;
  for (const auto& [uid, m] : messages) {
    if (m.folder == folder) out.push_back(uid);
  }
  return out;
}

std::vector<uint32_t> FakeMailbox::SeenIn(const std::string& folder) const {
  std::vector<uint32_t> out;
  for (const auto& [uid, m] : messages) {
    if (m.folder == folder && m.seen) out.push_back(uid);
  }
  return out;
}

FakeMailSource::InCall::InCall(FakeMailSource& source, SourceOp op, const std::vector<uint32_t>& uids)
    : source_(source) {
  if (source_.in_call_.exchange(true)) ++source_.overlaps_;
  if (source_.on_call) source_.on_call(op, uids);
}

std::optional<base::Error> FakeMailSource::Check(SourceOp op) {
  ++calls_[op];
  if (dead_) return Dead();
  if (!fault_ || fault_->op != op) return std::nullopt;
  if (fault_->skip-- > 0) return std::nullopt;
  base::Error error = std::move(fault_->error);
  dead_ = fault_->connection == Connection::kDropped;
  fault_.reset();
  return error;
}

base::Result<uint32_t> FakeMailSource::Select(const std::string& folder) {
  InCall call(*this, SourceOp::kSelect);
  if (auto e = Check(SourceOp::kSelect)) return *e;
  folder_ = folder;
  return box_.uidvalidity;
}

base::Result<std::vector<uint32_t>> FakeMailSource::UidsFrom(uint32_t first_uid) {
  InCall call(*this, SourceOp::kUidsFrom);
  if (auto e = Check(SourceOp::kUidsFrom)) return *e;
  std::vector<uint32_t> out;
  for (uint32_t uid : box_.In(folder_)) {
    if (uid >= first_uid) out.push_back(uid);
  }
  return out;
}

base::Result<std::vector<mail::ImapMessageInfo>> FakeMailSource::FetchInfo(
    const std::vector<uint32_t>& uids) {
  InCall call(*this, SourceOp::kFetchInfo, uids);
  if (auto e = Check(SourceOp::kFetchInfo)) return *e;
  std::vector<mail::ImapMessageInfo> out;
  for (uint32_t uid : uids) {
    auto it = box_.messages.find(uid);
    if (it == box_.messages.end() || it->second.folder != folder_) continue;
    out.push_back({uid, static_cast<uint32_t>(it->second.raw.size()), it->second.internal_date});
  }
  return out;
}

base::Result<std::vector<mail::ImapMessage>> FakeMailSource::FetchBatch(const std::vector<uint32_t>& uids,
                                                                        uint32_t max_bytes) {
  InCall call(*this, SourceOp::kFetchBatch, uids);
  if (auto e = Check(SourceOp::kFetchBatch)) return *e;
  std::vector<mail::ImapMessage> out;
  for (uint32_t uid : uids) {
    auto it = box_.messages.find(uid);
    if (it == box_.messages.end() || it->second.folder != folder_) continue;
    const std::string& raw = it->second.raw;
    out.push_back({uid, max_bytes ? raw.substr(0, max_bytes) : raw, static_cast<uint32_t>(raw.size()),
                   it->second.internal_date});
  }
  return out;
}

base::Status FakeMailSource::MarkSeen(const std::vector<uint32_t>& uids) {
  InCall call(*this, SourceOp::kMarkSeen, uids);
  if (auto e = Check(SourceOp::kMarkSeen)) return *e;
  for (uint32_t uid : uids) box_.messages[uid].seen = true;
  return {};
}

base::Status FakeMailSource::Move(const std::vector<uint32_t>& uids, const std::string& folder) {
  InCall call(*this, SourceOp::kMove, uids);
  if (auto e = Check(SourceOp::kMove)) return *e;
  for (uint32_t uid : uids) box_.messages[uid].folder = folder;
  return {};
}

base::Status FakeMailSource::Delete(const std::vector<uint32_t>& uids) {
  InCall call(*this, SourceOp::kDelete, uids);
  if (auto e = Check(SourceOp::kDelete)) return *e;
  for (uint32_t uid : uids) box_.messages.erase(uid);
  return {};
}

std::optional<FakeLedger::Fault> FakeLedger::Check(LedgerOp op) {
  if (!fault_ || fault_->op != op) return std::nullopt;
  if (fault_->skip-- > 0) return std::nullopt;
  std::optional<Fault> fault = std::move(fault_);
  fault_.reset();
  return fault;
}

base::Result<bool> FakeLedger::ThreadExists(int64_t id) {
  const std::lock_guard lock(mu_);
  return thread_author_.count(id) > 0;
}

base::Result<std::optional<int64_t>> FakeLedger::FindThreadByMessageIds(const std::vector<std::string>& ids) {
  const std::lock_guard lock(mu_);
  ++thread_lookups;
  if (auto f = Check(LedgerOp::kLookup)) return f->error;
  for (const std::string& id : ids) {
    if (auto it = thread_of_id_.find(id); it != thread_of_id_.end())
      return std::optional<int64_t>(it->second);
  }
  return std::optional<int64_t>();
}

base::Result<std::map<std::string, int64_t>> FakeLedger::FindThreadsOfMessageIds(
    const std::vector<std::string>& ids) {
  const std::lock_guard lock(mu_);
  ++batch_thread_lookups;
  if (auto f = Check(LedgerOp::kLookup)) return f->error;
  std::map<std::string, int64_t> out;
  for (const std::string& id : ids) {
    if (auto it = thread_of_id_.find(id); it != thread_of_id_.end()) out[id] = it->second;
  }
  return out;
}

base::Result<int64_t> FakeLedger::CountThreadsOpenedSince(const std::string&, int64_t) { return int64_t{0}; }

base::Result<std::optional<forum::ThreadAudience>> FakeLedger::FindThreadAudience(int64_t thread_id) {
  const std::lock_guard lock(mu_);
  auto it = thread_author_.find(thread_id);
  if (it == thread_author_.end()) return std::optional<forum::ThreadAudience>();
  forum::ThreadAudience audience;
  audience.thread_id = thread_id;
  audience.author_address = it->second;
  return std::optional<forum::ThreadAudience>(audience);
}

base::Result<std::optional<forum::PostRef>> FakeLedger::FindPostByMessageId(const std::string&) {
  return std::optional<forum::PostRef>();
}

base::Result<bool> FakeLedger::MailedDomain(const std::string&, std::optional<int64_t>,
                                            const std::vector<std::string>&) {
  return false;
}

base::Result<bool> FakeLedger::HoldsMailboxLock(const std::string&) {
  const std::lock_guard lock(mu_);
  return holds_lock;
}

base::Result<std::optional<forum::MailboxState>> FakeLedger::GetMailboxState(const std::string& mailbox) {
  const std::lock_guard lock(mu_);
  auto it = mailboxes_.find(mailbox);
  if (it == mailboxes_.end()) return std::optional<forum::MailboxState>();
  return std::optional<forum::MailboxState>(it->second);
}

base::Status FakeLedger::ResetMailbox(const std::string& mailbox, uint32_t uidvalidity) {
  const std::lock_guard lock(mu_);
  forum::MailboxState& state = mailboxes_[mailbox];
  if (state.uidvalidity == 0) state.first_contact = std::chrono::system_clock::now();
  state.uidvalidity = uidvalidity;
  state.last_uid = 0;
  ++resets;
  return {};
}

base::Result<std::vector<forum::PendingPostAction>> FakeLedger::PendingPostActions(const std::string& mailbox,
                                                                                   uint32_t uidvalidity) {
  const std::lock_guard lock(mu_);
  ++owed_reads;
  std::vector<forum::PendingPostAction> out;
  for (const auto& [key, row] : rows) {
    if (std::get<0>(key) == mailbox && std::get<1>(key) == uidvalidity && !row.post_action_done &&
        row.outcome != forum::Outcome::kTooOld) {
      out.push_back({std::get<2>(key), row.outcome});
    }
  }
  return out;
}

base::Status FakeLedger::MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                             const std::vector<uint32_t>& uids) {
  const std::lock_guard lock(mu_);
  if (auto f = Check(LedgerOp::kMarkPostActionsDone)) return f->error;
  for (uint32_t uid : uids) {
    if (auto it = rows.find({mailbox, uidvalidity, uid}); it != rows.end())
      it->second.post_action_done = true;
  }
  return {};
}

std::vector<base::Result<forum::RecordResult>> FakeLedger::Write(
    const std::vector<forum::InboundItem>& items) {
  std::vector<base::Result<forum::RecordResult>> out;
  for (const forum::InboundItem& item : items) {
    forum::RecordResult result;
    result.outcome = item.outcome;
    const auto key = std::make_tuple(item.mailbox, item.uidvalidity, item.uid);
    if (rows.count(key) > 0) {
      result.already_recorded = true;
    } else {
      Row row{item.message_key, item.outcome, std::nullopt, false};
      if (!keys_.insert(item.message_key).second) {
        row.outcome = result.outcome = forum::Outcome::kDuplicate;
      } else if (item.outcome == forum::Outcome::kPosted && item.post) {
        int64_t thread = item.post->thread_id ? *item.post->thread_id : next_thread_++;
        if (thread < 0) {
          // A placeholder (forum::PostDraft::thread_id): the thread of an earlier item of this batch.
          const size_t index = static_cast<size_t>(-(thread + 1));
          const forum::InboundItem& earlier = items.at(index);
          if (out.at(index) && out[index]->thread_id) {
            thread = *out[index]->thread_id;
          } else if (auto it = thread_of_id_.find(earlier.message_id); it != thread_of_id_.end()) {
            thread = it->second;
          } else {
            out.push_back(base::Error{base::ErrorKind::kInternal, "the message it answers was not stored"});
            continue;
          }
        }
        thread_author_.emplace(thread, item.from_address);
        if (!item.message_id.empty()) thread_of_id_[item.message_id] = thread;
        row.thread_id = result.thread_id = thread;
        ++posts;
        const auto& search = item.post->search;
        if (search && search->text_hash == std::hash<std::string>{}(item.post->body)) ++posts_searched_ahead;
      }
      rows[key] = row;
      forum::MailboxState& state = mailboxes_[item.mailbox];
      state.last_uid = std::max(state.last_uid, item.uid);
    }
    out.push_back(result);
  }
  ++commits;
  return out;
}

base::Result<std::vector<base::Result<forum::RecordResult>>> FakeLedger::RecordBatch(
    const std::vector<forum::InboundItem>& items, const std::string&) {
  if (on_record) on_record(items);
  const std::lock_guard lock(mu_);
  if (auto f = Check(LedgerOp::kRecordBatch)) {
    if (f->commit == Commit::kLostReply) Write(items);
    return f->error;
  }
  return Write(items);
}

base::Result<std::vector<forum::SearchVector>> FakeLedger::MakeSearchVectors(
    const std::vector<std::string>& texts) {
  const std::lock_guard lock(mu_);
  if (auto f = Check(LedgerOp::kMakeSearchVectors)) return f->error;
  std::vector<forum::SearchVector> out;
  size_t bytes = 0;
  for (const std::string& text : texts) bytes += text.size();
  largest_search_call = std::max(largest_search_call, bytes);
  for (const std::string& text : texts) {
    searched.push_back(text);
    out.push_back({"fake", "vector of " + text, std::hash<std::string>{}(text)});
  }
  return out;
}

base::Status FakeLedger::NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid,
                                     const std::string& owner) {
  const std::lock_guard lock(mu_);
  if (auto f = Check(LedgerOp::kNoteWorking)) return f->error;
  noted.push_back(uid);
  Note& note = notes_[mailbox];
  if (note.uid != uid || note.uidvalidity != uidvalidity) note.deaths = 0;
  note.uidvalidity = uidvalidity;
  note.uid = uid;
  note.owner = owner;
  return {};
}

base::Result<std::optional<forum::CrashedWork>> FakeLedger::TakeCrashedWork(const std::string& mailbox,
                                                                            uint32_t uidvalidity,
                                                                            const std::string& owner) {
  const std::lock_guard lock(mu_);
  ++owed_reads;
  auto it = notes_.find(mailbox);
  if (it == notes_.end()) return std::optional<forum::CrashedWork>();
  Note& note = it->second;
  if (note.owner == owner || note.uid == 0 || note.uidvalidity != uidvalidity ||
      rows.count({mailbox, uidvalidity, note.uid}) > 0) {
    return std::optional<forum::CrashedWork>();
  }
  note.owner = owner;
  ++note.deaths;
  return std::optional<forum::CrashedWork>(forum::CrashedWork{note.uid, note.deaths});
}

base::Result<int> FakeLedger::FillReplyAddresses(const std::function<std::string(int64_t thread_id)>&, int) {
  return 0;
}

}  // namespace engine::testing
