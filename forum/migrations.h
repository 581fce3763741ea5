// The schema migrations, embedded in the binaries at build time from
// forum/migrations/NNNN_name.sql (cmake/EmbedMigrations.cmake).
//
// Migrations are forward-only: a released file is never edited; a change is a
// new, higher-numbered file. Thread-safety: immutable data.
#ifndef MAILFORUM_FORUM_MIGRATIONS_H_
#define MAILFORUM_FORUM_MIGRATIONS_H_

#include <string_view>
#include <vector>

namespace forum {

struct Migration {
  int version;            // the NNNN prefix; strictly increasing
  std::string_view name;  // the file name without .sql
  std::string_view sql;   // the statements, applied in one transaction
};

// All migrations in version order.
const std::vector<Migration>& Migrations();

// The schema version this build needs: the highest migration's version.
int RequiredSchemaVersion();

}  // namespace forum

#endif  // MAILFORUM_FORUM_MIGRATIONS_H_
