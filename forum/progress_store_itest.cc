// Store's crash-loop breaker notes (NoteWorking, TakeCrashedWork) against the
// real PostgreSQL of scripts/test: a note left by another owner on a message
// never recorded counts one death, once; the owner's own note counts none; a
// recorded message or another UIDVALIDITY clears nothing into a death.
#include <gtest/gtest.h>

#include "forum/inbound.h"
#include "forum/store_fixture.h"

namespace forum {
namespace {

class ProgressStoreTest : public ScratchStoreTest {
 protected:
  ProgressStoreTest() : ScratchStoreTest("progress", {{"general", "General", ""}}) {}

  void SetUp() override {
    ScratchStoreTest::SetUp();
    if (store_) {
      ASSERT_TRUE(store_->ResetMailbox("box", 7).ok());
    }
  }
};

TEST_F(ProgressStoreTest, AnotherOwnersNoteOnAnUnrecordedMessageIsOneDeathCountedOnce) {
  ASSERT_TRUE(store_->NoteWorking("box", 7, 42, "dead-process").ok());
  auto first = store_->TakeCrashedWork("box", 7, "me");
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->uid, 42u);
  EXPECT_EQ((*first)->deaths, 1);
  // Asked again by the same process (its next pass): the same death, not a second one.
  auto again = store_->TakeCrashedWork("box", 7, "me");
  ASSERT_TRUE(again && again->has_value());
  EXPECT_EQ((*again)->deaths, 1);
  // It decides other messages first, then the same one once more, and dies: the next process counts two.
  ASSERT_TRUE(store_->NoteWorking("box", 7, 41, "me").ok());
  ASSERT_TRUE(store_->NoteWorking("box", 7, 42, "me").ok());
  auto second = Open()->TakeCrashedWork("box", 7, "next-process");
  ASSERT_TRUE(second && second->has_value());
  EXPECT_EQ((*second)->uid, 42u);
  EXPECT_EQ((*second)->deaths, 2);
  // A death on another message starts that message's count afresh: random kills do not add up.
  ASSERT_TRUE(store_->NoteWorking("box", 7, 43, "next-process").ok());
  auto other = store_->TakeCrashedWork("box", 7, "third-process");
  ASSERT_TRUE(other && other->has_value());
  EXPECT_EQ((*other)->uid, 43u);
  EXPECT_EQ((*other)->deaths, 1);
}

TEST_F(ProgressStoreTest, OwnNotesRecordedMessagesAndOtherUidValiditiesAreNoDeath) {
  ASSERT_TRUE(store_->NoteWorking("box", 7, 42, "me").ok());
  auto own = store_->TakeCrashedWork("box", 7, "me");
  ASSERT_TRUE(own);
  EXPECT_FALSE(own->has_value()) << "a process's own note after a handled error is no death";
  auto other_validity = store_->TakeCrashedWork("box", 8, "someone-else");
  ASSERT_TRUE(other_validity);
  EXPECT_FALSE(other_validity->has_value());
  // Deciding is over (uid 0): a process that dies while recording is not the message's fault.
  ASSERT_TRUE(store_->NoteWorking("box", 7, 0, "dead-process").ok());
  auto idle = store_->TakeCrashedWork("box", 7, "me");
  ASSERT_TRUE(idle);
  EXPECT_FALSE(idle->has_value());
  // A note on a message that was recorded after all (the process died after its commit) is no death.
  InboundItem item;
  item.mailbox = "box";
  item.uidvalidity = 7;
  item.uid = 43;
  item.message_key = "sha256:progress-test";
  item.outcome = Outcome::kIgnored;
  ASSERT_TRUE(store_->RecordBatch({item}, "example.com"));
  ASSERT_TRUE(store_->NoteWorking("box", 7, 43, "dead-process").ok());
  auto recorded = store_->TakeCrashedWork("box", 7, "me");
  ASSERT_TRUE(recorded);
  EXPECT_FALSE(recorded->has_value());
  EXPECT_EQ(Scalar("SELECT coalesce(working_uid::text, 'none') FROM mailbox_state WHERE mailbox = 'box'"), "none");
}

}  // namespace
}  // namespace forum
