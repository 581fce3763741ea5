#include "daemon/mailbox_database.h"

#include <chrono>
#include <utility>

namespace mailforumd {

MailboxDatabase::MailboxDatabase(std::string dsn, size_t pool_size)
    : dsn_(std::move(dsn)), slots_(pool_size == 0 ? 1 : pool_size) {
  for (size_t i = slots_.size(); i > 0; --i) free_.push_back(i - 1);
}

MailboxDatabase::~MailboxDatabase() = default;

base::Result<bool> MailboxDatabase::TryLock(const std::string& mailbox) {
  std::lock_guard<std::mutex> lock(lock_mu_);
  if (!lock_store_) {
    auto store = forum::Store::Connect(dsn_);
    if (!store) return store.error().WithContext("mailbox locks");
    auto session = (*store)->SessionId();
    if (!session) return session.error().WithContext("mailbox locks");
    lock_store_ = std::move(store).value();
    lock_session_ = *session;
  }
  auto locked = lock_store_->TryLockMailbox(mailbox);
  // A failed connection may be in any state: open a new one next time (its locks are gone).
  if (!locked) {
    DropLocks();
    return locked;
  }
  // Taken in a session libpqxx silently renewed, it is dropped at the next check with the others.
  if (*locked) ++takings_[mailbox];
  return locked;
}

void MailboxDatabase::Unlock(const std::string& mailbox) {
  std::lock_guard<std::mutex> lock(lock_mu_);
  if (!lock_store_) return;
  if (!lock_store_->UnlockMailbox(mailbox)) {
    DropLocks();
    return;
  }
  if (auto it = takings_.find(mailbox); it != takings_.end() && --it->second <= 0) takings_.erase(it);
}

base::Result<bool> MailboxDatabase::Holds(const std::string& mailbox) {
  const auto asked = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lock(lock_mu_);
  if (!lock_store_) return false;
  if (checked_at_ <= asked) {
    const auto check_start = std::chrono::steady_clock::now();
    auto session = lock_store_->SessionId();
    if (!session) {
      DropLocks();
      return session.error();
    }
    if (*session != lock_session_) {
      DropLocks();  // a new session holds none of the locks (and those it took are given back)
      return false;
    }
    checked_at_ = check_start;
  }
  return takings_.count(mailbox) > 0;
}

void MailboxDatabase::DropLocks() {
  lock_store_.reset();
  takings_.clear();
  checked_at_ = {};
}

base::Result<MailboxDatabase::Lease> MailboxDatabase::Acquire(const std::function<void()>& waiting) {
  size_t slot = 0;
  {
    std::unique_lock<std::mutex> lock(pool_mu_);
    while (!returned_.wait_for(lock, std::chrono::seconds(1), [this] { return !free_.empty(); })) {
      if (!waiting) continue;
      lock.unlock();
      waiting();
      lock.lock();
    }
    slot = free_.back();
    free_.pop_back();
  }
  // A connection the server closed while it sat in the pool (a restart) is replaced before its first query.
  if (slots_[slot] && !slots_[slot]->CheckConnection().ok()) slots_[slot].reset();
  if (!slots_[slot]) {
    auto store = forum::Store::Connect(dsn_);
    if (!store) {
      Return(slot, true);
      return store.error();
    }
    slots_[slot] = std::move(store).value();
  }
  return Lease(this, slot);
}

void MailboxDatabase::Return(size_t slot, bool discard) {
  // A connection that carried a large message (a batch of large mail) is
  // closed rather than kept: libpq would keep buffers that large for the
  // daemon's life (forum/connection.h). The next borrower opens a new one.
  if (discard || (slots_[slot] && slots_[slot]->KeepsLargeBuffers())) slots_[slot].reset();
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    free_.push_back(slot);
  }
  returned_.notify_one();
}

MailboxDatabase::Lease::~Lease() {
  if (db_ != nullptr) db_->Return(slot_, discard_);
}

}  // namespace mailforumd
