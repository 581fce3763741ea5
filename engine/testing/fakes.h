// Fault-injecting fakes of the engine's ports (engine/ports.h), for unit
// tests that run in milliseconds. The model is leveldb's SpecialEnv: a fake
// behaves like the real thing until a test arms a fault, and then its next
// matching operation fails in the chosen way.
//
// FakeMailbox is an IMAP server's state (it outlives connections);
// FakeMailSource is one connection to it: after a fault it is dead, as a
// dropped ImapSession is, and every later call fails. FakeLedger is the
// database: a RecordBatch commits all of its items or none, dedups by
// (mailbox, uidvalidity, uid) and by message key as forum::Store does, and
// advances the mailbox's cursor.
//
// Thread-safety: one thread at a time. A mailbox pass calls its source from
// its prefetch thread too (engine/mailbox_pass.h), handing it over by thread
// start and join; FakeMailSource counts calls that overlap all the same
// (overlapping_calls()), since a connection cannot serve two at once. Its
// hook runs on the calling thread.
#ifndef MAILFORUM_ENGINE_TESTING_FAKES_H_
#define MAILFORUM_ENGINE_TESTING_FAKES_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/ports.h"

namespace engine::testing {

// A folder's messages on the fake server.
struct FakeMailbox {
  struct Stored {
    std::string raw;
    std::string folder = "INBOX";
    bool seen = false;
    std::chrono::system_clock::time_point internal_date = std::chrono::system_clock::now();
  };
  uint32_t uidvalidity = 7;
  uint32_t next_uid = 1;
  std::map<uint32_t, Stored> messages;  // by UID (a moved message keeps its UID here, for simplicity)

  uint32_t Add(std::string raw) {
    messages[next_uid].raw = std::move(raw);
    return next_uid++;
  }
  // The UIDs in `folder`, and of those the ones flagged \Seen.
  std::vector<uint32_t> In(const std::string& folder) const;
  std::vector<uint32_t> SeenIn(const std::string& folder) const;
};

enum class SourceOp { kSelect, kUidsFrom, kFetchInfo, kFetchBatch, kMarkSeen, kMove, kDelete };

class FakeMailSource : public MailSource {
 public:
  explicit FakeMailSource(FakeMailbox& box) : box_(box) {}

  // What a fault leaves of the connection.
  enum class Connection {
    kDropped,  // dead from then on (a FETCH that fails so is a connection dropped mid-FETCH: what had
               // come is lost with the call's error)
    kKept,     // the server said NO: later calls work
  };
  // The (skip + 1)-th next call of `op` fails with `error`.
  void FailNext(SourceOp op, base::Error error, int skip = 0, Connection connection = Connection::kDropped) {
    fault_ = Fault{op, std::move(error), skip, connection};
  }
  bool dead() const { return dead_; }
  int calls(SourceOp op) const { return calls_.count(op) ? calls_.at(op) : 0; }
  // Calls that began while another was in progress, and whether one is.
  int overlapping_calls() const { return overlaps_; }
  bool in_call() const { return in_call_; }
  // Called at the start of each call with its UIDs (none for Select and UidsFrom), on the calling thread.
  std::function<void(SourceOp, const std::vector<uint32_t>& uids)> on_call;

  base::Result<uint32_t> Select(const std::string& folder) override;
  base::Result<std::vector<uint32_t>> UidsFrom(uint32_t first_uid) override;
  base::Result<std::vector<mail::ImapMessageInfo>> FetchInfo(const std::vector<uint32_t>& uids) override;
  base::Result<std::vector<mail::ImapMessage>> FetchBatch(const std::vector<uint32_t>& uids,
                                                          uint32_t max_bytes) override;
  base::Status MarkSeen(const std::vector<uint32_t>& uids) override;
  base::Status Move(const std::vector<uint32_t>& uids, const std::string& folder) override;
  base::Status Delete(const std::vector<uint32_t>& uids) override;

 private:
  struct Fault {
    SourceOp op;
    base::Error error;
    int skip;
    Connection connection;
  };
  // One call in progress, from construction to destruction (counted in calls_ and overlaps_).
  class InCall {
   public:
    InCall(FakeMailSource& source, SourceOp op, const std::vector<uint32_t>& uids = {});
    ~InCall() { source_.in_call_ = false; }
    InCall(const InCall&) = delete;
    InCall& operator=(const InCall&) = delete;

   private:
    FakeMailSource& source_;
  };
  // The error of this call of `op`, if it fails.
  std::optional<base::Error> Check(SourceOp op);

  FakeMailbox& box_;
  std::string folder_;
  std::optional<Fault> fault_;
  bool dead_ = false;
  std::map<SourceOp, int> calls_;
  std::atomic<bool> in_call_{false};
  std::atomic<int> overlaps_{0};
};

enum class LedgerOp { kRecordBatch, kMarkPostActionsDone, kNoteWorking, kLookup, kMakeSearchVectors };

// Thread-safe, as the port asks (a pass records a batch while it prepares the
// next); read the public members once the pass is over.
class FakeLedger : public InboundLedger {
 public:
  // How an armed fault of RecordBatch hits the commit.
  enum class Commit {
    kNone,       // fails before COMMIT: nothing is written (e.g. a serialization failure)
    kLostReply,  // COMMIT succeeds but its reply is lost: everything is written, the caller sees the error
  };
  // The (skip + 1)-th next call of `op` fails with `error` (`commit` says whether a RecordBatch commits
  // first).
  void FailNext(LedgerOp op, base::Error error, Commit commit = Commit::kNone, int skip = 0) {
    fault_ = Fault{op, std::move(error), commit, skip};
  }

  // What was recorded: one row per (mailbox, uidvalidity, uid).
  struct Row {
    std::string message_key;
    forum::Outcome outcome = forum::Outcome::kIgnored;
    std::optional<int64_t> thread_id;
    bool post_action_done = false;
  };
  std::map<std::tuple<std::string, uint32_t, uint32_t>, Row> rows;
  // Called by RecordBatch before it writes (or fails), e.g. to hold a commit until something happened.
  std::function<void(const std::vector<forum::InboundItem>& items)> on_record;
  bool holds_lock = true;  // what HoldsMailboxLock answers (false: the lock was lost)
  int resets = 0;          // calls of ResetMailbox that succeeded
  int posts = 0;    // posts made (at most one per message key)
  int commits = 0;  // RecordBatch transactions that committed
  int owed_reads = 0;  // calls of PendingPostActions and TakeCrashedWork
  std::vector<uint32_t> noted;   // the UID of every NoteWorking that succeeded, in order (0: none)
  int thread_lookups = 0;        // calls of FindThreadByMessageIds
  int batch_thread_lookups = 0;  // calls of FindThreadsOfMessageIds
  std::vector<std::string> searched;  // every text MakeSearchVectors made a vector of, in order
  int posts_searched_ahead = 0;       // posts recorded with a vector made ahead of their body
  size_t largest_search_call = 0;     // the most text one MakeSearchVectors call was given, in bytes

  // ForumLookup: threads are found by the Message-IDs of their posts.
  base::Result<bool> ThreadExists(int64_t id) override;
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override;
  base::Result<std::map<std::string, int64_t>> FindThreadsOfMessageIds(
      const std::vector<std::string>& ids) override;
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) override;
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) override;
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) override;
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids) override;
  // No outbox here: no token names a row.
  base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t) override {
    return std::optional<forum::UnsubscribeTarget>();
  }
  // InboundLedger.
  base::Result<bool> HoldsMailboxLock(const std::string& mailbox) override;
  base::Result<std::optional<forum::MailboxState>> GetMailboxState(const std::string& mailbox) override;
  base::Status ResetMailbox(const std::string& mailbox, uint32_t uidvalidity) override;
  base::Result<std::vector<forum::PendingPostAction>> PendingPostActions(const std::string& mailbox,
                                                                         uint32_t uidvalidity) override;
  base::Status MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                   const std::vector<uint32_t>& uids) override;
  base::Result<std::vector<base::Result<forum::RecordResult>>> RecordBatch(
      const std::vector<forum::InboundItem>& items, const std::string& domain) override;
  base::Result<std::vector<forum::SearchVector>> MakeSearchVectors(
      const std::vector<std::string>& texts) override;
  base::Status NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid,
                           const std::string& owner) override;
  base::Result<std::optional<forum::CrashedWork>> TakeCrashedWork(const std::string& mailbox,
                                                                  uint32_t uidvalidity,
                                                                  const std::string& owner) override;
  base::Result<int> FillReplyAddresses(const std::function<std::string(int64_t thread_id)>& address_for,
                                       int limit) override;

 private:
  struct Fault {
    LedgerOp op;
    base::Error error;
    Commit commit;
    int skip;
  };
  struct Note {
    uint32_t uidvalidity = 0;
    uint32_t uid = 0;
    std::string owner;
    int deaths = 0;
  };
  std::optional<Fault> Check(LedgerOp op);
  // Writes `items` (the transaction's body); returns each item's result.
  std::vector<base::Result<forum::RecordResult>> Write(const std::vector<forum::InboundItem>& items);

  std::optional<Fault> fault_;
  std::map<std::string, forum::MailboxState> mailboxes_;
  std::set<std::string> keys_;                    // message keys recorded
  std::map<std::string, int64_t> thread_of_id_;   // Message-ID → thread
  std::map<int64_t, std::string> thread_author_;  // thread → author
  int64_t next_thread_ = 1;
  std::map<std::string, Note> notes_;  // the crash-loop breaker's note, by mailbox
  std::mutex mu_;                      // guards everything, public members included, during a call
};

}  // namespace engine::testing

#endif  // MAILFORUM_ENGINE_TESTING_FAKES_H_
