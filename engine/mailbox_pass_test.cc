// The mailbox pass under faults, on the fakes of engine/testing/fakes.h:
// whatever fails and wherever, the next pass ends with every message
// recorded and posted exactly once and every post-action done. Beside, not
// instead of, the kill -9 tests on the real servers (daemon/crash_itest.cc,
// daemon/mailbox_worker_itest.cc, daemon/restart_itest.cc).
#include "engine/mailbox_pass.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "engine/testing/fakes.h"

namespace engine {
namespace {

using Commit = testing::FakeLedger::Commit;
using testing::FakeLedger;
using testing::FakeMailbox;
using testing::FakeMailSource;
using testing::LedgerOp;
using testing::SourceOp;

MailboxPassOptions Options() {
  MailboxPassOptions o;
  o.pipeline.mailbox = "help";
  o.pipeline.reply_to_template = "help+{token}@example.com";
  o.pipeline.reply_key = "mailbox-pass-test-key-0123456789";
  o.pipeline.own_addresses = {"help@example.com"};
  forum::Rule all;
  all.name = "all";
  all.category = "it";
  o.pipeline.rules = {all};
  o.domain = "example.com";
  o.batch_size = 2;
  return o;
}

std::string Mail(const std::string& id, const std::string& in_reply_to = "") {
  std::string raw = "From: Ann <ann@example.org>\r\nTo: help@example.com\r\nSubject: question " + id +
                    "\r\nMessage-ID: <" + id + "@example.org>\r\n";
  if (!in_reply_to.empty()) raw += "In-Reply-To: <" + in_reply_to + "@example.org>\r\n";
  return raw + "Date: Sat, 5 Dec 2026 03:00:00 +0000\r\n\r\nThe printer on floor " + id + " is jammed.\r\n";
}

class MailboxPassTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 1; i <= 5; ++i) box_.Add(Mail("q" + std::to_string(i)));
  }

  // One pass on a fresh connection (as after a crash or a reconnect); `arm` arms its faults.
  // With `memory`, as the same worker's passes (one owner).
  // Every pass: the source (one connection) never serves two calls at once, and none is left running.
  base::Status Pass(const std::function<void(FakeMailSource&)>& arm = {},
                    MailboxPassMemory* memory = nullptr) {
    FakeMailSource source(box_);
    if (arm) arm(source);
    base::Status s =
        RunMailboxPass(options_, source, ledger_, memory ? "worker" : "owner-" + std::to_string(++passes_),
                       stopped_, memory);
    last_fetches_ = source.calls(SourceOp::kFetchBatch);
    EXPECT_EQ(source.overlapping_calls(), 0);
    EXPECT_FALSE(source.in_call());
    return s;
  }

  // Exactly once: each message recorded once, one post per message, all \Seen, nothing owed.
  void ExpectEachPostedOnceAndSeen(size_t n) {
    EXPECT_EQ(ledger_.posts, static_cast<int>(n));
    EXPECT_EQ(ledger_.rows.size(), n);
    std::set<std::string> keys;
    for (const auto& [key, row] : ledger_.rows) {
      EXPECT_EQ(row.outcome, forum::Outcome::kPosted) << row.message_key;
      EXPECT_TRUE(row.post_action_done) << row.message_key;
      keys.insert(row.message_key);
    }
    EXPECT_EQ(keys.size(), n);
    EXPECT_EQ(box_.SeenIn("INBOX").size(), n);
    auto owed = ledger_.PendingPostActions("help", box_.uidvalidity);
    ASSERT_TRUE(owed);
    EXPECT_TRUE(owed->empty());
  }

  MailboxPassOptions options_ = Options();
  FakeMailbox box_;
  FakeLedger ledger_;
  std::atomic<bool> stopped_{false};
  int passes_ = 0;
  int last_fetches_ = 0;
};

base::Error Transient(const std::string& why) { return base::Error{base::ErrorKind::kTransient, why}; }

TEST_F(MailboxPassTest, WithoutFaultsEveryMessageIsPostedOnceAndSeen) {
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
  EXPECT_EQ(ledger_.commits, 3);  // batches of 2, 2, 1
  ASSERT_TRUE(Pass().ok());       // nothing new: nothing fetched or recorded
  EXPECT_EQ(last_fetches_, 0);
  EXPECT_EQ(ledger_.commits, 3);
}

TEST_F(MailboxPassTest, CrashAfterCommitBeforeSeenFinishesTheFlagsWithoutRecordingAgain) {
  // The first batch commits; the process dies before its \Seen reaches the server.
  base::Status s =
      Pass([](FakeMailSource& source) { source.FailNext(SourceOp::kMarkSeen, Transient("killed")); });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(ledger_.posts, 2);
  EXPECT_TRUE(box_.SeenIn("INBOX").empty());
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
}

TEST_F(MailboxPassTest, AfterACleanPassTheNextAsksNothingOwedButAfterAFailedOneItDoes) {
  MailboxPassMemory memory;
  ASSERT_TRUE(Pass({}, &memory).ok());
  EXPECT_TRUE(memory.clean);
  EXPECT_EQ(ledger_.owed_reads, 2);  // the first pass of a worker asks
  box_.Add(Mail("q6"));
  ASSERT_TRUE(Pass({}, &memory).ok());
  EXPECT_EQ(ledger_.owed_reads, 2) << "a clean pass leaves nothing owed";
  // Committed, then the \Seen is lost: the failed pass leaves work owed, which the next one finishes.
  box_.Add(Mail("q7"));
  ASSERT_FALSE(
      Pass([](FakeMailSource& source) { source.FailNext(SourceOp::kMarkSeen, Transient("killed")); }, &memory)
          .ok());
  EXPECT_FALSE(memory.clean);
  ASSERT_TRUE(Pass({}, &memory).ok());
  EXPECT_EQ(ledger_.owed_reads, 4);
  ExpectEachPostedOnceAndSeen(7);
}

TEST_F(MailboxPassTest, CommitWhoseReplyIsLostIsNotRecordedTwice) {
  ledger_.FailNext(LedgerOp::kRecordBatch, Transient("server closed the connection after COMMIT"),
                   Commit::kLostReply);
  ASSERT_FALSE(Pass().ok());
  EXPECT_EQ(ledger_.posts, 2);
  EXPECT_TRUE(box_.SeenIn("INBOX").empty());
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
}

TEST_F(MailboxPassTest, ConnectionDroppedMidPrefetchEndsThePassWithThatErrorAndLosesNothing) {
  // The second batch's FETCH, on the prefetch thread while the first batch is decided, dies on the wire.
  base::Status s = Pass([](FakeMailSource& source) {
    source.FailNext(SourceOp::kFetchBatch, Transient("connection reset mid-FETCH"), /*skip=*/1);
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, base::ErrorKind::kTransient);
  EXPECT_EQ(s.error().message, "connection reset mid-FETCH");
  // The first batch is committed and nothing after it; its \Seen needed the dead connection: owed.
  EXPECT_EQ(ledger_.commits, 1);
  EXPECT_EQ(ledger_.posts, 2);
  EXPECT_EQ(ledger_.rows.size(), 2u);
  EXPECT_TRUE(box_.SeenIn("INBOX").empty());
  auto owed = ledger_.PendingPostActions("help", box_.uidvalidity);
  ASSERT_TRUE(owed);
  EXPECT_EQ(owed->size(), 2u);
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
}

TEST_F(MailboxPassTest, APrefetchErrorOnALiveConnectionStillFlagsTheBatchRecordedMeanwhile) {
  // The sizes of the second chunk fail with a NO: the connection lives, so the batch recorded while they
  // were asked for is flagged, and the pass ends with the error, as a sequential pass would.
  options_.batch_size = 1000;  // batches and size chunks alike: the first 1,000 messages, then the rest
  options_.pipeline.new_threads_per_sender_per_hour = 2000;
  for (int i = 6; i <= 1001; ++i) box_.Add(Mail("q" + std::to_string(i)));
  FakeMailSource source(box_);
  source.FailNext(SourceOp::kFetchInfo, base::Error{base::ErrorKind::kPermanent, "NO sizes"}, /*skip=*/1,
                  FakeMailSource::Connection::kKept);
  base::Status s = RunMailboxPass(options_, source, ledger_, "owner", stopped_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "NO sizes");
  EXPECT_EQ(source.overlapping_calls(), 0);
  EXPECT_EQ(ledger_.commits, 1);
  EXPECT_EQ(ledger_.rows.size(), 1000u);
  EXPECT_EQ(box_.SeenIn("INBOX").size(), 1000u);
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(1001);
}

TEST_F(MailboxPassTest, SerializationFailureAtCommitFlagsNothingAndRetries) {
  ledger_.FailNext(LedgerOp::kRecordBatch,
                   Transient("could not serialize access due to concurrent update (40001)"));
  ASSERT_FALSE(Pass().ok());
  EXPECT_EQ(ledger_.posts, 0);
  EXPECT_EQ(ledger_.commits, 0);
  EXPECT_TRUE(box_.SeenIn("INBOX").empty());  // no post-action before a commit
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
}

TEST_F(MailboxPassTest, MarkingPostActionsDoneFailsAndTheyAreDoneAgainHarmlessly) {
  ledger_.FailNext(LedgerOp::kMarkPostActionsDone, Transient("connection lost"));
  ASSERT_FALSE(Pass().ok());
  EXPECT_EQ(box_.SeenIn("INBOX").size(), 2u);
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
}

TEST_F(MailboxPassTest, ReplyInTheSameBatchJoinsItsQuestionsThread) {
  options_.batch_size = 100;
  box_.Add(Mail("r1", "q1"));
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(6);
  const auto& question = ledger_.rows.at({"help", box_.uidvalidity, 1});
  const auto& reply = ledger_.rows.at({"help", box_.uidvalidity, 6});
  ASSERT_TRUE(question.thread_id && reply.thread_id);
  EXPECT_EQ(*reply.thread_id, *question.thread_id);
  EXPECT_EQ(ledger_.commits, 1);  // the reply found its question in memory: one commit for the batch
}

TEST_F(MailboxPassTest, ABatchAsksTheLedgerItsThreadLookupsAtOnce) {
  // Batches [q1 q2] [q3 q4] [q5 r1] [r2 r3]: r1 and r2 answer questions of earlier batches (in the ledger),
  // r3 answers r2, pending in the same batch, and names an unknown id first.
  box_.Add(Mail("r1", "q1"));
  box_.Add(Mail("r2", "q3"));
  box_.Add(Mail("r3", "r2"));
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(8);
  auto thread_of = [&](uint32_t uid) { return ledger_.rows.at({"help", box_.uidvalidity, uid}).thread_id; };
  EXPECT_EQ(thread_of(6), thread_of(1));
  EXPECT_EQ(thread_of(7), thread_of(3));
  EXPECT_EQ(thread_of(8), thread_of(3));
  EXPECT_EQ(ledger_.thread_lookups, 0) << "a thread was looked up by itself";
  EXPECT_EQ(ledger_.batch_thread_lookups, 2) << "one per batch with replies";
}

TEST_F(MailboxPassTest, ADeathWhileDecidingMakesTheNextPassNoteEachMessageItDecides) {
  // The crash-loop breaker's notes: each message before it is prepared; a batch decided right after its
  // preparing keeps its last message's note while it is decided; "none" (0) after.
  options_.batch_size = 100;
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(ledger_.noted, (std::vector<uint32_t>{1, 2, 3, 4, 5, 0}));
  // A daemon died while deciding a batch of three new messages: its note names the batch's first.
  for (const char* id : {"q6", "q7", "q8"}) box_.Add(Mail(id));
  ASSERT_TRUE(ledger_.NoteWorking("help", box_.uidvalidity, 6, "a-daemon-that-died").ok());
  ledger_.noted.clear();
  ASSERT_TRUE(Pass().ok());
  // The next pass is careful: its first batch ends with the suspect (here: is the suspect alone), and it
  // notes each message before deciding it too, so a second death names it.
  EXPECT_EQ(ledger_.noted, (std::vector<uint32_t>{6, 0, 7, 8, 0, 7, 8, 0}));
  ExpectEachPostedOnceAndSeen(8);
}

TEST_F(MailboxPassTest, ACarefulPassRecordsTheSuspectInItsFirstCommit) {
  // A daemon died preparing UID 4 (batches of 2: [3 4] was prepared while [1 2] was recorded, which never
  // committed). The careful pass's first batch reaches it, within twice the bounds: a kill right after that
  // first commit cannot count a second death against UID 4, as it could were 4 decided in the second batch.
  std::vector<std::vector<uint32_t>> batches;
  ledger_.on_record = [&](const std::vector<forum::InboundItem>& items) {
    batches.emplace_back();
    for (const auto& item : items) batches.back().push_back(item.uid);
  };
  ASSERT_TRUE(ledger_.NoteWorking("help", box_.uidvalidity, 4, "a-daemon-that-died").ok());
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(batches, (std::vector<std::vector<uint32_t>>{{1, 2, 3, 4}, {5}}));
  ExpectEachPostedOnceAndSeen(5);

  // Out of reach (more than twice the bounds away), the suspect ends the first batch that reaches it.
  for (const char* id : {"q6", "q7", "q8", "q9", "q10"}) box_.Add(Mail(id));
  ASSERT_TRUE(ledger_.NoteWorking("help", box_.uidvalidity, 10, "a-daemon-that-died").ok());
  batches.clear();
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(batches, (std::vector<std::vector<uint32_t>>{{6, 7}, {8, 9, 10}}));
  ExpectEachPostedOnceAndSeen(10);
}

TEST_F(MailboxPassTest, NewUidValidityRescansAndRecognisesEveryMessage) {
  ASSERT_TRUE(Pass().ok());
  box_.uidvalidity = 8;  // the server renumbered the folder: the same messages, unflagged
  for (auto& [uid, m] : box_.messages) m.seen = false;
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(ledger_.posts, 5);
  int duplicates = 0;
  for (const auto& [key, row] : ledger_.rows) duplicates += row.outcome == forum::Outcome::kDuplicate;
  EXPECT_EQ(duplicates, 5);
  EXPECT_EQ(box_.SeenIn("INBOX").size(), 5u);
}

TEST_F(MailboxPassTest, APassThatLostTheMailboxLockWritesAndFetchesNothing) {
  // The lock is checked while the folder is selected and the cursor read: a lost lock must still stop
  // the pass before its first write (here the reset a new UIDVALIDITY asks for) and before any FETCH.
  ASSERT_TRUE(Pass().ok());
  const int resets = ledger_.resets;
  box_.uidvalidity = 8;
  box_.Add(Mail("q6"));
  ledger_.holds_lock = false;
  base::Status s = Pass();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("lost the lock"), std::string::npos) << s.error().message;
  EXPECT_EQ(ledger_.resets, resets);
  EXPECT_EQ(last_fetches_, 0);
  EXPECT_EQ(ledger_.rows.size(), 5u);
  ledger_.holds_lock = true;
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(ledger_.resets, resets + 1);
  EXPECT_EQ(ledger_.posts, 6);
}

TEST_F(MailboxPassTest, ALoneNewMessageIsFetchedInOneCommand) {
  ASSERT_TRUE(Pass().ok());
  box_.Add(Mail("q6"));
  int info_calls = 0;
  ASSERT_TRUE(Pass([&](FakeMailSource& source) {
                source.on_call = [&](SourceOp op, const std::vector<uint32_t>&) {
                  if (op == SourceOp::kFetchInfo) ++info_calls;
                };
              }).ok());
  EXPECT_EQ(info_calls, 0);
  EXPECT_EQ(last_fetches_, 1);  // its size and all of it: it is under quarantine_keep_bytes
  ExpectEachPostedOnceAndSeen(6);
}

TEST_F(MailboxPassTest, ALoneOversizedMessageKeepsOnlyItsFirstBytes) {
  options_.pipeline.max_message_size = 300;
  options_.quarantine_keep_bytes = 40;
  ASSERT_TRUE(Pass().ok());  // the five questions are under 300 bytes
  const uint32_t big = box_.Add(Mail("q6") + std::string(1000, 'x') + "\r\n");
  std::vector<forum::InboundItem> recorded;
  ledger_.on_record = [&](const std::vector<forum::InboundItem>& items) { recorded = items; };
  ASSERT_TRUE(Pass().ok());
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].uid, big);
  EXPECT_EQ(recorded[0].outcome, forum::Outcome::kQuarantined);
  EXPECT_EQ(recorded[0].raw, box_.messages.at(big).raw.substr(0, 40));
  EXPECT_NE(recorded[0].reason.find("over max_message_size"), std::string::npos) << recorded[0].reason;
}

TEST_F(MailboxPassTest, ALoneMessageLargerThanItsFirstBytesIsFetchedWhole) {
  options_.pipeline.max_message_size = 3000;
  options_.quarantine_keep_bytes = 40;
  ASSERT_TRUE(Pass().ok());
  const uint32_t long_one = box_.Add(Mail("q6") + std::string(1000, 'x') + "\r\n");
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(last_fetches_, 2);  // its first 40 bytes, then all of it
  ExpectEachPostedOnceAndSeen(6);
  EXPECT_EQ(ledger_.rows.at({"help", box_.uidvalidity, long_one}).outcome, forum::Outcome::kPosted);
}

TEST_F(MailboxPassTest, AStopDuringABatchJoinsThePrefetchAndDropsWhatItFetched) {
  int records = 0;
  ledger_.on_record = [&](const auto&) {
    if (++records == 1) stopped_ = true;  // while the first batch is recorded
  };
  ASSERT_TRUE(Pass().ok());
  // The first batch is recorded and flagged; the second was fetched meanwhile (PEEK: unflagged) and dropped.
  EXPECT_EQ(ledger_.commits, 1);
  EXPECT_EQ(ledger_.rows.size(), 2u);
  EXPECT_EQ(last_fetches_, 2);
  EXPECT_EQ(box_.SeenIn("INBOX"), (std::vector<uint32_t>{1, 2}));
  stopped_ = false;
  ledger_.on_record = {};
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
}

TEST_F(MailboxPassTest, TheNextBatchIsFetchedWhileOneIsRecordedAndFlaggedOnlyAfter) {
  // Batches [1 2] [3 4] [5]. The commit of each batch but the last waits until the next batch's FETCH has
  // begun, which only a fetch on another thread can do; \Seen must find its UIDs recorded. Pass() checks
  // that no two calls of the source overlapped.
  std::mutex mutex;
  std::condition_variable fetch_began;
  int fetches = 0;  // guarded by mutex
  int records = 0;
  auto arm = [&](FakeMailSource& source) {
    source.on_call = [&](SourceOp op, const std::vector<uint32_t>& uids) {
      if (op == SourceOp::kFetchBatch) {
        std::lock_guard<std::mutex> lock(mutex);
        ++fetches;
        fetch_began.notify_all();
      } else if (op == SourceOp::kMarkSeen) {
        for (uint32_t uid : uids) EXPECT_EQ(ledger_.rows.count({"help", box_.uidvalidity, uid}), 1u) << uid;
      }
    };
  };
  ledger_.on_record = [&](const auto&) {
    if (++records == 3) return;
    std::unique_lock<std::mutex> lock(mutex);
    EXPECT_TRUE(fetch_began.wait_for(lock, std::chrono::seconds(30), [&] { return fetches > records; }))
        << "batch " << records + 1 << " was not fetched while batch " << records << " was recorded";
  };
  ASSERT_TRUE(Pass(arm).ok());
  ExpectEachPostedOnceAndSeen(5);
  EXPECT_EQ(ledger_.commits, 3);
}

TEST_F(MailboxPassTest, TheNextBatchIsPreparedWhileOneIsRecorded) {
  // Batches [1 2] [3 4] [5]. The commit of each batch but the last waits until a message of the next batch
  // is being prepared (the test hook runs just before each message is parsed), which only happens when the
  // record runs on another thread; each message is still prepared once and posted once.
  std::mutex mutex;
  std::condition_variable prepared;
  int preparing = 0;  // guarded by mutex
  int records = 0;
  options_.before_decide = [&](std::string_view) {
    std::lock_guard<std::mutex> lock(mutex);
    ++preparing;
    prepared.notify_all();
  };
  ledger_.on_record = [&](const auto&) {
    if (++records == 3) return;
    std::unique_lock<std::mutex> lock(mutex);
    EXPECT_TRUE(prepared.wait_for(lock, std::chrono::seconds(30), [&] { return preparing > 2 * records; }))
        << "batch " << records + 1 << " was not prepared while batch " << records << " was recorded";
  };
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
  EXPECT_EQ(ledger_.commits, 3);
  EXPECT_EQ(preparing, 5);
}

TEST_F(MailboxPassTest, SearchVectorsAreMadeAheadForTheBatchesPreparedWhileOneIsRecorded) {
  // Batches [1 2] [3 4] [5]: the first is prepared before anything is recorded (its record makes its
  // vectors: nothing would overlap), the others while the batch before is recorded.
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
  ASSERT_EQ(ledger_.searched.size(), 3u);
  EXPECT_EQ(ledger_.searched[0], "The printer on floor q3 is jammed.");
  EXPECT_EQ(ledger_.posts_searched_ahead, 3);
}

TEST_F(MailboxPassTest, AFailureToMakeSearchVectorsAheadLeavesThemToTheRecording) {
  ledger_.FailNext(LedgerOp::kMakeSearchVectors, Transient("connection lost"));
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
  EXPECT_EQ(ledger_.searched.size(), 1u);  // batch [3 4] failed; [5] was made ahead
  EXPECT_EQ(ledger_.posts_searched_ahead, 1);
}

TEST_F(MailboxPassTest, AVectorMadeAheadOfABodyThatChangedIsNotUsed) {
  // Thread commands of the thread's proven author leave the body: its vector made ahead is of the old one.
  options_.batch_size = 1;
  options_.pipeline.trusted_authserv_ids = {"example.com"};
  box_.Add(
      "From: Ann <ann@example.org>\r\nTo: help@example.com\r\nSubject: Re: question q1\r\n"
      "Message-ID: <r1@example.org>\r\nIn-Reply-To: <q1@example.org>\r\n"
      "Authentication-Results: example.com; dmarc=pass header.from=example.org\r\n"
      "Date: Sat, 5 Dec 2026 03:00:00 +0000\r\n\r\n#resolved\r\nThanks, it works.\r\n");
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(ledger_.posts, 6);
  EXPECT_EQ(ledger_.searched.size(), 5u);  // each batch but the first
  EXPECT_EQ(ledger_.searched.back(), "#resolved\nThanks, it works.");
  EXPECT_EQ(ledger_.posts_searched_ahead, 4);
}

TEST_F(MailboxPassTest, AStopBetweenBatchesEndsThePassCleanly) {
  stopped_ = true;
  ASSERT_TRUE(Pass().ok());
  EXPECT_EQ(ledger_.posts, 0);
  stopped_ = false;
  ASSERT_TRUE(Pass().ok());
  ExpectEachPostedOnceAndSeen(5);
}

}  // namespace
}  // namespace engine
