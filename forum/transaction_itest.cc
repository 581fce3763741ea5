// forum/transaction.h against the real PostgreSQL of scripts/test: what a
// body returns decides between commit and rollback, and what it throws
// becomes an Error saying what was being done.
#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>

#include "forum/connection.h"
#include "forum/scratch_database.h"
#include "forum/transaction.h"
#include "tests/support/test_env.h"

namespace forum {
namespace {

class TransactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
    auto dsn = CreateScratchDatabase(admin, "transaction");
    ASSERT_TRUE(dsn) << dsn.error().message;
    dsn_ = *dsn;
    ASSERT_TRUE(QueryScalar(dsn_, "CREATE TABLE t (x integer)"));
  }

  std::string Rows() {
    auto n = QueryScalar(dsn_, "SELECT count(*) FROM t");
    return n ? *n : "error: " + n.error().message;
  }

  std::string dsn_;
};

TEST_F(TransactionTest, ABodyThatReturnsAnErrorRollsBack) {
  Connection conn(dsn_);
  const base::Status status = InTransaction<pqxx::work>(conn, "adding a row", [&](Tx& tx) -> base::Status {
    tx.exec("INSERT INTO t VALUES (1)");
    return base::Error{base::ErrorKind::kPermanent, "refused"};
  });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().kind, base::ErrorKind::kPermanent);
  EXPECT_EQ(status.error().message, "refused");
  EXPECT_EQ(Rows(), "0");

  const base::Result<int> result =
      InTransaction<pqxx::work>(conn, "adding a row", [&](Tx& tx) -> base::Result<int> {
        tx.exec("INSERT INTO t VALUES (1)");
        return base::Error{base::ErrorKind::kConfig, "refused too"};
      });
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "refused too");
  EXPECT_EQ(Rows(), "0");
}

TEST_F(TransactionTest, ABodyThatReturnsAValueCommits) {
  Connection conn(dsn_);
  const base::Result<int> value = InTransaction<pqxx::work>(conn, "adding a row", [&](Tx& tx) {
    tx.exec("INSERT INTO t VALUES (1)");
    return 42;
  });
  ASSERT_TRUE(value) << value.error().message;
  EXPECT_EQ(*value, 42);
  EXPECT_EQ(Rows(), "1");

  const base::Status status =
      InTransaction<pqxx::work>(conn, "adding a row", [&](Tx& tx) { tx.exec("INSERT INTO t VALUES (2)"); });
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(Rows(), "2");

  const base::Result<int> ok =
      InTransaction<pqxx::work>(conn, "adding a row", [&](Tx& tx) -> base::Result<int> {
        tx.exec("INSERT INTO t VALUES (3)");
        return 7;
      });
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, 7);
  EXPECT_EQ(Rows(), "3");
}

TEST_F(TransactionTest, AnExceptionBecomesAnErrorSayingWhatWasDoneAndRollsBack) {
  Connection conn(dsn_);
  const base::Result<int> sql = InTransaction<pqxx::work>(conn, "reading a missing table", [&](Tx& tx) {
    tx.exec("INSERT INTO t VALUES (1)");
    return tx.exec1("SELECT count(*) FROM missing")[0].as<int>();
  });
  ASSERT_FALSE(sql);
  EXPECT_EQ(sql.error().kind, base::ErrorKind::kInternal);
  EXPECT_EQ(sql.error().message.rfind("reading a missing table: ", 0), 0u) << sql.error().message;
  EXPECT_NE(sql.error().message.find("missing"), std::string::npos);
  EXPECT_EQ(Rows(), "0");

  const base::Status thrown = InTransaction<pqxx::work>(conn, "adding a row", [&](Tx& tx) {
    tx.exec("INSERT INTO t VALUES (1)");
    throw std::runtime_error("the body gave up");
  });
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().message, "adding a row: the body gave up");
  EXPECT_EQ(Rows(), "0");

  // Transact's own steps: a `before` that throws runs no body, and `fail` makes the Error.
  bool ran = false;
  const base::Status before = Transact<pqxx::work>(
      conn, [] { throw std::runtime_error("not now"); }, [&](Tx&) { ran = true; },
      [](const std::exception& e) {
        return base::Error{base::ErrorKind::kTransient, e.what()};
      });
  ASSERT_FALSE(before);
  EXPECT_FALSE(ran);
  EXPECT_EQ(before.error().kind, base::ErrorKind::kTransient);
  EXPECT_EQ(before.error().message, "not now");
}

TEST_F(TransactionTest, AliveFirstFailsASessionThePostgresqlEndedBeforeTheBody) {
  Connection conn(dsn_);
  const std::string pid = std::to_string(conn.backendpid());
  ASSERT_EQ(*QueryScalar(dsn_, "SELECT pg_terminate_backend(" + pid + ")"), "t");
  // The server ends the session asynchronously: wait until it is gone.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (*QueryScalar(dsn_, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) != "0" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bool ran = false;
  const base::Result<bool> locked = InTransaction<pqxx::nontransaction, Check::kAliveFirst>(
      conn, "locking", [&](Tx&) { return ran = true; });
  ASSERT_FALSE(locked);
  EXPECT_FALSE(ran);
  EXPECT_EQ(locked.error().kind, base::ErrorKind::kTransient) << locked.error().message;
  EXPECT_EQ(locked.error().message.rfind("locking: ", 0), 0u) << locked.error().message;
}

}  // namespace
}  // namespace forum
