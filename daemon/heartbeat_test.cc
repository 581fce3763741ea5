#include "daemon/heartbeat.h"

#include <gtest/gtest.h>

namespace mailforumd {
namespace {

using namespace std::chrono_literals;
using Strings = std::vector<std::string>;

// A clock the test moves by hand.
struct FakeClock {
  Heartbeat::Clock::time_point now{std::chrono::hours(1)};
  std::function<Heartbeat::Clock::time_point()> Function() {
    return [this] { return now; };
  }
};

TEST(HeartbeatsTest, ALoopIsLateOnlyAfterItsPromisePlusTheGrace) {
  FakeClock clock;
  Heartbeats beats(clock.Function());
  Heartbeat& mailbox = beats.Add("mailbox help");
  Heartbeat& outbox = beats.Add("outbox");
  EXPECT_EQ(beats.Late(10s), Strings{});

  // The mailbox goes into a 60 s IDLE; the outbox is busy sending.
  mailbox.Beat(60s);
  outbox.Beat();
  clock.now += 10s;
  EXPECT_EQ(beats.Late(10s), Strings{}) << "exactly at the grace is not late";
  clock.now += 1ms;
  EXPECT_EQ(beats.Late(10s), Strings{"outbox"}) << "a send hung for longer than the grace";
  outbox.Beat();
  EXPECT_EQ(beats.Late(10s), Strings{});

  // The IDLE wakes late: 60 s promised, 70 s is the limit.
  clock.now += 60s - 1ms;
  EXPECT_EQ(beats.Late(10s), Strings{"outbox"});
  outbox.Beat(5s);
  clock.now += 1ms;
  EXPECT_EQ(beats.Late(10s), Strings{"mailbox help"});
  mailbox.Beat();
  EXPECT_EQ(beats.Late(10s), Strings{});

  // Both wedged.
  clock.now += 1h;
  EXPECT_EQ(beats.Late(10s), (Strings{"mailbox help", "outbox"}));
  EXPECT_EQ(LateMessage(beats.Late(10s)), "watchdog: not pinging; late: mailbox help, outbox");
  EXPECT_EQ(LateMessage({}), "");
}

TEST(HeartbeatsTest, UpIsReportedAsSet) {
  FakeClock clock;
  Heartbeats beats(clock.Function());
  Heartbeat& mailbox = beats.Add("mailbox help");
  EXPECT_FALSE(mailbox.up());
  mailbox.SetUp(true);
  EXPECT_TRUE(mailbox.up());
  EXPECT_EQ(mailbox.name(), "mailbox help");
  EXPECT_EQ(mailbox.due(), clock.now);
}

TEST(HeartbeatsTest, ARemovedLoopIsNeverLate) {
  FakeClock clock;
  Heartbeats beats(clock.Function());
  Heartbeat& removed = beats.Add("mailbox old");
  Heartbeat& kept = beats.Add("mailbox help");
  clock.now += 1h;
  EXPECT_EQ(beats.Late(10s), (Strings{"mailbox old", "mailbox help"}));
  beats.Remove(removed);  // a reload stopped it
  EXPECT_EQ(beats.Late(10s), Strings{"mailbox help"});
  kept.Beat();
  EXPECT_EQ(beats.Late(10s), Strings{});
}

}  // namespace
}  // namespace mailforumd
