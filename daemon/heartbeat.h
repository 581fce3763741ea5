// Heartbeats: how the daemon knows that each of its loops (each mailbox
// worker, the outbox worker, the web server) still makes progress, so that it
// pets systemd's watchdog only while all of them do (docs/systemd.md). A loop
// beats at each turn, IDLE wake and send; before it waits it beats with the
// wait's length, the time by which it promises its next beat. A loop is late
// when it has not beaten by its promise plus a grace (half the watchdog
// interval): a wedged IDLE, a hung SMTP send, a blocked web thread.
//
// Pure: the clock is a parameter, so the decisions are tested without time.
// Thread-safety: Heartbeat::Beat and SetUp from the loop's thread, everything
// else from any thread; Add before a loop starts, Remove after it ended.
#ifndef MAILFORUM_DAEMON_HEARTBEAT_H_
#define MAILFORUM_DAEMON_HEARTBEAT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mailforumd {

class Heartbeat {
 public:
  using Clock = std::chrono::steady_clock;

  // Progress now; the next beat is due within `next_within` (0: the loop is
  // busy and beats again as soon as it has made more progress).
  void Beat(std::chrono::milliseconds next_within = std::chrono::milliseconds(0));
  // Whether the loop's last attempt worked (a mailbox connected and passed);
  // STATUS= counts the mailboxes up. Starts false.
  void SetUp(bool up) { up_.store(up); }
  bool up() const { return up_.load(); }
  const std::string& name() const { return name_; }
  // The time by which the next beat was promised.
  Clock::time_point due() const { return Clock::time_point(Clock::duration(due_.load())); }

 private:
  friend class Heartbeats;
  Heartbeat(std::string name, std::function<Clock::time_point()> clock);

  const std::string name_;
  const std::function<Clock::time_point()> clock_;
  std::atomic<Clock::rep> due_;
  std::atomic<bool> up_{false};
};

class Heartbeats {
 public:
  explicit Heartbeats(std::function<Heartbeat::Clock::time_point()> clock = Heartbeat::Clock::now);

  // A new loop's heartbeat, beaten now; it lives as long as this registry, or until Remove.
  Heartbeat& Add(std::string name);
  // Forgets the heartbeat of a loop that ended (a mailbox stopped by a
  // reload); `beat` must come from Add and its loop must have ended.
  void Remove(const Heartbeat& beat);

  // The names of the loops whose promised beat is more than `grace` overdue
  // at the clock's now, in the order they were added.
  std::vector<std::string> Late(std::chrono::milliseconds grace) const;

 private:
  const std::function<Heartbeat::Clock::time_point()> clock_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Heartbeat>> beats_;  // guarded by mutex_
};

// What the watchdog decision says in the journal: "" when no loop is late,
// else "watchdog: not pinging; late: mailbox help, outbox".
std::string LateMessage(const std::vector<std::string>& late);

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_HEARTBEAT_H_
