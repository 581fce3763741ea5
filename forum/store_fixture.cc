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

RecordResult ScratchStoreTest::Record(uint32_t uid, const std::string& from, std::optional<int64_t> thread,
                                      std::vector<OutboxDraft> outbox, RecordOptions options) {
  InboundItem item;
  item.mailbox = "help";
  item.uidvalidity = 1;
  item.uid = uid;
  item.message_id = "m" + std::to_string(uid) + "@client";
  item.message_key = item.message_id + " " + from;
  item.from_address = from;
  item.subject = "VPN drops";
  item.classification = Classification::kNormal;
  item.outcome = options.outcome;
  item.reason = options.outcome == Outcome::kRejected ? "Only staff may write here." : "";
  if (options.outcome == Outcome::kPosted) {
    PostDraft post;
    post.thread_id = thread;
    post.category = !options.category.empty() ? options.category
                    : categories_.empty()     ? ""
                                              : categories_.front().slug;
    post.subject = "VPN drops";
    post.author_address = from;
    post.author_name = "Name of " + from;
    post.body = "Body " + std::to_string(uid);
    item.post = post;
  }
  item.outbox = std::move(outbox);
  item.subscription = std::move(options.subscription);
  auto batch = store_->RecordBatch({item}, kFixtureDomain);
  EXPECT_TRUE(batch && (*batch)[0]) << (batch ? (*batch)[0].error().message : batch.error().message);
  return batch && (*batch)[0] ? *(*batch)[0] : RecordResult{};
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
