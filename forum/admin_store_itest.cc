// The operations side of Store (trace, quarantine, read-only sessions)
// against the real PostgreSQL of scripts/test.
#include <gtest/gtest.h>

#include "forum/scratch_database.h"
#include "forum/store.h"
#include "forum/store_fixture.h"
#include "tests/support/test_env.h"

namespace forum {
namespace {

constexpr char kDomain[] = "help.example";

class AdminStoreTest : public ScratchStoreTest {
 protected:
  AdminStoreTest() : ScratchStoreTest("admin", {{"general", "General", ""}}) {}

  // A message of alice's with this Message-ID, posted as a new thread or quarantined.
  static InboundItem Message(uint32_t uid, const std::string& message_id, Outcome outcome) {
    InboundItem item;
    item.mailbox = "help";
    item.uidvalidity = 1;
    item.uid = uid;
    item.message_id = message_id;
    item.from_address = "alice@example.com";
    item.message_key = message_id + " alice@example.com";
    item.classification = Classification::kNormal;
    item.outcome = outcome;
    item.reason = outcome == Outcome::kQuarantined ? "rule hold" : "new thread";
    item.raw = "Subject: x\r\n\r\nbody\r\n";
    if (outcome == Outcome::kPosted) {
      PostDraft post;
      post.category = "general";
      post.subject = "Printer";
      post.author_address = item.from_address;
      post.body = "The printer is out of toner.";
      item.post = post;
      item.outbox = {{OutboxKind::kAcknowledgement, item.from_address}};
    }
    return item;
  }

  RecordResult Record(const InboundItem& item) {
    auto batch = store_->RecordBatch({item}, kDomain);
    EXPECT_TRUE(batch && (*batch)[0]);
    return batch && (*batch)[0] ? *(*batch)[0] : RecordResult{};
  }

  int64_t InboundId(uint32_t uid) {
    return std::stoll(
        *QueryScalar(dsn_, "SELECT id FROM inbound_messages WHERE uid = " + std::to_string(uid)));
  }

};

TEST_F(AdminStoreTest, ReprocessPostsInPlaceOrBecomesADuplicate) {
  Record(Message(1, "held@x", Outcome::kQuarantined));
  Record(Message(2, "copy@x", Outcome::kQuarantined));
  Record(Message(3, "copy2@x", Outcome::kPosted));
  const int64_t held = InboundId(1);

  auto listed = store_->ListQuarantined();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 2u);
  auto stored = store_->GetInbound(held);
  ASSERT_TRUE(stored && stored->has_value());
  EXPECT_EQ((*stored)->raw, "Subject: x\r\n\r\nbody\r\n");

  auto posted = store_->ReprocessInbound(held, Message(99, "held@x", Outcome::kPosted), kDomain);
  ASSERT_TRUE(posted) << posted.error().message;
  EXPECT_EQ(posted->outcome, Outcome::kPosted);
  ASSERT_TRUE(posted->post_id);
  auto after = store_->GetInbound(held);
  ASSERT_TRUE(after && after->has_value());
  EXPECT_EQ((*after)->record.uid, 1u);  // the row keeps its UID
  EXPECT_EQ((*after)->record.post_id, posted->post_id);
  EXPECT_FALSE((*after)->raw);
  EXPECT_EQ((*after)->record.reason, "new thread (retried from quarantine; was: rule hold)");
  EXPECT_EQ(*QueryScalar(dsn_, "SELECT count(*) FROM outbox WHERE message_id LIKE 'ack." +
                                   std::to_string(held) + ".%'"),
            "1");

  // Decided again as a message whose key is already held: a duplicate, which makes nothing.
  auto duplicate = store_->ReprocessInbound(InboundId(2), Message(98, "copy2@x", Outcome::kPosted), kDomain);
  ASSERT_TRUE(duplicate) << duplicate.error().message;
  EXPECT_EQ(duplicate->outcome, Outcome::kDuplicate);
  EXPECT_FALSE(duplicate->post_id);
  EXPECT_EQ(*QueryScalar(dsn_, "SELECT count(*) FROM posts"), "2");

  // Only quarantined messages can be reprocessed.
  auto again = store_->ReprocessInbound(held, Message(1, "held@x", Outcome::kPosted), kDomain);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, base::ErrorKind::kPermanent);
  EXPECT_FALSE(store_->ReprocessInbound(12345, Message(1, "held@x", Outcome::kPosted), kDomain));
}

TEST_F(AdminStoreTest, TracesFindInboundPostsAndOutboundIds) {
  const RecordResult q = Record(Message(1, "q@x", Outcome::kPosted));
  auto trace = store_->TraceMessage("q@x");
  ASSERT_TRUE(trace) << trace.error().message;
  ASSERT_EQ(trace->inbound.size(), 1u);
  ASSERT_TRUE(trace->inbound[0].post);
  EXPECT_EQ(trace->inbound[0].post->thread.id, q.thread_id);
  EXPECT_EQ(trace->inbound[0].post->thread.category, "general");
  ASSERT_EQ(trace->inbound[0].outbox.size(), 1u);
  EXPECT_EQ(trace->inbound[0].outbox[0].kind, OutboxKind::kAcknowledgement);

  const std::string ours = trace->inbound[0].post->message_id;
  auto outbound = store_->TraceMessage(ours);
  ASSERT_TRUE(outbound);
  ASSERT_TRUE(outbound->outbound_post);
  EXPECT_EQ(outbound->outbound_post->id, q.post_id);
  EXPECT_TRUE(store_->TraceMessage("unknown@x")->empty());

  auto address = store_->TraceAddress("ALICE@example.com", 50);
  ASSERT_TRUE(address);
  EXPECT_EQ(address->address, "alice@example.com");
  EXPECT_EQ(address->inbound.size(), 1u);
  EXPECT_EQ(address->outbox.size(), 1u);
  EXPECT_FALSE(address->suppression);
}

// The columns hold text; a text this build does not know is an error that names the row, not a default.
TEST_F(AdminStoreTest, AnUnknownClassificationOrKindIsAnErrorNamingTheRow) {
  Record(Message(1, "q@x", Outcome::kPosted));
  const std::string inbound = std::to_string(InboundId(1));
  Scalar("UPDATE inbound_messages SET classification = 'spam' RETURNING id");
  auto trace = store_->TraceMessage("q@x");
  ASSERT_FALSE(trace);
  EXPECT_EQ(trace.error().kind, base::ErrorKind::kInternal);
  EXPECT_NE(
      trace.error().message.find("inbound message " + inbound + " has an unknown classification: 'spam'"),
      std::string::npos)
      << trace.error().message;

  // A kind the schema's CHECK allows none of, as a newer schema might.
  Scalar("ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check");
  const std::string outbox = Scalar("UPDATE outbox SET kind = 'reply' RETURNING id");
  auto listed = store_->ListOutbox({}, 10);
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().kind, base::ErrorKind::kInternal);
  EXPECT_NE(listed.error().message.find("outbox row " + outbox + " has an unknown kind: 'reply'"),
            std::string::npos)
      << listed.error().message;
  auto target = store_->FindUnsubscribeTarget(std::stoll(outbox));
  ASSERT_FALSE(target);
  EXPECT_NE(target.error().message.find("unknown kind: 'reply'"), std::string::npos)
      << target.error().message;
}

TEST_F(AdminStoreTest, ReadOnlySessionRefusesWrites) {
  ASSERT_TRUE(store_->MakeReadOnly());
  EXPECT_TRUE(store_->ListQuarantined());
  auto batch = store_->RecordBatch({Message(1, "q@x", Outcome::kPosted)}, kDomain);
  EXPECT_TRUE(!batch || !(*batch)[0]);
  EXPECT_EQ(*QueryScalar(dsn_, "SELECT count(*) FROM inbound_messages"), "0");
}

}  // namespace
}  // namespace forum
