// Store against the real PostgreSQL of scripts/test: migrate, write, read.
#include "forum/store.h"

#include <gtest/gtest.h>

#include <thread>

#include "forum/migrations.h"
#include "forum/scratch_database.h"
#include "tests/support/test_env.h"

namespace forum {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(admin, "MAILFORUM_TEST_PG_DSN");
    auto dsn = CreateScratchDatabase(admin, "store");
    ASSERT_TRUE(dsn) << dsn.error().message;
    dsn_ = *dsn;
  }
  std::unique_ptr<Store> Open() {
    auto store = Store::Connect(dsn_);
    EXPECT_TRUE(store) << store.error().message;
    return store ? std::move(store).value() : nullptr;
  }
  std::string dsn_;
};

TEST_F(StoreTest, MigratesAnEmptyDatabaseOnce) {
  auto store = Open();
  ASSERT_TRUE(store);
  auto before = store->SchemaVersion();
  ASSERT_TRUE(before) << before.error().message;
  EXPECT_EQ(*before, 0);

  auto check = store->CheckSchema();
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.error().kind, base::ErrorKind::kConfig);
  EXPECT_NE(check.error().message.find("mailforumctl migrate"), std::string::npos) << check.error().message;

  auto applied = store->Migrate();
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(applied->size(), Migrations().size());
  EXPECT_EQ(*store->SchemaVersion(), RequiredSchemaVersion());
  EXPECT_TRUE(store->CheckSchema().ok());

  auto again = store->Migrate();
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(*QueryScalar(dsn_, "SELECT count(*) FROM schema_migrations"),
            std::to_string(Migrations().size()));
}

TEST_F(StoreTest, ConcurrentMigrationsApplyEachVersionOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = Store::Connect(dsn_);
      if (!store || !(*store)->Migrate()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(*QueryScalar(dsn_, "SELECT count(*) FROM schema_migrations"),
            std::to_string(Migrations().size()));
}

TEST_F(StoreTest, RefusesANewerSchema) {
  auto store = Open();
  ASSERT_TRUE(store && store->Migrate());
  ASSERT_TRUE(QueryScalar(dsn_, "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')"));
  auto check = store->CheckSchema();
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.error().kind, base::ErrorKind::kConfig);
  EXPECT_NE(check.error().message.find("newer"), std::string::npos) << check.error().message;
  auto migrate = store->Migrate();
  ASSERT_FALSE(migrate);
  EXPECT_EQ(migrate.error().kind, base::ErrorKind::kConfig);
}

TEST_F(StoreTest, WritesAndReadsCategories) {
  auto store = Open();
  ASSERT_TRUE(store && store->Migrate());
  ASSERT_TRUE(store->SyncCategories({{"it", "IT questions", ""}, {"actions", "Action items", "Things to do"}}).ok());
  ASSERT_TRUE(store->SyncCategories({{"it", "IT help", "Laptops, VPN"}}).ok());

  // Read back through a second connection: the writes were committed.
  auto other = Open();
  auto categories = other->ListCategories();
  ASSERT_TRUE(categories) << categories.error().message;
  ASSERT_EQ(categories->size(), 2u);
  EXPECT_EQ((*categories)[0].slug, "actions");
  EXPECT_EQ((*categories)[0].description, "Things to do");
  EXPECT_EQ((*categories)[1].slug, "it");
  EXPECT_EQ((*categories)[1].name, "IT help");
  EXPECT_EQ((*categories)[1].description, "Laptops, VPN");
}

TEST_F(StoreTest, NonAsciiAndQuotesRoundTrip) {
  auto store = Open();
  ASSERT_TRUE(store && store->Migrate());
  const Category tricky{"q", "Fragen ü 質問 'x'; DROP TABLE categories; --", "\"quoted\" \\ back"};
  ASSERT_TRUE(store->SyncCategories({tricky}).ok());
  auto categories = store->ListCategories();
  ASSERT_TRUE(categories);
  ASSERT_EQ(categories->size(), 1u);
  EXPECT_EQ((*categories)[0].name, tricky.name);
  EXPECT_EQ((*categories)[0].description, tricky.description);
}

TEST(StoreConnectTest, UnreachableServerIsTransient) {
  auto store = Store::Connect("host=127.0.0.1 port=1 user=x password=topsecret dbname=x connect_timeout=2");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().kind, base::ErrorKind::kTransient);
  EXPECT_EQ(store.error().message.find("topsecret"), std::string::npos);
}

}  // namespace
}  // namespace forum
