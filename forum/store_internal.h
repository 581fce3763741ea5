// Private to forum/: the state behind forum::Store and the conversion of
// libpqxx exceptions, shared by the .cc files that implement Store.
#ifndef MAILFORUM_FORUM_STORE_INTERNAL_H_
#define MAILFORUM_FORUM_STORE_INTERNAL_H_

#include <pqxx/pqxx>

#include <exception>
#include <string>

#include "base/result.h"
#include "forum/store.h"

namespace forum {

struct Store::Impl {
  explicit Impl(const std::string& dsn) : conn(dsn) {}
  pqxx::connection conn;
};

// Converts an exception thrown by libpqxx into an Error saying what we were
// doing: kTransient for lost connections, serialization failures, deadlocks
// and server shutdown; kInternal otherwise.
base::Error FromException(const std::exception& e, const std::string& what);

}  // namespace forum

#endif  // MAILFORUM_FORUM_STORE_INTERNAL_H_
