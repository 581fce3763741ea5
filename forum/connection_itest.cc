// forum::Connection against the real PostgreSQL of scripts/test: connections
// that PostgreSQL ends, during a query or between queries, leave nothing
// behind (libpqxx 6.4 alone leaks a result, about 2.2 KB, each time; see
// connection.h).
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <iostream>
#include <string>
#include <thread>

#include "forum/connection.h"
#include "forum/scratch_database.h"
#include "forum/store.h"
#include "tests/support/test_env.h"

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizers' sanitizer/allocator_interface.h, which GCC does not install.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

namespace forum {
namespace {

// Bytes allocated and not yet freed: ASan's allocator's count under ASan
// (it replaces malloc), glibc's over all its arenas otherwise.
size_t AllocatedBytes() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

// Asks `sql` (a connection each time) until it answers `want`, for up to 20 s; returns the last answer.
std::string WaitFor(const std::string& dsn, const std::string& sql, const std::string& want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    auto answer = QueryScalar(dsn, sql);
    const std::string got = answer ? *answer : "error: " + answer.error().message;
    if (got == want || std::chrono::steady_clock::now() > deadline) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Runs `round` (one broken connection) once to make the allocations that
// are made once (libpq's and libpqxx's first-use state), then `kRounds`
// times, and expects the allocated bytes not to have grown by the result
// libpqxx 6.4 alone leaks per round, and each round to have met a broken
// connection's encoding question (the case of the fix).
void ExpectNoGrowth(const std::string& what, const std::function<void()>& round) {
  constexpr int kRounds = 20;
  round();
  const size_t bytes = AllocatedBytes();
  const int64_t asked = BrokenConnectionEncodings();
  for (int i = 0; i < kRounds && !::testing::Test::HasFatalFailure(); ++i) round();
  const auto grown = static_cast<long long>(AllocatedBytes()) - static_cast<long long>(bytes);
  std::cout << what << ": " << kRounds << " rounds, allocated bytes grew by " << grown
            << ", broken connections asked their encoding " << BrokenConnectionEncodings() - asked
            << " times\n";
  EXPECT_GE(BrokenConnectionEncodings() - asked, kRounds);
  EXPECT_LT(grown, kRounds * 1024) << "libpqxx 6.4 alone leaks about 2.2 KB a round";
}

TEST(ConnectionTest, QueriesThatPostgresqlEndsLeaveNothingBehind) {
  MAILFORUM_REQUIRE_SERVER(dsn, "MAILFORUM_TEST_PG_DSN");
  ExpectNoGrowth("ended during pg_sleep", [&] {
    Connection conn(dsn);
    const std::string pid = std::to_string(conn.backendpid());
    std::string failure = "none";
    std::thread query([&] {
      try {
        pqxx::nontransaction tx(conn);
        tx.exec("SELECT pg_sleep(60)");
      } catch (const pqxx::broken_connection&) {
        failure.clear();
      } catch (const std::exception& e) {
        failure = std::string("not broken_connection: ") + e.what();
      }
    });
    EXPECT_EQ(
        WaitFor(dsn,
                "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid + " AND wait_event = 'PgSleep'",
                "1"),
        "1");
    EXPECT_EQ(*QueryScalar(dsn, "SELECT pg_terminate_backend(" + pid + ")"), "t");
    query.join();
    EXPECT_EQ(failure, "");
  });
}

TEST(ConnectionTest, AConnectionThatPostgresqlEndedIsReplacedOnTheNextUse) {
  MAILFORUM_REQUIRE_SERVER(dsn, "MAILFORUM_TEST_PG_DSN");
  Connection conn(dsn);
  const std::string pid = std::to_string(conn.backendpid());
  EXPECT_EQ(*QueryScalar(dsn, "SELECT pg_terminate_backend(" + pid + ")"), "t");
  EXPECT_EQ(WaitFor(dsn, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid, "0"), "0");
  EXPECT_THROW(pqxx::nontransaction(conn).exec("SELECT 1"), pqxx::broken_connection);
  // libpqxx 6 drops a broken connection at its next use (which fails too), and reconnects at the one after.
  EXPECT_THROW(pqxx::nontransaction(conn).exec("SELECT 1"), pqxx::broken_connection);
  pqxx::nontransaction tx(conn);
  EXPECT_EQ(tx.exec1("SELECT 2")[0].as<int>(), 2);
  EXPECT_NE(std::to_string(conn.backendpid()), pid);
}

// Every Store's connection is a Connection: a Store whose session PostgreSQL
// ended (a restart, an idle timeout) fails kTransient and, replaced, leaves
// nothing behind.
TEST(ConnectionTest, StoresWhoseSessionsEndedLeaveNothingBehind) {
  MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
  auto dsn = CreateScratchDatabase(admin, "connection");
  ASSERT_TRUE(dsn) << dsn.error().message;
  // The Store's session by its name: the sessions of QueryScalar may linger a moment after they closed.
  const std::string session = "FROM pg_stat_activity WHERE application_name = 'mf_connection_itest'";
  ExpectNoGrowth("Stores ended between queries", [&] {
    auto store = Store::Connect(*dsn + " application_name=mf_connection_itest");
    ASSERT_TRUE(store) << store.error().message;
    EXPECT_EQ(*QueryScalar(*dsn, "SELECT count(pg_terminate_backend(pid)) " + session), "1");
    EXPECT_EQ(WaitFor(*dsn, "SELECT count(*) " + session, "0"), "0");
    auto version = (*store)->SchemaVersion();
    ASSERT_FALSE(version);
    EXPECT_EQ(version.error().kind, base::ErrorKind::kTransient) << version.error().message;
  });
}

// The premise of KeepsLargeBuffers: libpq keeps, after the statement and its
// result are gone, buffers as large as the largest message, until the
// connection is closed; and the connections that carried one are told apart.
TEST(ConnectionTest, AConnectionThatCarriedALargeMessageKeepsLargeBuffersUntilClosed) {
  MAILFORUM_REQUIRE_SERVER(dsn, "MAILFORUM_TEST_PG_DSN");
  const std::string large(kLargeMessageBytes, 'L');
  const size_t before = AllocatedBytes();
  {
    Connection sent(dsn);
    pqxx::nontransaction(sent).exec_params("SELECT length($1)", large);
    EXPECT_TRUE(sent.KeepsLargeBuffers());
    EXPECT_GE(AllocatedBytes(), before + kLargeMessageBytes) << "libpq freed its buffer";
  }
  EXPECT_LT(AllocatedBytes(), before + kLargeMessageBytes / 4) << "closed, the connection still holds memory";

  Connection small(dsn);
  pqxx::nontransaction(small).exec_params("SELECT length($1)", std::string(1000, 's'));
  // Many rows, 2 MiB in all, each small: libpq's input buffer holds a row at a time.
  pqxx::nontransaction(small).exec("SELECT repeat('r', 1000) FROM generate_series(1, 2048)");
  EXPECT_FALSE(small.KeepsLargeBuffers());

  Connection prepared(dsn);
  prepared.prepare("echo", "SELECT $1::text");
  EXPECT_FALSE(prepared.KeepsLargeBuffers());
  pqxx::nontransaction(prepared).exec_prepared("echo", large);  // sends it, and receives it back
  EXPECT_TRUE(prepared.KeepsLargeBuffers());

  Connection received(dsn);
  pqxx::nontransaction(received).exec("SELECT repeat('x', " + std::to_string(kLargeMessageBytes) + ")");
  EXPECT_TRUE(received.KeepsLargeBuffers());
  EXPECT_FALSE(small.KeepsLargeBuffers()) << "another connection's message counted";
}

// libpqxx renews a connection PostgreSQL ended with a new libpq handle (the
// old one finished, its buffers freed): the renewed connection starts
// without the note.
TEST(ConnectionTest, ARenewedConnectionStartsWithoutTheNote) {
  MAILFORUM_REQUIRE_SERVER(dsn, "MAILFORUM_TEST_PG_DSN");
  const size_t before = AllocatedBytes();
  Connection conn(dsn);
  pqxx::nontransaction(conn).exec_params("SELECT length($1)", std::string(kLargeMessageBytes, 'L'));
  ASSERT_TRUE(conn.KeepsLargeBuffers());
  const std::string pid = std::to_string(conn.backendpid());
  EXPECT_EQ(*QueryScalar(dsn, "SELECT pg_terminate_backend(" + pid + ")"), "t");
  EXPECT_EQ(WaitFor(dsn, "SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid, "0"), "0");
  EXPECT_THROW(pqxx::nontransaction(conn).exec("SELECT 1"), pqxx::broken_connection);
  EXPECT_THROW(pqxx::nontransaction(conn).exec("SELECT 1"), pqxx::broken_connection);
  EXPECT_EQ(pqxx::nontransaction(conn).exec1("SELECT 2")[0].as<int>(), 2);
  ASSERT_NE(std::to_string(conn.backendpid()), pid);
  EXPECT_FALSE(conn.KeepsLargeBuffers());
  EXPECT_LT(AllocatedBytes(), before + kLargeMessageBytes / 4) << "renewed, the connection kept its buffers";
}

}  // namespace
}  // namespace forum
