// Private to forum/: running a body of statements in one libpqxx
// transaction and turning what it throws into an Error, once for every Store
// and Reader method instead of a try/transaction/commit/catch block in each.
//
// Thread-safety: as the connection given, one thread at a time.
#ifndef MAILFORUM_FORUM_TRANSACTION_H_
#define MAILFORUM_FORUM_TRANSACTION_H_

#include <exception>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <utility>

#include "base/result.h"
#include "forum/connection.h"

namespace forum {

// What a body's statements run in (pqxx::work, read_transaction or nontransaction).
using Tx = pqxx::transaction_base;

// Converts an exception thrown by libpqxx into an Error saying what we were
// doing: kTransient for lost connections, serialization failures, deadlocks
// and server shutdown; kInternal otherwise.
base::Error FromException(const std::exception& e, const std::string& what);

// Throws pqxx::broken_connection when the server has already closed `conn`
// (ended the session, restarted) as far as its socket tells, without a round
// trip: it reads what is waiting (notifications go to their receivers). A
// connection that may have sat idle across a break is checked before its
// first query, so that it is replaced before the work starts rather than
// failing it (and, for the lock methods, so that a lost session lock is
// noticed at once).
void ThrowIfClosed(pqxx::connection_base& conn);

namespace transaction_internal {

template <typename T>
struct IsResult : std::false_type {};
template <typename T>
struct IsResult<base::Result<T>> : std::true_type {};

// What a body returning T gives its caller: T itself when it is a Result
// already, base::Status for void, base::Result<T> otherwise.
template <typename T>
struct AsResult {
  using type = base::Result<T>;
};
template <typename T>
struct AsResult<base::Result<T>> {
  using type = base::Result<T>;
};
template <>
struct AsResult<void> {
  using type = base::Status;
};

}  // namespace transaction_internal

// Runs `before()`, opens a `Transaction` on `conn` and runs `body(tx)`.
// A body that returns a base::Result or base::Status holding an error gets
// that error returned without a commit (the transaction rolls back);
// otherwise the transaction commits (for a read_transaction or a
// nontransaction, harmlessly) and the body's value is returned. Whatever
// `before`, the transaction, the body or the commit throws is returned as
// `fail(e)`, a base::Error.
template <typename Transaction, typename Before, typename Body, typename Fail>
auto Transact(pqxx::connection_base& conn, Before&& before, Body&& body, Fail&& fail) ->
    typename transaction_internal::AsResult<std::invoke_result_t<Body&, Transaction&>>::type {
  using Value = std::invoke_result_t<Body&, Transaction&>;
  try {
    before();
    Transaction tx(conn);
    if constexpr (std::is_void_v<Value>) {
      body(tx);
      tx.commit();
      return {};
    } else {
      Value value = body(tx);
      if constexpr (transaction_internal::IsResult<Value>::value) {
        if (!value.ok()) return value;
      }
      tx.commit();
      return value;
    }
  } catch (const std::exception& e) {
    return fail(e);
  }
}

// What InTransaction does before it opens the transaction.
enum class Check {
  kNone,
  kAliveFirst,  // ThrowIfClosed: a session the server ended fails at once (the lock methods)
};

// Transact on a connection of a Store: an exception becomes
// FromException(e, what).
template <typename Transaction, Check check = Check::kNone, typename Body>
auto InTransaction(Connection& conn, const std::string& what, Body&& body) {
  return Transact<Transaction>(
      conn,
      [&conn] {
        if constexpr (check == Check::kAliveFirst) ThrowIfClosed(conn);
      },
      std::forward<Body>(body), [&what](const std::exception& e) { return FromException(e, what); });
}

}  // namespace forum

#endif  // MAILFORUM_FORUM_TRANSACTION_H_
