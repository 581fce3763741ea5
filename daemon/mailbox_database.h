// The mailbox workers' PostgreSQL connections, bounded (issue 10 item 5):
// every mailbox's cluster-wide lock lives on ONE dedicated connection, and
// the workers borrow one of a few pooled connections for each database call
// of a pass (PooledLedger, daemon/engine_adapters.h), never across IMAP
// round trips. 200 mailboxes then need 1 + pool_size connections (and
// descriptors), not 200.
//
// The locks are PostgreSQL session advisory locks on the lock connection:
// when it dies (or the process does) they all go, and a worker's next
// Holds() says so (the pass stops and the worker locks again), as when each
// worker held its own connection.
//
// Thread-safety: all methods from any thread; a Lease on one thread at a time.
#ifndef MAILFORUM_DAEMON_MAILBOX_DATABASE_H_
#define MAILFORUM_DAEMON_MAILBOX_DATABASE_H_

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "forum/store.h"

namespace mailforumd {

class MailboxDatabase {
 public:
  // Connects lazily: nothing is opened before the first TryLock or Acquire.
  MailboxDatabase(std::string dsn, size_t pool_size);
  ~MailboxDatabase();
  MailboxDatabase(const MailboxDatabase&) = delete;
  MailboxDatabase& operator=(const MailboxDatabase&) = delete;

  // Takes `mailbox`'s lock on the lock connection (opened again when it was
  // lost); false when another daemon holds it. Each taking is given back by one Unlock.
  base::Result<bool> TryLock(const std::string& mailbox);
  // Gives one taking of `mailbox`'s lock back (another daemon may take it).
  void Unlock(const std::string& mailbox);
  // Whether this process still holds `mailbox`'s lock (false once the lock connection was lost).
  base::Result<bool> Holds(const std::string& mailbox);

  // A pooled connection, borrowed until the lease ends.
  class Lease {
   public:
    Lease(Lease&& other) noexcept : db_(other.db_), slot_(other.slot_), discard_(other.discard_) {
      other.db_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    forum::Store& store() const { return *db_->slots_[slot_]; }
    // The connection may be in any state (its pass failed): closed on return, opened again when next
    // borrowed.
    void Discard() { discard_ = true; }

   private:
    friend class MailboxDatabase;
    Lease(MailboxDatabase* db, size_t slot) : db_(db), slot_(slot) {}
    MailboxDatabase* db_;
    size_t slot_;
    bool discard_ = false;
  };
  // Waits for a free pooled connection (opening it when needed), calling
  // `waiting` (when set) about every second meanwhile: a worker waiting its
  // turn beats its heartbeat. Errors: the connection's.
  base::Result<Lease> Acquire(const std::function<void()>& waiting = {});

  size_t pool_size() const { return slots_.size(); }

 private:
  void Return(size_t slot, bool discard);

  const std::string dsn_;
  std::mutex lock_mu_;
  std::unique_ptr<forum::Store> lock_store_;  // guarded by lock_mu_
  std::mutex pool_mu_;
  std::condition_variable returned_;
  std::vector<size_t> free_;  // guarded by pool_mu_
  // A slot is touched only by its lease holder (or under pool_mu_ while free).
  std::vector<std::unique_ptr<forum::Store>> slots_;
};

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_MAILBOX_DATABASE_H_
