#include "forum/store.h"

#include <poll.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "forum/migrations.h"
#include "forum/store_internal.h"

namespace forum {
namespace {

// Serialises concurrent `migrate` runs (any constant unique to mailforum).
constexpr long long kMigrationLockKey = 0x6d666d6967;  // "mfmig"

}  // namespace

base::Error FromException(const std::exception& e, const std::string& what) {
  using base::ErrorKind;
  ErrorKind kind = ErrorKind::kInternal;
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    kind = ErrorKind::kTransient;
  } else if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    // 08: connection exceptions; 40001 serialization failure; 40P01 deadlock;
    // 57P0x: the server is shutting down; 53: insufficient resources.
    if (state.rfind("08", 0) == 0 || state == "40001" || state == "40P01" || state.rfind("57P0", 0) == 0 ||
        state.rfind("53", 0) == 0) {
      kind = ErrorKind::kTransient;
    }
  } else if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    kind = ErrorKind::kTransient;
  }
  std::string message = e.what();
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  return base::Error{kind, what + ": " + message};
}

void ThrowIfClosed(pqxx::connection_base& conn) {
  if (!conn.is_open()) throw pqxx::broken_connection("the database connection is closed");
  // A few rounds: the server's last message may come before the end of the stream.
  for (int round = 0; round < 4; ++round) {
    pollfd fd{conn.sock(), POLLIN, 0};
    if (::poll(&fd, 1, 0) <= 0) return;  // nothing waiting: as alive as can be told
    conn.get_notifs();                     // reads it; throws broken_connection at the end of the stream
    if (!conn.is_open()) throw pqxx::broken_connection("the database server closed the connection");
  }
}

base::Status Store::CheckConnection() {
  try {
    ThrowIfClosed(impl_->conn);
    return {};
  } catch (const std::exception& e) {
    return FromException(e, "checking the database connection");
  }
}

bool Store::KeepsLargeBuffers() const { return impl_->conn.KeepsLargeBuffers(); }

std::string WithNetworkTimeouts(const std::string& dsn) {
  const bool uri = dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
  std::vector<std::pair<std::string, std::string>> add;
  if (dsn.find("keepalives") == std::string::npos) {
    add = {{"keepalives", "1"},
           {"keepalives_idle", "60"},
           {"keepalives_interval", "15"},
           {"keepalives_count", "4"}};
  }
  if (dsn.find("tcp_user_timeout") == std::string::npos) add.emplace_back("tcp_user_timeout", "120000");
  if (dsn.find("connect_timeout") == std::string::npos) add.emplace_back("connect_timeout", "30");
  std::string out = dsn;
  for (const auto& [key, value] : add) {
    if (uri) {
      out += (out.find('?') == std::string::npos ? "?" : "&") + key + "=" + value;
    } else {
      out += (out.empty() ? "" : " ") + key + "=" + value;
    }
  }
  return out;
}

int RequiredSchemaVersion() {
  const auto& all = Migrations();
  return all.empty() ? 0 : all.back().version;
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

base::Result<std::unique_ptr<Store>> Store::Connect(const std::string& dsn) {
  try {
    auto impl = std::make_unique<Impl>(dsn);
    return std::unique_ptr<Store>(new Store(std::move(impl)));
  } catch (const std::exception& e) {
    // libpq's messages name host and port, never the password.
    return base::Error{base::ErrorKind::kTransient,
                       std::string("cannot connect to PostgreSQL: ") + e.what()};
  }
}

base::Result<int> Store::SchemaVersion() {
  return InTransaction<pqxx::work>(impl_->conn, "reading the schema version", [&](Tx& tx) {
    auto exists = tx.exec1("SELECT to_regclass('public.schema_migrations') IS NOT NULL");
    if (!exists[0].as<bool>()) return 0;
    auto row = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations");
    return row[0].as<int>();
  });
}

base::Result<std::vector<int>> Store::Migrate() {
  std::vector<int> applied;
  // Not InTransaction: one transaction per migration, under a lock.
  try {
    for (const Migration& m : Migrations()) {
      pqxx::work tx(impl_->conn);
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLockKey);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          " version integer PRIMARY KEY, name text NOT NULL,"
          " applied_at timestamptz NOT NULL DEFAULT now())");
      int current = tx.exec1("SELECT coalesce(max(version), 0) FROM schema_migrations")[0].as<int>();
      if (current > RequiredSchemaVersion()) {
        return base::Error{base::ErrorKind::kConfig,
                           "the database schema (version " + std::to_string(current) +
                               ") is newer than this mailforum (version " +
                               std::to_string(RequiredSchemaVersion()) + "): install a newer mailforum"};
      }
      if (m.version <= current) continue;
      tx.exec(std::string(m.sql));
      tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version,
                     std::string(m.name));
      tx.commit();
      applied.push_back(m.version);
    }
  } catch (const std::exception& e) {
    return FromException(e, "migrating the schema");
  }
  return applied;
}

base::Status Store::CheckSchema() {
  auto version = SchemaVersion();
  if (!version) return version.error();
  const int required = RequiredSchemaVersion();
  if (*version == required) return {};
  if (*version < required) {
    return base::Error{base::ErrorKind::kConfig,
                       "the database schema is at version " + std::to_string(*version) +
                           " but this mailforum needs version " + std::to_string(required) +
                           ": run `mailforumctl migrate -c CONFIG` to upgrade it"};
  }
  return base::Error{base::ErrorKind::kConfig,
                     "the database schema is at version " + std::to_string(*version) +
                         ", newer than this mailforum (version " + std::to_string(required) +
                         "): install the newer mailforum that migrated it"};
}

base::Status Store::SyncCategories(const std::vector<Category>& categories) {
  return InTransaction<pqxx::work>(impl_->conn, "synchronising categories", [&](Tx& tx) {
    for (const Category& c : categories) {
      tx.exec_params(
          "INSERT INTO categories (slug, name, description, public) VALUES ($1, $2, $3, $4) "
          "ON CONFLICT (slug) DO UPDATE SET name = excluded.name, description = excluded.description, "
          "public = excluded.public",
          c.slug, c.name, c.description, c.is_public);
    }
  });
}

base::Result<std::vector<Category>> Store::ListCategories() {
  return InTransaction<pqxx::work>(impl_->conn, "listing categories", [&](Tx& tx) {
    std::vector<Category> out;
    for (const auto& row : tx.exec("SELECT slug, name, description, public FROM categories ORDER BY slug")) {
      out.push_back(Category{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                             row[3].as<bool>()});
    }
    return out;
  });
}

base::Status Store::SetSearchLanguage(const std::string& regconfig) {
  const std::string what = "setting the search language to '" + regconfig + "'";
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) -> base::Status {
    pqxx::row configs;
    try {
      configs =
          tx.exec_params1("SELECT $1::regconfig::oid, (SELECT config::oid FROM search_settings)", regconfig);
    } catch (const pqxx::sql_error& e) {
      // 42xxx: no such configuration or a malformed name; 3F000: no such schema.
      const std::string state = e.sqlstate();
      if (state.rfind("42", 0) == 0 || state == "3F000" || state.rfind("22", 0) == 0) {
        return base::Error{base::ErrorKind::kConfig, "unknown text-search configuration '" + regconfig +
                                                         "' (web.search_language): PostgreSQL says: " +
                                                         FromException(e, "").message.substr(2)};
      }
      throw;
    }
    if (configs[0].as<int64_t>() == configs[1].as<int64_t>()) return {};
    // Writers wait until the re-index commits, so that no post is indexed
    // with the old configuration behind its back; readers go on.
    tx.exec("LOCK TABLE threads, posts IN SHARE ROW EXCLUSIVE MODE");
    tx.exec_params("UPDATE search_settings SET config = $1::regconfig", regconfig);
    tx.exec("UPDATE posts SET search = mailforum_post_search(body)");
    tx.exec(
        "UPDATE threads SET search = mailforum_thread_search(id, subject), "
        "subject_search = mailforum_subject_search(subject)");
    tx.exec("SELECT pg_notify('mailforum_changes', '0')");
    return {};
  });
}

base::Result<int> Store::FillReplyAddresses(const std::function<std::string(int64_t thread_id)>& address_for,
                                            int limit) {
  if (limit <= 0) return 0;
  // Threads are inserted with their address (RecordBatch): most calls find none, in one round trip.
  auto any = InTransaction<pqxx::nontransaction>(impl_->conn, "looking for threads without a reply address",
                                                 [&](Tx& tx) {
                                                   return !ExecPrepared(tx, "mf_reply_address_missing",
                                                                        "SELECT 1 FROM threads WHERE "
                                                                        "reply_address IS NULL LIMIT 1")
                                                               .empty();
                                                 });
  if (!any) return any.error();
  if (!*any) return 0;
  return InTransaction<pqxx::work>(impl_->conn, "filling in reply addresses", [&](Tx& tx) {
    const pqxx::result missing = tx.exec_params(
        "SELECT id FROM threads WHERE reply_address IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit);
    std::string ids = "{";
    std::vector<std::string> addresses;
    for (const auto& row : missing) {
      const int64_t id = row[0].as<int64_t>();
      std::string address = address_for(id);
      if (address.empty()) continue;
      ids += (addresses.empty() ? "" : ",") + std::to_string(id);
      addresses.push_back(std::move(address));
    }
    const int filled = static_cast<int>(addresses.size());
    if (filled == 0) return 0;
    // One statement; and the address is a function of the thread's id and the key, so losing it with a
    // crash of the database server only means filling it again: the commit need not wait for the disk.
    tx.exec("SET LOCAL synchronous_commit TO off");
    tx.exec_params(
        "UPDATE threads t SET reply_address = f.address FROM unnest($1::bigint[], $2::text[]) AS f(id, "
        "address) "
        "WHERE t.id = f.id",
        ids + "}", TextArray(addresses));
    return filled;
  });
}

}  // namespace forum
