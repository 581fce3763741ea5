// SearchAhead: the search vectors of a batch's post bodies, made by the
// ledger on a thread of its own while the batch is being prepared.
#ifndef MAILFORUM_ENGINE_SEARCH_AHEAD_H_
#define MAILFORUM_ENGINE_SEARCH_AHEAD_H_

#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/ports.h"
#include "forum/inbound.h"

namespace engine {

// A post's search vector costs PostgreSQL more than anything else it does
// to record the post (the text search over up to 20,000 characters). Made
// inside the recording transaction, it lengthens the one connection that
// records a mailbox's batches; made ahead, on another connection while the
// batch before is recorded and while this one is still being parsed, it
// runs beside both. Add() queues a body as soon as it is known; a thread
// sends what is queued (up to kMaxBytesPerCall of text at a time) in one
// round trip, again and again until Finish(). Bodies over kMaxTextBytes are
// left to the recording, which reads only their first 20,000 characters.
//
// It is only an optimisation: a round trip that fails leaves its bodies
// without vectors (the recording makes them, as it always may), is logged,
// and ends the making ahead for the batch; a thread that cannot be started
// makes none. The store uses a vector only while it is of the post's body
// and made with the configuration the database still has.
//
// Thread-safety: Add, Finish and the destructor on one thread; the ledger
// is called from the thread of its own.
class SearchAhead {
 public:
  static constexpr size_t kMaxTextBytes = 80'000;  // 20,000 characters of UTF-8 at most
  // Text per round trip: its vectors stay under the pools' 1 MiB message mark even for text of short
  // distinct words (about 6 bytes of vector per character).
  static constexpr size_t kMaxBytesPerCall = 128 * 1024;

  explicit SearchAhead(InboundLedger& ledger) : ledger_(ledger) {}
  ~SearchAhead();
  SearchAhead(const SearchAhead&) = delete;
  SearchAhead& operator=(const SearchAhead&) = delete;

  // Queues `text`, the post body of the batch's message `index`.
  void Add(size_t index, std::string text);
  // Waits for every round trip; the vectors made, by index. Once.
  std::map<size_t, forum::SearchVector> Finish();

 private:
  void Run();

  InboundLedger& ledger_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<std::pair<size_t, std::string>> queued_;  // guarded by mu_
  bool finishing_ = false;                              // guarded by mu_
  bool failed_ = false;                                 // guarded by mu_
  std::map<size_t, forum::SearchVector> made_;          // guarded by mu_
  std::thread thread_;                                  // started by the first Add
};

}  // namespace engine

#endif  // MAILFORUM_ENGINE_SEARCH_AHEAD_H_
