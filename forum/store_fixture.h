// A gtest fixture for Store's integration tests: each test gets a new,
// migrated scratch database on the test PostgreSQL (MAILFORUM_TEST_PG_DSN)
// with the given categories. Test-only (mf_forum_testing).
#ifndef MAILFORUM_FORUM_STORE_FIXTURE_H_
#define MAILFORUM_FORUM_STORE_FIXTURE_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "forum/inbound.h"
#include "forum/model.h"
#include "forum/store.h"
#include "forum/subscriptions.h"

namespace forum {

// The domain of the Message-IDs of the posts ScratchStoreTest::Record makes.
inline constexpr char kFixtureDomain[] = "help.example";

// What ScratchStoreTest::Record records besides its defaults.
struct RecordOptions {
  Outcome outcome = Outcome::kPosted;  // kRejected: with the reason "Only staff may write here."
  std::string category;                // of a new thread; "": the first of the fixture's categories
  std::optional<SubscriptionChange> subscription;
};

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

  // Records inbound message `uid` (mailbox "help", Message-ID "m<uid>@client")
  // from `from`, subject "VPN drops", in one batch of its own: a post by
  // "Name of <from>" with the body "Body <uid>" (in thread `thread`, or a new
  // one when nullopt) unless `options.outcome` says otherwise, queueing
  // `outbox`. A failure fails the test (and an empty result is returned).
  RecordResult Record(uint32_t uid, const std::string& from, std::optional<int64_t> thread,
                      std::vector<OutboxDraft> outbox, RecordOptions options = {});

  std::string dsn_;
  std::unique_ptr<Store> store_;

 private:
  std::string prefix_;
  std::vector<Category> categories_;
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_STORE_FIXTURE_H_
