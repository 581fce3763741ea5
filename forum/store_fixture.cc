#include "forum/store_fixture.h"

#include <chrono>
#include <thread>
#include <utility>

#include "forum/scratch_database.h"
#include "tests/support/test_env.h"

namespace forum {

ScratchStoreTest::ScratchStoreTest(std::string prefix, std::vector<Category> categories)
    : prefix_(std::move(prefix)), categories_(std::move(categories)) {}

void ScratchStoreTest::SetUp() {
  MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
  auto dsn = CreateScratchDatabase(admin, prefix_);
  ASSERT_TRUE(dsn) << dsn.error().message;
  dsn_ = *dsn;
  store_ = Open();
  ASSERT_TRUE(store_);
  auto migrated = store_->Migrate();
  ASSERT_TRUE(migrated) << migrated.error().message;
  auto synced = store_->SyncCategories(categories_);
  ASSERT_TRUE(synced.ok()) << synced.error().message;
}

std::unique_ptr<Store> ScratchStoreTest::Open() {
  auto s = Store::Connect(dsn_);
  EXPECT_TRUE(s) << s.error().message;
  return s ? std::move(s).value() : nullptr;
}

std::string ScratchStoreTest::Scalar(const std::string& sql) {
  auto r = QueryScalar(dsn_, sql);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : "";
}

base::Status ScratchStoreTest::WaitUntilClosed(const std::function<base::Status()>& check) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  base::Status status = check();
  while (status.ok() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    status = check();
  }
  return status;
}

}  // namespace forum
