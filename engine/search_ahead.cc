#include "engine/search_ahead.h"

#include <system_error>

#include "base/log.h"

namespace engine {

SearchAhead::~SearchAhead() {
  {
    const std::lock_guard lock(mu_);
    finishing_ = true;
    queued_.clear();
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SearchAhead::Add(size_t index, std::string text) {
  if (text.empty() || text.size() > kMaxTextBytes) return;
  {
    const std::lock_guard lock(mu_);
    if (failed_ || finishing_) return;
    if (!thread_.joinable()) {
      try {
        thread_ = std::thread([this] { Run(); });
      } catch (const std::system_error& e) {
        failed_ = true;
        base::LogWarning(std::string("cannot start a thread to make search vectors ahead: ") + e.what());
        return;
      }
    }
    queued_.emplace_back(index, std::move(text));
  }
  wake_.notify_one();
}

std::map<size_t, forum::SearchVector> SearchAhead::Finish() {
  {
    const std::lock_guard lock(mu_);
    finishing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  const std::lock_guard lock(mu_);
  return std::move(made_);
}

void SearchAhead::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return !queued_.empty() || finishing_; });
    if (queued_.empty()) return;
    std::vector<size_t> indexes;
    std::vector<std::string> texts;
    size_t bytes = 0;
    size_t n = 0;
    for (; n < queued_.size() && (n == 0 || bytes + queued_[n].second.size() <= kMaxBytesPerCall); ++n) {
      bytes += queued_[n].second.size();
      indexes.push_back(queued_[n].first);
      texts.push_back(std::move(queued_[n].second));
    }
    queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
    lock.unlock();
    auto made = ledger_.MakeSearchVectors(texts);
    lock.lock();
    if (!made || made->size() != indexes.size()) {
      failed_ = true;
      queued_.clear();
      base::LogWarning("search vectors not made ahead (the recording makes them): " +
                       (made ? std::string("a vector per text expected") : made.error().message));
      return;
    }
    for (size_t i = 0; i < indexes.size(); ++i) made_[indexes[i]] = std::move((*made)[i]);
  }
}

}  // namespace engine
