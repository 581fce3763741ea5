#include "daemon/heartbeat.h"

#include <utility>

namespace mailforumd {

Heartbeat::Heartbeat(std::string name, std::function<Clock::time_point()> clock)
    : name_(std::move(name)), clock_(std::move(clock)), due_(clock_().time_since_epoch().count()) {}

void Heartbeat::Beat(std::chrono::milliseconds next_within) {
  const auto due = clock_() + std::chrono::duration_cast<Clock::duration>(next_within);
  due_.store(due.time_since_epoch().count());
}

Heartbeats::Heartbeats(std::function<Heartbeat::Clock::time_point()> clock) : clock_(std::move(clock)) {}

Heartbeat& Heartbeats::Add(std::string name) {
  std::lock_guard<std::mutex> lock(mutex_);
  beats_.push_back(std::unique_ptr<Heartbeat>(new Heartbeat(std::move(name), clock_)));
  return *beats_.back();
}

void Heartbeats::Remove(const Heartbeat& beat) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(beats_, [&beat](const std::unique_ptr<Heartbeat>& b) { return b.get() == &beat; });
}

std::vector<std::string> Heartbeats::Late(std::chrono::milliseconds grace) const {
  const auto now = clock_();
  std::vector<std::string> late;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& beat : beats_) {
    if (now > beat->due() + grace) late.push_back(beat->name());
  }
  return late;
}

std::string LateMessage(const std::vector<std::string>& late) {
  if (late.empty()) return "";
  std::string out = "watchdog: not pinging; late:";
  for (size_t i = 0; i < late.size(); ++i) out += (i == 0 ? " " : ", ") + late[i];
  return out;
}

}  // namespace mailforumd
