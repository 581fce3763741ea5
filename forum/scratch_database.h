// Scratch databases for tests: each test gets a new, empty database on the
// test PostgreSQL server, so tests never see each other's rows.
// Built into mf_forum_testing, which only tests link.
#ifndef MAILFORUM_FORUM_SCRATCH_DATABASE_H_
#define MAILFORUM_FORUM_SCRATCH_DATABASE_H_

#include <string>

#include "base/result.h"

namespace forum {

// Creates a database with a unique name beginning with `prefix` using the
// superuser connection `admin_dsn`, and returns a DSN for it (admin_dsn with
// its dbname replaced). Errors: kTransient when the server is unreachable.
base::Result<std::string> CreateScratchDatabase(const std::string& admin_dsn, const std::string& prefix);

// Runs one SQL statement on `dsn` outside a transaction and returns the first
// column of the first row ("" when there is none). For test assertions.
base::Result<std::string> QueryScalar(const std::string& dsn, const std::string& sql);

}  // namespace forum

#endif  // MAILFORUM_FORUM_SCRATCH_DATABASE_H_
