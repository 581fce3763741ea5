#include "forum/scratch_database.h"

#include <atomic>
#include <pqxx/pqxx>
#include <random>

#include "forum/connection.h"

namespace forum {

base::Result<std::string> CreateScratchDatabase(const std::string& admin_dsn, const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  const std::string name = prefix + "_" + std::to_string(rd() % 1000000) + "_" + std::to_string(counter++);
  try {
    Connection conn(admin_dsn);
    pqxx::nontransaction tx(conn);
    tx.exec("CREATE DATABASE " + tx.quote_name(name));
  } catch (const std::exception& e) {
    return base::Error{base::ErrorKind::kTransient, std::string("creating scratch database: ") + e.what()};
  }
  // The admin DSN is ours (scripts/testenv/start): key=value pairs, one of them dbname.
  std::string dsn = admin_dsn;
  const auto at = dsn.find("dbname=");
  if (at == std::string::npos) return dsn + " dbname=" + name;
  const auto end = dsn.find(' ', at);
  return dsn.replace(at, end == std::string::npos ? std::string::npos : end - at, "dbname=" + name);
}

base::Result<std::string> QueryScalar(const std::string& dsn, const std::string& sql) {
  try {
    Connection conn(dsn);
    pqxx::nontransaction tx(conn);
    auto result = tx.exec(sql);
    if (result.empty() || result[0][0].is_null()) return std::string();
    return result[0][0].as<std::string>();
  } catch (const std::exception& e) {
    return base::Error{base::ErrorKind::kInternal, std::string("query failed: ") + e.what()};
  }
}

}  // namespace forum
