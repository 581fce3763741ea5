// Outbox delivery under faults, on the fakes of engine/testing/fake_outbox.h:
// every row is delivered at least once, and every delivery of a row carries
// the same bytes (one stable Message-ID). Beside, not instead of, the kill -9
// test on the real servers (daemon/outbox_worker_itest.cc).
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "engine/outbox_delivery.h"
#include "engine/testing/fake_outbox.h"

namespace engine {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeMailer;
using testing::FakeOutbox;

DeliveryOptions Options() {
  DeliveryOptions o;
  o.from = "Acme Help <help@example.com>";
  o.reply_to_template = "help+{token}@example.com";
  o.reply_key = "outbox-faults-test-key-0123456789";
  o.bounce_template = "bounces+{id}@example.com";
  o.instance_name = "Acme Help";
  o.base_url = "https://help.example.com";
  o.domain = "example.com";
  o.batch = 5;
  o.lease = 10min;
  return o;
}

// The Message-ID header of `raw`.
std::string MessageIdOf(const std::string& raw) {
  const size_t at = raw.find("Message-ID: ");
  return at == std::string::npos ? "" : raw.substr(at + 12, raw.find("\r\n", at) - at - 12);
}

class OutboxFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 1; i <= 5; ++i) outbox_.Queue("user" + std::to_string(i) + "@example.org");
  }

  // Passes until nothing is due now; the stats of them all.
  OutboxPassStats Drain(OutboxDelivery& delivery) {
    OutboxPassStats stats;
    for (size_t claimed = 1; claimed > 0;) {
      EXPECT_TRUE(delivery.Pass(outbox_, mailer_, stopped_, stats, claimed).ok());
    }
    return stats;
  }

  // At least once, one stable Message-ID: every row sent, each accepted at
  // least once, and all of a row's deliveries byte-identical.
  void ExpectEachDeliveredWithOneMessageId() {
    std::map<std::string, std::set<std::string>> by_recipient;  // recipient → distinct payloads
    for (const auto& d : mailer_.accepted) by_recipient[d.recipient].insert(d.raw);
    for (const auto& [id, row] : outbox_.rows) {
      EXPECT_EQ(row.status, "sent") << "row " << id << ": " << row.last_error;
      const auto& payloads = by_recipient[row.mail.recipient];
      ASSERT_EQ(payloads.size(), 1u) << row.mail.recipient;
      EXPECT_EQ(MessageIdOf(*payloads.begin()), "<" + row.mail.message_id + ">");
    }
  }

  FakeClock clock_;
  FakeOutbox outbox_{clock_};
  FakeMailer mailer_;
  DeliveryOptions options_ = Options();
  std::atomic<bool> stopped_{false};
};

TEST_F(OutboxFaultsTest, WithoutFaultsEachRowIsSentOnce) {
  OutboxDelivery delivery(options_, clock_);
  const OutboxPassStats stats = Drain(delivery);
  EXPECT_EQ(stats.sent, 5);
  EXPECT_EQ(mailer_.accepted.size(), 5u);
  ExpectEachDeliveredWithOneMessageId();
}

TEST_F(OutboxFaultsTest, AFullBatchClaimsTheNextWhileItIsSentAndItsFatesGoWithTheClaimAfter) {
  for (int i = 6; i <= 12; ++i) outbox_.Queue("user" + std::to_string(i) + "@example.org");
  // Batches of 5, 5 and 2. While a full batch's first mail is on the wire, the next batch's claim runs (on
  // the delivery's own thread: a claim on this thread would wait for this send, and never come).
  std::mutex mutex;
  std::condition_variable claim_ran;
  int claims = 0;  // guarded by mutex
  outbox_.on_claim = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    ++claims;
    claim_ran.notify_all();
  };
  int sends = 0;
  mailer_.during_send = [&] {
    if (sends++ % 5 != 0 || sends > 10) return;  // the first mail of each full batch
    const int batch = sends / 5 + 1;             // 1, 2
    std::unique_lock<std::mutex> lock(mutex);
    EXPECT_TRUE(claim_ran.wait_for(lock, std::chrono::seconds(30), [&] { return claims > batch; }))
        << "batch " << batch + 1 << " was not claimed while batch " << batch << " was sent";
  };
  OutboxDelivery delivery(options_, clock_);
  const OutboxPassStats stats = Drain(delivery);
  EXPECT_EQ(stats.sent, 12);
  // Commits with fates: the second claim carries the first batch's; the last batch records its own with
  // the second's.
  EXPECT_EQ(outbox_.outcome_commits, 2);
  ExpectEachDeliveredWithOneMessageId();
}

TEST_F(OutboxFaultsTest, AWorkerThatStopsGivesBackTheBatchItClaimedAhead) {
  for (int i = 6; i <= 10; ++i) outbox_.Queue("user" + std::to_string(i) + "@example.org");
  OutboxDelivery delivery(options_, clock_);
  OutboxPassStats stats;
  size_t claimed = 0;
  ASSERT_TRUE(delivery.Pass(outbox_, mailer_, stopped_, stats, claimed).ok());
  EXPECT_EQ(stats.sent, 5);
  for (int64_t id = 6; id <= 10; ++id) EXPECT_GT(outbox_.rows.at(id).next_attempt_at, clock_.Now());  // claimed
  ASSERT_TRUE(delivery.ReleaseClaimed(outbox_).ok());
  for (int64_t id = 6; id <= 10; ++id) {
    EXPECT_EQ(outbox_.rows.at(id).status, "pending");
    EXPECT_LE(outbox_.rows.at(id).next_attempt_at, clock_.Now());  // due again now
    EXPECT_EQ(outbox_.rows.at(id).mail.attempts, 0);                // the claim did not count as a try
  }
  OutboxDelivery other(options_, clock_);
  Drain(other);
  EXPECT_EQ(mailer_.accepted.size(), 10u);
  ExpectEachDeliveredWithOneMessageId();
}

TEST_F(OutboxFaultsTest, A421InTheMiddleOfABatchRetriesThatRowWithTheSameBytes) {
  OutboxDelivery delivery(options_, clock_);
  mailer_.FailNext(421, /*skip=*/2);  // the third mail: "421 service closing", and the connection closes
  OutboxPassStats stats = Drain(delivery);
  EXPECT_EQ(stats.sent, 4);     // the others: after the 421 the next mail reconnects
  EXPECT_EQ(stats.retried, 1);  // the 421's row, due again after its retry delay
  EXPECT_EQ(mailer_.connects(), 2);
  EXPECT_NE(outbox_.rows.at(3).status, "sent");
  EXPECT_TRUE(outbox_.rows.at(3).mail.payload.has_value());  // composed once, saved before the try
  clock_.Advance(options_.retry_cap + 1min);
  stats = Drain(delivery);
  EXPECT_EQ(mailer_.accepted.size(), 5u);
  ExpectEachDeliveredWithOneMessageId();
}

TEST_F(OutboxFaultsTest, AConnectionBrokenMidBatchReschedulesTheRestWithoutTryingThem) {
  OutboxDelivery delivery(options_, clock_);
  mailer_.FailNext(0, /*skip=*/1);
  OutboxPassStats stats = Drain(delivery);
  EXPECT_EQ(stats.sent, 1);
  EXPECT_EQ(stats.retried, 4);
  clock_.Advance(options_.retry_cap + 1min);
  Drain(delivery);
  ExpectEachDeliveredWithOneMessageId();
}

TEST_F(OutboxFaultsTest, A550FailsOnlyItsRowForGood) {
  OutboxDelivery delivery(options_, clock_);
  mailer_.FailNext(550, /*skip=*/1);
  const OutboxPassStats stats = Drain(delivery);
  EXPECT_EQ(stats.sent, 4);
  EXPECT_EQ(stats.failed, 1);
  EXPECT_EQ(outbox_.rows.at(2).status, "failed");
}

TEST_F(OutboxFaultsTest, ARowTheRecipientUnsubscribedFromIsSuppressedWithTheReasonNotSent) {
  OutboxDelivery delivery(options_, clock_);
  outbox_.rows.at(2).mail.unsubscribed_scope = "thread:7";
  outbox_.rows.at(2).mail.unsubscribed_source = "one-click";
  const OutboxPassStats stats = Drain(delivery);
  EXPECT_EQ(stats.sent, 4);
  EXPECT_EQ(stats.suppressed, 1);
  EXPECT_EQ(outbox_.rows.at(2).status, "suppressed");
  EXPECT_EQ(outbox_.rows.at(2).last_error,
            "not sent: user2@example.org unsubscribed from thread 7 (one-click)");
  for (const auto& d : mailer_.accepted) EXPECT_NE(d.recipient, "user2@example.org");
}

TEST_F(OutboxFaultsTest, LeaseExpiringWhileSendingLetsAnotherWorkerSendTheSameBytes) {
  // Worker A claims the batch; while its first mail is on the wire the lease
  // runs out (a stalled server), and worker B claims and sends everything.
  // The batch is not full: A claims nothing ahead while it sends.
  options_.batch = 6;
  OutboxDelivery a(options_, clock_);
  OutboxDelivery b(options_, clock_);
  bool b_ran = false;
  mailer_.during_send = [&] {
    if (b_ran) return;
    b_ran = true;
    clock_.Advance(options_.lease + 1s);
    OutboxPassStats b_stats;
    size_t claimed = 0;
    ASSERT_TRUE(b.Pass(outbox_, mailer_, stopped_, b_stats, claimed).ok());
    EXPECT_EQ(claimed, 5u);
    EXPECT_EQ(b_stats.sent, 5);
  };
  OutboxPassStats a_stats;
  size_t claimed = 0;
  ASSERT_TRUE(a.Pass(outbox_, mailer_, stopped_, a_stats, claimed).ok());
  EXPECT_EQ(claimed, 5u);
  // A finished the mail on the wire (a duplicate, same bytes) and gave the rest back unsent.
  EXPECT_EQ(a_stats.sent, 1);
  EXPECT_EQ(mailer_.accepted.size(), 6u);
  ExpectEachDeliveredWithOneMessageId();
}

TEST_F(OutboxFaultsTest, NearTheEndOfTheLeaseTheRestOfTheBatchAndTheOneClaimedAheadAreReleasedNotSent) {
  OutboxDelivery delivery(options_, clock_);
  for (int i = 6; i <= 10; ++i) outbox_.Queue("user" + std::to_string(i) + "@example.org");
  // Each mail takes half a lease. The first waits for the claim of the next batch (rows 6-10), which the
  // full batch makes while it is sent, so that the claim sees the clock before it moves.
  std::mutex mutex;
  std::condition_variable claim_ran;
  bool claimed_ahead = false;  // guarded by mutex
  outbox_.on_claim = [&] {
    std::lock_guard<std::mutex> lock(mutex);
    claimed_ahead = true;
    claim_ran.notify_all();
  };
  mailer_.during_send = [&] {
    {
      std::unique_lock<std::mutex> lock(mutex);
      EXPECT_TRUE(claim_ran.wait_for(lock, std::chrono::seconds(30), [&] { return claimed_ahead; }));
    }
    clock_.Advance(options_.lease / 2);
  };
  OutboxPassStats stats;
  size_t claimed = 0;
  ASSERT_TRUE(delivery.Pass(outbox_, mailer_, stopped_, stats, claimed).ok());
  EXPECT_EQ(stats.sent, 2);  // after two, 3/4 of the lease is gone: three rows go back, due now
  // And the rows claimed ahead go back with them: due now, their claim not counted as an attempt.
  for (int64_t id = 3; id <= 10; ++id) {
    EXPECT_EQ(outbox_.rows.at(id).status, "pending");
    EXPECT_LE(outbox_.rows.at(id).next_attempt_at, clock_.Now());
    EXPECT_EQ(outbox_.rows.at(id).mail.attempts, 0);  // the release does not count an attempt
  }
  mailer_.during_send = nullptr;
  Drain(delivery);
  EXPECT_EQ(mailer_.accepted.size(), 10u);
  ExpectEachDeliveredWithOneMessageId();
}

}  // namespace
}  // namespace engine
