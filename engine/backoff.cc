#include "engine/backoff.h"

#include <cstdint>
#include <random>

namespace engine {

std::chrono::milliseconds WithJitter(std::chrono::milliseconds d, double spread) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(1.0 - spread, 1.0 + spread);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) * factor(rng)));
}

std::string DurationText(std::chrono::milliseconds d) {
  return d < std::chrono::seconds(1) ? std::to_string(d.count()) + " ms"
                                     : std::to_string((d.count() + 500) / 1000) + " s";
}

}  // namespace engine
