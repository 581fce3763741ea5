// The mailbox workers' bounded connections (daemon/mailbox_database.h) on the
// test PostgreSQL: the locks of 200 mailboxes on one connection, exclusive
// between two daemons, given back by Unlock; a pool that lends at most its
// size of connections, reusing them, and closes one that sent a large value.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "daemon/engine_adapters.h"
#include "daemon/mailbox_database.h"
#include "daemon/worker_itest_support.h"
#include "forum/model.h"

namespace mailforumd {
namespace {

size_t OpenDescriptors() {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                           std::filesystem::directory_iterator()));
}

class MailboxDatabaseTest : public itest::WorkerTest {
 protected:
  MailboxDatabaseTest() : WorkerTest("mbdb") {}
};

TEST_F(MailboxDatabaseTest, TwoHundredMailboxLocksHoldOneConnection) {
  MailboxDatabase a(dsn_, 4);
  MailboxDatabase b(dsn_, 4);  // another daemon
  const size_t before = OpenDescriptors();
  for (int i = 0; i < 200; ++i) {
    auto locked = a.TryLock("box" + std::to_string(i));
    ASSERT_TRUE(locked.ok()) << locked.error().message;
    ASSERT_TRUE(*locked) << i;
  }
  EXPECT_EQ(OpenDescriptors() - before, 1u);  // one PostgreSQL connection for all 200 locks
  EXPECT_EQ(Scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
                   "(SELECT oid FROM pg_database WHERE datname = current_database())"),
            "200");
  EXPECT_EQ(
      Scalar(
          "SELECT count(DISTINCT pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
          "(SELECT oid FROM pg_database WHERE datname = current_database())"),
      "1");

  auto other = b.TryLock("box7");
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(*other);  // exclusive between daemons
  EXPECT_TRUE(*a.Holds("box7"));
  EXPECT_FALSE(*b.Holds("box7"));
  a.Unlock("box7");
  EXPECT_FALSE(*a.Holds("box7"));
  other = b.TryLock("box7");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(*other);  // given back, taken over
  EXPECT_TRUE(*b.Holds("box7"));
}

TEST_F(MailboxDatabaseTest, LocksAreKnownLostWhenTheLockSessionEndsAndCanBeTakenAgain) {
  MailboxDatabase a(dsn_, 2);
  ASSERT_TRUE(*a.TryLock("lost1"));
  ASSERT_TRUE(*a.TryLock("lost2"));
  ASSERT_TRUE(*a.TryLock("lost2"));  // taken twice: given back by two Unlocks
  EXPECT_TRUE(*a.Holds("lost1"));
  a.Unlock("lost2");
  EXPECT_TRUE(*a.Holds("lost2"));
  a.Unlock("lost2");
  EXPECT_FALSE(*a.Holds("lost2"));
  EXPECT_FALSE(*a.Holds("lost3"));  // never taken
  // The server ends the lock session (a restart, an admin): no lock may be claimed from memory after that.
  const std::string holder = Scalar(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND "
      "((classid::bigint << 32) | objid::bigint) = hashtextextended('mailforum mailbox lost1', 0)");
  ASSERT_EQ(Scalar("SELECT pg_terminate_backend(" + holder + ")"), "t");
  // Its server process exits a moment after the signal.
  ASSERT_TRUE(WaitForScalar("SELECT count(*) FROM pg_stat_activity WHERE pid = " + holder, "0",
                            std::chrono::seconds(30)));
  for (int i = 0; i < 3; ++i) {
    auto held = a.Holds("lost1");
    EXPECT_FALSE(held && *held) << "attempt " << i;
  }
  // Locked again on a new session, which the next check confirms.
  auto again = a.TryLock("lost1");
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_TRUE(*again);
  EXPECT_TRUE(*a.Holds("lost1"));
  EXPECT_FALSE(*a.Holds("lost2"));
}

TEST_F(MailboxDatabaseTest, ThePoolLendsAtMostItsSizeAndReusesConnections) {
  MailboxDatabase db(dsn_, 2);
  std::set<forum::Store*> stores;
  {
    auto first = db.Acquire();
    auto second = db.Acquire();
    ASSERT_TRUE(first.ok() && second.ok());
    stores = {&first->store(), &second->store()};
    EXPECT_EQ(stores.size(), 2u);
  }
  for (int i = 0; i < 10; ++i) {
    auto lease = db.Acquire();
    ASSERT_TRUE(lease.ok());
    EXPECT_EQ(stores.count(&lease->store()), 1u);  // one of the two, never a third
    EXPECT_TRUE(lease->store().ThreadExists(1).ok());
  }
  {
    auto lease = db.Acquire();
    ASSERT_TRUE(lease.ok());
    lease->Discard();  // its pass failed: closed, opened again when next borrowed
  }
  auto again = db.Acquire();
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->store().ThreadExists(1).ok());
}

// A quarantined message of `bytes` bytes, UID `uid`.
forum::InboundItem Quarantined(uint32_t uid, size_t bytes) {
  forum::InboundItem item;
  item.mailbox = "help";
  item.uidvalidity = 7;
  item.uid = uid;
  item.message_key = "sha256:" + std::to_string(uid);
  item.outcome = forum::Outcome::kQuarantined;
  item.reason = "not an email";
  item.raw = std::string(bytes, 'x');
  item.size = bytes;
  return item;
}

// libpq's buffers keep the size of the largest message a connection sent:
// after a batch of 1 MiB or more, the pool closes the connection (a new
// session serves the next call); after a small one it keeps it.
TEST_F(MailboxDatabaseTest, APooledConnectionThatSentALargeValueIsClosed) {
  MailboxDatabase db(dsn_, 1);
  PooledLedger ledger(db, {});
  auto session = [&] {
    auto lease = db.Acquire();
    EXPECT_TRUE(lease.ok());
    auto id = lease->store().SessionId();
    EXPECT_TRUE(id.ok());
    return id.ok() ? *id : -1;
  };
  const int first = session();
  auto small = ledger.RecordBatch({Quarantined(1, 1000)}, "example.com");
  ASSERT_TRUE(small.ok()) << small.error().message;
  ASSERT_TRUE((*small)[0].ok());
  EXPECT_EQ(session(), first);
  auto large = ledger.RecordBatch({Quarantined(2, forum::kLargeMessageBytes)}, "example.com");
  ASSERT_TRUE(large.ok()) << large.error().message;
  ASSERT_TRUE((*large)[0].ok());
  const int second = session();
  EXPECT_NE(second, first);
  EXPECT_EQ(Scalar("SELECT length(raw) FROM inbound_messages WHERE uid = 2"),
            std::to_string(forum::kLargeMessageBytes));
}

}  // namespace
}  // namespace mailforumd
