// A gtest fixture for Store's integration tests: each test gets a new,
// migrated scratch database on the test PostgreSQL (MAILFORUM_TEST_PG_DSN)
// with the given categories. Test-only (mf_forum_testing).
#ifndef MAILFORUM_FORUM_STORE_FIXTURE_H_
#define MAILFORUM_FORUM_STORE_FIXTURE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "forum/model.h"
#include "forum/store.h"

namespace forum {

class ScratchStoreTest : public ::testing::Test {
 protected:
  // `prefix` names the scratch databases; `categories` are synchronised into each.
  ScratchStoreTest(std::string prefix, std::vector<Category> categories);

  // Creates and migrates the database and opens store_ (skipped outside scripts/test, failed under it).
  void SetUp() override;

  // Another connection to the same database.
  std::unique_ptr<Store> Open();

  // The first column of the first row of `sql` ("" when none); a failed query fails the test.
  std::string Scalar(const std::string& sql);

  // Calls `check` (a Store's or Reader's CheckConnection) until it reports the
  // connection closed, for up to 20 s (the server ends a session
  // asynchronously); returns that failure, or ok when it never came.
  static base::Status WaitUntilClosed(const std::function<base::Status()>& check);

  std::string dsn_;
  std::unique_ptr<Store> store_;

 private:
  std::string prefix_;
  std::vector<Category> categories_;
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_STORE_FIXTURE_H_
