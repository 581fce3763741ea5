#include "forum/migrations.h"

#include <gtest/gtest.h>

#include <string>

namespace forum {
namespace {

TEST(MigrationsTest, VersionsStrictlyIncreaseFromOne) {
  const auto& all = Migrations();
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.front().version, 1);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, all[i - 1].version + 1) << all[i].name << " leaves a gap or repeats a version";
  }
  EXPECT_EQ(RequiredSchemaVersion(), all.back().version);
}

TEST(MigrationsTest, EachIsEmbeddedWithItsSql) {
  for (const auto& m : Migrations()) {
    // Every migration changes the schema: it creates, alters or drops something, or who may use it.
    bool changes = false;
    for (const char* verb : {"CREATE ", "ALTER ", "DROP ", "GRANT ", "REVOKE "}) {
      changes = changes || m.sql.find(verb) != std::string_view::npos;
    }
    EXPECT_TRUE(changes) << m.name;
    EXPECT_EQ(std::string(m.name).substr(0, 4), std::string(4 - std::to_string(m.version).size(), '0') +
                                                     std::to_string(m.version));
  }
}

TEST(MigrationsTest, InitialSchemaHasTheDesignTables) {
  const std::string_view sql = Migrations().front().sql;
  for (const char* table : {"categories", "threads", "posts", "attachments", "message_ids", "inbound_messages",
                            "mailbox_state", "outbox", "suppressions"}) {
    EXPECT_NE(sql.find(std::string("CREATE TABLE ") + table + " ("), std::string_view::npos) << table;
  }
}

}  // namespace
}  // namespace forum
