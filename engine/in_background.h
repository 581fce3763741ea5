// InBackground: one piece of work on a thread of its own, its result taken
// when the caller is ready for it.
#ifndef MAILFORUM_ENGINE_IN_BACKGROUND_H_
#define MAILFORUM_ENGINE_IN_BACKGROUND_H_

#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "base/log.h"

namespace engine {

// `work`, done on a thread of its own from construction on while the
// caller's thread does something else (a mailbox pass fetches and records
// one batch while it decides and prepares another; outbox delivery claims
// the next batch while it sends one). Take() waits for its result. The
// destructor joins the thread, so no work outlives its InBackground,
// whatever ends the caller's work. When no thread can be started, Take()
// does the work on the caller's thread, as a caller without overlap would.
//
// Thread-safety: construct, Take and destroy on one thread; `work` must not
// touch what that thread uses meanwhile.
template <class T>
class InBackground {
 public:
  InBackground(const char* what, std::function<T()> work) : work_(std::move(work)) {
    try {
      thread_ = std::thread([this] { result_.emplace(work_()); });
    } catch (const std::system_error& e) {
      base::LogWarning(std::string("cannot start a thread to ") + what + "; doing it in turn: " + e.what());
    }
  }
  ~InBackground() { Join(); }
  InBackground(const InBackground&) = delete;
  InBackground& operator=(const InBackground&) = delete;

  // Waits for the work and returns its result. Once.
  T Take() {
    Join();
    if (!result_) result_.emplace(work_());
    return std::move(*result_);
  }

 private:
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  std::function<T()> work_;
  std::optional<T> result_;  // written by thread_, read after it is joined
  std::thread thread_;       // last: it starts once the members it uses exist
};

}  // namespace engine

#endif  // MAILFORUM_ENGINE_IN_BACKGROUND_H_
