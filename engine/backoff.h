// Retry delays and backoff: jitter, so that workers that failed together do
// not retry together, and how a delay reads in a log line.
#ifndef MAILFORUM_ENGINE_BACKOFF_H_
#define MAILFORUM_ENGINE_BACKOFF_H_

#include <chrono>
#include <string>

namespace engine {

// `d` scaled by a random factor in [1 - spread, 1 + spread] (spread in [0, 1]). Thread-safe.
std::chrono::milliseconds WithJitter(std::chrono::milliseconds d, double spread);

// "250 ms", "12 s".
std::string DurationText(std::chrono::milliseconds d);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_BACKOFF_H_
