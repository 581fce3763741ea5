// The outbox side of Store against the real PostgreSQL of scripts/test:
// what a claim returns, leases, SKIP LOCKED between two connections, the
// marks, requeueing, bounces and suppressions, and a thread's audience.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "forum/scratch_database.h"
#include "forum/store.h"
#include "forum/store_fixture.h"
#include "tests/support/test_env.h"

namespace forum {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kLease{60000};

class OutboxStoreTest : public ScratchStoreTest {
 protected:
  OutboxStoreTest() : ScratchStoreTest("outboxstore", {{"it", "IT", ""}}) {}

  std::vector<ClaimedMail> Claim(Store& store, int limit, milliseconds lease = kLease) {
    auto claimed = store.ClaimDue(limit, lease);
    EXPECT_TRUE(claimed) << claimed.error().message;
    return claimed ? *claimed : std::vector<ClaimedMail>{};
  }

  // Claims until a row comes back (a lease or a retry delay has passed: an
  // event, waited for rather than slept through), or 10 s have passed.
  std::vector<ClaimedMail> ClaimWhenDue(Store& store, int limit) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      std::vector<ClaimedMail> rows = Claim(store, limit);
      if (!rows.empty() || std::chrono::steady_clock::now() > deadline) return rows;
      std::this_thread::sleep_for(milliseconds(20));
    }
  }

};

TEST_F(OutboxStoreTest, AClaimCarriesWhatComposingNeeds) {
  const RecordResult question = Record(
      1, "Alice@Example.com", std::nullopt,
      {{OutboxKind::kAcknowledgement, "alice@example.com"}, {OutboxKind::kNotification, "it@example.com"}});
  Record(2, "bob@example.com", question.thread_id, {{OutboxKind::kAnswer, "alice@example.com"}});
  RecordOptions rejected;
  rejected.outcome = Outcome::kRejected;
  Record(3, "mallory@outside.example", std::nullopt, {{OutboxKind::kRejection, "mallory@outside.example"}},
         rejected);

  const auto rows = Claim(*store_, 10);
  ASSERT_EQ(rows.size(), 4u);
  std::map<std::string, ClaimedMail> by_kind;
  for (const auto& r : rows) by_kind[std::string(Name(r.kind))] = r;
  const ClaimedMail& notification = by_kind["notification"];
  EXPECT_EQ(notification.thread_id, question.thread_id);
  EXPECT_EQ(notification.category, "it");
  EXPECT_EQ(notification.thread_subject, "VPN drops");
  EXPECT_EQ(notification.thread_author, "alice@example.com");
  EXPECT_TRUE(notification.post_opens_thread);
  EXPECT_EQ(notification.message_id, notification.root_message_id);
  EXPECT_EQ(notification.question_message_id, "m1@client");
  EXPECT_EQ(notification.post_body, "Body 1");
  EXPECT_EQ(notification.attempts, 1);
  EXPECT_FALSE(notification.payload.has_value());

  const ClaimedMail& answer = by_kind["answer"];
  EXPECT_FALSE(answer.post_opens_thread);
  EXPECT_EQ(answer.root_message_id, notification.message_id);
  EXPECT_EQ(answer.question_message_id, "m1@client");
  EXPECT_EQ(answer.post_author_address, "bob@example.com");
  EXPECT_EQ(answer.post_author_name, "Name of bob@example.com");
  EXPECT_NE(answer.message_id, answer.root_message_id);

  EXPECT_EQ(by_kind["acknowledgement"].question_message_id, "m1@client");
  const ClaimedMail& rejection = by_kind["rejection"];
  EXPECT_FALSE(rejection.thread_id.has_value());
  EXPECT_EQ(rejection.rejection_reason, "Only staff may write here.");

  // Claimed rows are not due again within their lease.
  EXPECT_TRUE(Claim(*store_, 10).empty());
}

TEST_F(OutboxStoreTest, TwoConnectionsNeverClaimTheSameRow) {
  std::vector<OutboxDraft> many;
  for (int i = 0; i < 200; ++i)
    many.push_back({OutboxKind::kNotification, "w" + std::to_string(i) + "@example.com"});
  Record(1, "alice@example.com", std::nullopt, many);
  auto other = Open();
  ASSERT_TRUE(other);
  std::vector<int64_t> a, b;
  std::thread ta([&] {
    for (auto rows = Claim(*store_, 7); !rows.empty(); rows = Claim(*store_, 7)) {
      for (const auto& r : rows) a.push_back(r.id);
    }
  });
  std::thread tb([&] {
    for (auto rows = Claim(*other, 7); !rows.empty(); rows = Claim(*other, 7)) {
      for (const auto& r : rows) b.push_back(r.id);
    }
  });
  ta.join();
  tb.join();
  std::set<int64_t> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(a.size() + b.size(), 200u);
  EXPECT_EQ(all.size(), 200u) << "a row was claimed twice";
}

TEST_F(OutboxStoreTest, LeasesExpireReleasesAndRetriesReschedule) {
  Record(1, "alice@example.com", std::nullopt, {{OutboxKind::kAcknowledgement, "alice@example.com"}});
  auto rows = Claim(*store_, 10, milliseconds(300));
  ASSERT_EQ(rows.size(), 1u);
  const int64_t id = rows[0].id;
  ASSERT_TRUE(store_->SavePayload(id, "the bytes\r\n").ok());
  // The claimant died: after the lease the row is due again, with its saved bytes.
  rows = ClaimWhenDue(*store_, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].attempts, 2);
  EXPECT_EQ(rows[0].payload, "the bytes\r\n");
  // Given back untried: due at once, the attempt not counted.
  ASSERT_TRUE(store_->Release(id).ok());
  rows = Claim(*store_, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].attempts, 2);
  // A transient failure: due again after the delay only. The delay is long enough that a loaded
  // machine does not pass it between these two statements (ctest runs tests side by side).
  const auto retried = std::chrono::steady_clock::now();
  ASSERT_TRUE(store_->MarkRetry(id, "451 later", 451, milliseconds(2000)).ok());
  EXPECT_TRUE(Claim(*store_, 10).empty());
  EXPECT_EQ(Scalar("SELECT status || ' ' || last_reply_code || ' ' || last_error FROM outbox"),
            "pending 451 451 later");
  ASSERT_EQ(ClaimWhenDue(*store_, 10).size(), 1u);
  EXPECT_GE(std::chrono::steady_clock::now() - retried, milliseconds(1900)) << "due before its delay";
  ASSERT_TRUE(store_->MarkSent(id).ok());
  EXPECT_EQ(Scalar("SELECT status || ' ' || attempts || ' ' || (sent_at IS NOT NULL) FROM outbox"),
            "sent 3 true");
  // A finished row is not changed by a late mark from a worker whose lease had expired.
  ASSERT_TRUE(store_->MarkRetry(id, "late", std::nullopt, milliseconds(0)).ok());
  ASSERT_TRUE(store_->MarkFailed(id, "late", 550).ok());
  EXPECT_EQ(Scalar("SELECT status FROM outbox"), "sent");
}

// Issue 13 item 3: a claim lasts its lease only while its owner's session lives.
TEST_F(OutboxStoreTest, TheClaimsOfAClosedSessionAreFreeAtOnceALiveOwnersAreNot) {
  std::vector<OutboxDraft> five;
  for (int i = 0; i < 5; ++i)
    five.push_back({OutboxKind::kNotification, "w" + std::to_string(i) + "@example.com"});
  Record(1, "alice@example.com", std::nullopt, five);
  auto a = Open();
  ASSERT_TRUE(a);
  ASSERT_EQ(Claim(*a, 10, std::chrono::hours(1)).size(), 5u);
  // A lives (stuck, say): its claims hold for the whole lease.
  EXPECT_TRUE(Claim(*store_, 10).empty());
  EXPECT_EQ(Scalar("SELECT count(DISTINCT claim_owner) FROM outbox WHERE claim_owner IS NOT NULL"), "1");
  // A's session ends (the daemon was killed): its rows are due at once, although an hour of lease is left.
  const auto closed = std::chrono::steady_clock::now();
  a.reset();
  const auto rows = ClaimWhenDue(*store_, 10);
  const auto taken_after = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - closed);
  ASSERT_EQ(rows.size(), 5u);
  for (const auto& r : rows) EXPECT_EQ(r.attempts, 2);
  EXPECT_LT(taken_after, milliseconds(5000));
  std::cout << "claims of a closed session taken over after " << taken_after.count() << " ms\n";
}

TEST_F(OutboxStoreTest, ATerminatedOwnersClaimsAreTakenAndItComesBackAsANewOwner) {
  Record(
      1, "alice@example.com", std::nullopt,
      {{OutboxKind::kAcknowledgement, "alice@example.com"}, {OutboxKind::kNotification, "it@example.com"}});
  auto a = Open();
  ASSERT_TRUE(a);
  ASSERT_EQ(Claim(*a, 1, std::chrono::hours(1)).size(), 1u);
  // PostgreSQL ends A's session (pg_terminate_backend, as a restart or an idle timeout would).
  const auto killed = std::chrono::steady_clock::now();
  EXPECT_EQ(Scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' "
                   "AND classid = 1835429751 AND objid::bigint = (SELECT max(claim_owner) FROM outbox)"),
            "1");
  // B takes A's row (first) and the other one.
  auto rows = ClaimWhenDue(*store_, 10);
  std::cout << "claims of a terminated session taken over after "
            << std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - killed).count()
            << " ms\n";
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].attempts, 2);
  EXPECT_EQ(rows[1].attempts, 1);
  // A's claims fail on the lost connection (kTransient); the worker then connects anew, as a new owner,
  // which must not take B's rows: B lives.
  auto lost = a->ClaimDue(10, std::chrono::hours(1));
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error().kind, base::ErrorKind::kTransient);
  a = Open();
  ASSERT_TRUE(a);
  EXPECT_TRUE(Claim(*a, 10, std::chrono::hours(1)).empty());
  EXPECT_EQ(Scalar("SELECT count(DISTINCT claim_owner) FROM outbox WHERE claim_owner IS NOT NULL"), "1");
  // A recorded fate frees the row from its owner: a retry an hour away stays an hour away when B dies.
  ASSERT_TRUE(store_->MarkRetry(rows[0].id, "451 later", 451, std::chrono::hours(1)).ok());
  store_.reset();
  EXPECT_EQ(Scalar("SELECT count(*) FROM outbox WHERE claim_owner IS NULL"), "1");
  const auto c = Open();
  ASSERT_TRUE(c);
  rows = ClaimWhenDue(*c, 10);  // B's other row, whose owner is gone
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].kind, OutboxKind::kNotification);
  EXPECT_TRUE(Claim(*c, 10).empty());
}

TEST_F(OutboxStoreTest, FailedRowsAreListedAndRequeued) {
  Record(
      1, "alice@example.com", std::nullopt,
      {{OutboxKind::kAcknowledgement, "alice@example.com"}, {OutboxKind::kNotification, "it@example.com"}});
  auto rows = Claim(*store_, 10);
  ASSERT_EQ(rows.size(), 2u);
  ASSERT_TRUE(store_->MarkFailed(rows[0].id, "550 no such user", 550).ok());
  ASSERT_TRUE(store_->MarkSent(rows[1].id).ok());

  auto failed = store_->ListOutbox({"failed"}, 10);
  ASSERT_TRUE(failed);
  ASSERT_EQ(failed->size(), 1u);
  EXPECT_EQ((*failed)[0].id, rows[0].id);
  EXPECT_EQ((*failed)[0].last_reply_code, 550);
  auto all = store_->ListOutbox({}, 10);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 2u);

  const std::string message_id = rows[0].message_id;
  ASSERT_TRUE(store_->RetryOutbox(rows[0].id).ok());
  auto again = store_->RetryOutbox(rows[0].id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, base::ErrorKind::kPermanent);
  EXPECT_FALSE(store_->RetryOutbox(999999).ok());
  rows = Claim(*store_, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].attempts, 1);
  EXPECT_EQ(rows[0].message_id, message_id);
  EXPECT_LT(rows[0].age, milliseconds(5000)) << "the max age counts from the requeue";
}

TEST_F(OutboxStoreTest, BouncesMarkTheRowAndRaiseTheScoreUntilSuppressed) {
  Record(1, "alice@example.com", std::nullopt, {{OutboxKind::kAcknowledgement, "alice@example.com"}});
  auto rows = Claim(*store_, 10);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_TRUE(store_->MarkSent(rows[0].id).ok());
  ASSERT_TRUE(store_->MarkBounced(rows[0].id, "userunknown", true).ok());
  EXPECT_EQ(Scalar("SELECT status || ' ' || last_error || ' ' || (bounced_at IS NOT NULL) FROM outbox"),
            "bounced hard bounce: userunknown true");
  EXPECT_EQ(Scalar("SELECT bounce_score || ' ' || hard_bounces FROM suppressions"), "1 1");
  // A second report for the same row changes nothing.
  ASSERT_TRUE(store_->MarkBounced(rows[0].id, "userunknown", true).ok());
  EXPECT_EQ(Scalar("SELECT bounce_score FROM suppressions"), "1");

  // A bounce to a row's VERP address that names nobody counts softly for the row's recipient.
  Record(2, "alice@example.com", std::nullopt, {{OutboxKind::kAcknowledgement, "alice@example.com"}});
  rows = Claim(*store_, 10);
  ASSERT_EQ(rows.size(), 1u);
  ASSERT_TRUE(store_->MarkSent(rows[0].id).ok());
  InboundItem dsn;
  dsn.mailbox = "help";
  dsn.uidvalidity = 1;
  dsn.uid = 3;
  dsn.message_key = "dsn@mx alice";
  dsn.classification = Classification::kBounce;
  dsn.outcome = Outcome::kMachine;
  dsn.bounced_outbox_id = rows[0].id;
  auto recorded = store_->RecordBatch({dsn}, kFixtureDomain);
  ASSERT_TRUE(recorded && (*recorded)[0]);
  EXPECT_EQ(Scalar("SELECT status FROM outbox WHERE id = " + std::to_string(rows[0].id)), "bounced");
  EXPECT_EQ(Scalar("SELECT bounce_score || ' ' || soft_bounces FROM suppressions"), "1.25 1");

  auto suppressed = store_->IsSuppressed("ALICE@example.com", 1.25);
  ASSERT_TRUE(suppressed);
  EXPECT_TRUE(*suppressed);
  Record(4, "alice@example.com", std::nullopt, {{OutboxKind::kAcknowledgement, "alice@example.com"}});
  rows = Claim(*store_, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].bounce_score, 1.25);
  ASSERT_TRUE(store_->MarkSuppressed(rows[0].id, "score").ok());
  auto listed = store_->ListSuppressions();
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].suppressed_at.has_value());
  auto cleared = store_->ClearSuppression("Alice@Example.com");
  ASSERT_TRUE(cleared);
  EXPECT_TRUE(*cleared);
  cleared = store_->ClearSuppression("alice@example.com");
  ASSERT_TRUE(cleared);
  EXPECT_FALSE(*cleared);
}

TEST_F(OutboxStoreTest, ThreadAudienceListsEachParticipantOnceInOrder) {
  const RecordResult q = Record(1, "Alice@Example.com", std::nullopt, {});
  Record(2, "bob@example.com", q.thread_id, {});
  Record(3, "ALICE@example.com", q.thread_id, {});
  Record(4, "carol@example.com", q.thread_id, {});
  auto audience = store_->FindThreadAudience(*q.thread_id);
  ASSERT_TRUE(audience && audience->has_value());
  EXPECT_EQ((*audience)->category, "it");
  EXPECT_EQ((*audience)->author_address, "alice@example.com");
  EXPECT_EQ((*audience)->participants,
            (std::vector<std::string>{"alice@example.com", "bob@example.com", "carol@example.com"}));
  auto none = store_->FindThreadAudience(424242);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
}

// Issue 8 item 7: 25 auto-replies from one domain that are not tied to
// mail of ours (anyone can forge them) pause nothing; as many tied ones do.
TEST_F(OutboxStoreTest, OnlyMachineMailTiedToOursTripsTheLoopBreaker) {
  const LoopBreakerLimits limits;  // 5 per address, 20 per domain, in 10 minutes
  auto record_auto_replies = [&](uint32_t first_uid, bool tied) {
    std::vector<InboundItem> items;
    for (uint32_t i = 0; i < 25; ++i) {
      InboundItem item;
      item.mailbox = "help";
      item.uidvalidity = 1;
      item.uid = first_uid + i;
      item.from_address = "person" + std::to_string(i % 3) + "@corp.example";
      item.message_id = "ooo" + std::to_string(first_uid + i) + "@corp.example";
      item.message_key = item.message_id + " " + item.from_address;
      item.classification = Classification::kAutoReply;
      item.outcome = Outcome::kMachine;
      item.tied_to_ours = tied;
      items.push_back(item);
    }
    auto batch = store_->RecordBatch(items, kFixtureDomain);
    ASSERT_TRUE(batch) << batch.error().message;
    for (const auto& r : *batch) ASSERT_TRUE(r) << r.error().message;
  };
  record_auto_replies(1, false);
  EXPECT_EQ(Scalar("SELECT count(*) FROM inbound_messages WHERE outcome = 'machine' AND NOT tied_to_ours"),
            "25");
  for (const std::string address : {"person0@corp.example", "ceo@corp.example"}) {
    auto pause = store_->LoopPause(address, limits);
    ASSERT_TRUE(pause) << pause.error().message;
    EXPECT_FALSE(pause->has_value()) << address << " paused by forgeable auto-replies";
  }
  record_auto_replies(101, true);
  for (const std::string address : {"person0@corp.example", "ceo@corp.example"}) {
    auto pause = store_->LoopPause(address, limits);
    ASSERT_TRUE(pause) << pause.error().message;
    ASSERT_TRUE(pause->has_value()) << address;
    EXPECT_GT(**pause, std::chrono::minutes(50));
  }
  auto other = store_->LoopPause("someone@other.example", limits);
  ASSERT_TRUE(other);
  EXPECT_FALSE(other->has_value());
}

}  // namespace
}  // namespace forum
