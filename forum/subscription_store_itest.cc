// Unsubscriptions in Store against the real PostgreSQL of scripts/test: which
// outbox rows a claim finds covered (thread, category, acknowledgements),
// unsubscribing after a row was queued, re-subscribing by a proven reply,
// recording an `unsubscribed` inbound message, list and clear, the row an
// unsubscribe token names, the trace of an address, and that only a role
// granted it may call mailforum_unsubscribe (migration 10).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "forum/reader.h"
#include "forum/scratch_database.h"
#include "forum/store.h"
#include "forum/store_fixture.h"

namespace forum {
namespace {

class SubscriptionStoreTest : public ScratchStoreTest {
 protected:
  SubscriptionStoreTest() : ScratchStoreTest("subscriptions", {{"it", "IT", ""}, {"hr", "HR", ""}}) {}

  // Every due row, by "kind recipient thread" → the scope that covers it ("" when none).
  std::map<std::string, std::string> ClaimCovered() {
    auto rows = store_->ClaimDue(100, std::chrono::minutes(1));
    EXPECT_TRUE(rows) << rows.error().message;
    std::map<std::string, std::string> out;
    if (!rows) return out;
    for (const ClaimedMail& r : *rows) {
      out[std::string(Name(r.kind)) + " " + r.recipient + " " + std::to_string(r.thread_id.value_or(0))] =
          r.unsubscribed_scope;
    }
    return out;
  }
};

TEST_F(SubscriptionStoreTest, AClaimFindsTheUnsubscriptionThatCoversARow) {
  const RecordResult vpn = Record(1, "alice@example.com", std::nullopt, {});
  const RecordResult laptop = Record(2, "alice@example.com", std::nullopt, {});
  RecordOptions in_hr;
  in_hr.category = "hr";
  const RecordResult leave = Record(3, "carol@example.com", std::nullopt, {}, in_hr);
  const std::string t1 = std::to_string(*vpn.thread_id), t2 = std::to_string(*laptop.thread_id),
                    t3 = std::to_string(*leave.thread_id);
  // Queued first, unsubscribed after: the claim still sees it (the re-check at send time).
  Record(4, "bob@example.com", vpn.thread_id,
         {{OutboxKind::kAnswer, "alice@example.com"}, {OutboxKind::kNotification, "w@example.com"}});
  Record(5, "bob@example.com", laptop.thread_id,
         {{OutboxKind::kAnswer, "alice@example.com"}, {OutboxKind::kNotification, "w@example.com"}});
  Record(6, "dan@example.com", leave.thread_id,
         {{OutboxKind::kNotification, "w@example.com"}, {OutboxKind::kAnswer, "carol@example.com"}});
  Record(7, "erin@example.com", std::nullopt, {{OutboxKind::kAcknowledgement, "erin@example.com"}});
  ASSERT_TRUE(
      store_->Unsubscribe("Alice@Example.com", ThreadScope(*vpn.thread_id), UnsubscribeSource::kOneClick)
          .ok());
  ASSERT_TRUE(store_->Unsubscribe("w@example.com", CategoryScope("it"), UnsubscribeSource::kMailto).ok());
  ASSERT_TRUE(
      store_->Unsubscribe("erin@example.com", std::string(kAcknowledgementsScope), UnsubscribeSource::kCli)
          .ok());
  // Twice is once.
  ASSERT_TRUE(
      store_->Unsubscribe("alice@example.com", ThreadScope(*vpn.thread_id), UnsubscribeSource::kMute).ok());

  const auto covered = ClaimCovered();
  EXPECT_EQ(covered.at("answer alice@example.com " + t1), "thread:" + t1);
  EXPECT_EQ(covered.at("answer alice@example.com " + t2), "") << "her other thread still mails her";
  EXPECT_EQ(covered.at("notification w@example.com " + t1), "category:it");
  EXPECT_EQ(covered.at("notification w@example.com " + t2), "category:it");
  EXPECT_EQ(covered.at("notification w@example.com " + t3), "") << "another category still notifies";
  EXPECT_EQ(covered.at("answer carol@example.com " + t3), "");
  const std::string ack_key = "acknowledgement erin@example.com " + Scalar("SELECT max(id) FROM threads");
  EXPECT_EQ(covered.at(ack_key), "acknowledgements");

  auto listed = store_->ListUnsubscriptions("ALICE@example.com", 10);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].address, "alice@example.com");
  EXPECT_EQ((*listed)[0].source, "one-click") << "the first unsubscription stays as it was";
  auto all = store_->ListUnsubscriptions("", 10);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
}

TEST_F(SubscriptionStoreTest, AProvenReplyResubscribesAndAnUnsubscribedMessageIsRecorded) {
  const RecordResult vpn = Record(1, "alice@example.com", std::nullopt, {});
  const std::string scope = ThreadScope(*vpn.thread_id);
  // A message to the unsubscribe address: recorded as 'unsubscribed', no post, no mail.
  RecordOptions unsubscribed;
  unsubscribed.outcome = Outcome::kUnsubscribed;
  unsubscribed.subscription = SubscriptionChange{SubscriptionChange::Action::kUnsubscribe, "alice@example.com",
                                                 scope, UnsubscribeSource::kMailto};
  const RecordResult unsub = Record(2, "alice@example.com", std::nullopt, {}, unsubscribed);
  EXPECT_EQ(unsub.outcome, Outcome::kUnsubscribed);
  EXPECT_FALSE(unsub.post_id);
  EXPECT_EQ(Scalar("SELECT outcome FROM inbound_messages WHERE uid = 2"), "unsubscribed");
  EXPECT_EQ(Scalar("SELECT source FROM unsubscriptions"), "mailto");

  auto trace = store_->TraceAddress("alice@example.com", 10);
  ASSERT_TRUE(trace);
  ASSERT_EQ(trace->unsubscriptions.size(), 1u);
  EXPECT_EQ(trace->unsubscriptions[0].scope, scope);

  // Alice writes in the thread again: the pipeline's re-subscription is recorded with her post.
  RecordOptions resubscribed;
  resubscribed.subscription =
      SubscriptionChange{SubscriptionChange::Action::kResubscribe, "alice@example.com", scope};
  Record(3, "alice@example.com", vpn.thread_id, {}, resubscribed);
  EXPECT_EQ(Scalar("SELECT count(*) FROM unsubscriptions"), "0");

  ASSERT_TRUE(store_->Unsubscribe("alice@example.com", scope, UnsubscribeSource::kOneClick).ok());
  ASSERT_TRUE(
      store_->Unsubscribe("alice@example.com", CategoryScope("hr"), UnsubscribeSource::kOneClick).ok());
  auto cleared = store_->ClearUnsubscriptions("Alice@example.com");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(*cleared, 2);
  cleared = store_->ClearUnsubscriptions("alice@example.com");
  ASSERT_TRUE(cleared);
  EXPECT_EQ(*cleared, 0);
}

TEST_F(SubscriptionStoreTest, TheRowATokenNamesAndMarkingItUnsubscribed) {
  const RecordResult vpn =
      Record(1, "alice@example.com", std::nullopt, {{OutboxKind::kNotification, "w@example.com"}});
  Record(2, "bob@example.com", vpn.thread_id, {{OutboxKind::kAnswer, "alice@example.com"}});
  const int64_t answer_id = std::stoll(Scalar("SELECT id FROM outbox WHERE kind = 'answer'"));
  const int64_t note_id = std::stoll(Scalar("SELECT id FROM outbox WHERE kind = 'notification'"));
  auto answer = store_->FindUnsubscribeTarget(answer_id);
  ASSERT_TRUE(answer && answer->has_value());
  EXPECT_EQ((*answer)->kind, OutboxKind::kAnswer);
  EXPECT_EQ((*answer)->recipient, "alice@example.com");
  EXPECT_EQ((*answer)->scope(), ThreadScope(*vpn.thread_id));
  auto note = store_->FindUnsubscribeTarget(note_id);
  ASSERT_TRUE(note && note->has_value());
  EXPECT_EQ((*note)->kind, OutboxKind::kNotification);
  EXPECT_EQ((*note)->scope(), "category:it");
  auto none = store_->FindUnsubscribeTarget(note_id + 1000);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  // A recipient with a small bounce score: marking unsubscribed leaves its suppressions row alone.
  ASSERT_TRUE(store_->MarkBounced(note_id, "mailbox full", false).ok());
  ASSERT_TRUE(store_->MarkUnsubscribed(answer_id, "not sent: unsubscribed").ok());
  EXPECT_EQ(Scalar("SELECT status || ' ' || last_error FROM outbox WHERE id = " + std::to_string(answer_id)),
            "suppressed not sent: unsubscribed");
  EXPECT_EQ(Scalar("SELECT count(*) FROM suppressions WHERE suppressed_at IS NOT NULL"), "0");
}

// The web's one write is a SECURITY DEFINER function: the grant is the whole check, so a role that may
// only SELECT (a reporting role, say) must not be able to unsubscribe anybody until it is granted EXECUTE.
TEST_F(SubscriptionStoreTest, OnlyARoleGrantedItMayCallTheUnsubscribeFunction) {
  const RecordResult vpn = Record(1, "alice@example.com", std::nullopt, {});
  const std::string scope = ThreadScope(*vpn.thread_id);
  Scalar(
      "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mf_unsub_reader') THEN "
      "CREATE ROLE mf_unsub_reader LOGIN PASSWORD 'reader'; END IF; END$$");
  Scalar("GRANT SELECT ON ALL TABLES IN SCHEMA public TO mf_unsub_reader");
  const std::string reader_dsn = dsn_ + " user=mf_unsub_reader password=reader";
  const std::string call = "SELECT mailforum_unsubscribe('alice@example.com', '" + scope + "', 'one-click')";

  auto direct = QueryScalar(reader_dsn, call);
  ASSERT_FALSE(direct);
  EXPECT_NE(direct.error().message.find("permission denied"), std::string::npos) << direct.error().message;
  auto reader = Reader::Connect(reader_dsn);
  ASSERT_TRUE(reader) << reader.error().message;
  auto may = (*reader)->MayUnsubscribe();
  ASSERT_TRUE(may) << may.error().message;
  EXPECT_FALSE(*may);
  auto refused = (*reader)->Unsubscribe("alice@example.com", scope);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("GRANT EXECUTE ON FUNCTION mailforum_unsubscribe(text, text, text)"),
            std::string::npos)
      << refused.error().message;
  EXPECT_EQ(Scalar("SELECT count(*) FROM unsubscriptions"), "0");

  Scalar("GRANT EXECUTE ON FUNCTION mailforum_unsubscribe(text, text, text) TO mf_unsub_reader");
  may = (*reader)->MayUnsubscribe();
  ASSERT_TRUE(may) << may.error().message;
  EXPECT_TRUE(*may);
  ASSERT_TRUE((*reader)->Unsubscribe("alice@example.com", scope).ok());
  EXPECT_EQ(Scalar("SELECT address || ' ' || scope || ' ' || source FROM unsubscriptions"),
            "alice@example.com " + scope + " one-click");
}

}  // namespace
}  // namespace forum
