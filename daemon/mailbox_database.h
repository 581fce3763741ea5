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
// worker held its own connection. Holds() answers from the takings this
// process made, once the lock connection's session is confirmed to be the
// one that took them (its server process id, one round trip): a check that
// began after the question was asked answers every worker waiting for it,
// so 200 workers woken at once cost a few round trips, not 200.
//
// Thread-safety: all methods from any thread; a Lease on one thread at a time.
#ifndef MAILFORUM_DAEMON_MAILBOX_DATABASE_H_
#define MAILFORUM_DAEMON_MAILBOX_DATABASE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
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
  // Whether this process still holds `mailbox`'s lock (false once the lock
  // connection was lost), as of a moment after the call began.
  base::Result<bool> Holds(const std::string& mailbox);

  // A pooled connection, borrowed until the lease ends. On return, one that
  // carried a large message is closed (forum::Store::KeepsLargeBuffers). The
  // lock connection carries only small statements and is never so closed:
  // closing it would give every lock away.
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
  // Closes the lock connection: every lock of this process is gone. Needs lock_mu_.
  void DropLocks();

  const std::string dsn_;
  std::mutex lock_mu_;
  // Guarded by lock_mu_: the lock connection, the server process id of the
  // session its locks were taken in, the takings of each mailbox's lock, and
  // when the last check that the session is still that one began.
  std::unique_ptr<forum::Store> lock_store_;
  int lock_session_ = 0;
  std::map<std::string, int> takings_;
  std::chrono::steady_clock::time_point checked_at_{};
  std::mutex pool_mu_;
  std::condition_variable returned_;
  std::vector<size_t> free_;  // guarded by pool_mu_
  // A slot is touched only by its lease holder (or under pool_mu_ while free).
  std::vector<std::unique_ptr<forum::Store>> slots_;
};

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_MAILBOX_DATABASE_H_
