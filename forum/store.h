// Store: the forum's PostgreSQL database. libpqxx lives only in forum/.
//
// One Store owns one database connection: use one Store per thread (Store is
// not thread-safe). Every method reports failures as base::Error:
// kTransient for lost connections, timeouts, serialization failures and
// deadlocks (retry with a new Store or later), kConfig for a schema that does
// not match this build, kInternal for anything else. No libpqxx exception
// crosses this header. The DSN may hold a password: it never appears in errors.
#ifndef MAILFORUM_FORUM_STORE_H_
#define MAILFORUM_FORUM_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "forum/model.h"

namespace forum {

class Store {
 public:
  // Connects to the database named by `dsn` (a libpq connection string).
  static base::Result<std::unique_ptr<Store>> Connect(const std::string& dsn);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // The schema revision of the database: 0 when mailforum's schema is absent.
  base::Result<int> SchemaVersion();

  // Applies every pending migration, each in its own transaction, under an
  // advisory lock so that concurrent callers apply each migration once.
  // Returns the versions applied (empty when the schema was current).
  // Fails with kConfig when the database is newer than this build.
  base::Result<std::vector<int>> Migrate();

  // Ok when the database schema is exactly RequiredSchemaVersion(); otherwise a
  // kConfig error that says which command fixes it.
  base::Status CheckSchema();

  // Inserts missing categories and updates the names and descriptions of
  // existing ones (by slug). Categories absent from `categories` are kept:
  // their threads still exist.
  base::Status SyncCategories(const std::vector<Category>& categories);

  // All categories, ordered by slug.
  base::Result<std::vector<Category>> ListCategories();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_STORE_H_
