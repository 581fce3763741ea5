// WithNetworkTimeouts (forum/store_internal.h): the bounds every Store and Reader connection gets, in both
// DSN forms, and an admin's own settings kept.
#include <gtest/gtest.h>

#include "forum/store_internal.h"

namespace forum {
namespace {

constexpr char kAdded[] =
    "keepalives=1 keepalives_idle=60 keepalives_interval=15 keepalives_count=4 tcp_user_timeout=120000 "
    "connect_timeout=30";

TEST(NetworkTimeoutsTest, KeyValueDsnGetsEveryBound) {
  EXPECT_EQ(WithNetworkTimeouts("host=db dbname=mf"), std::string("host=db dbname=mf ") + kAdded);
  EXPECT_EQ(WithNetworkTimeouts(""), kAdded);
}

TEST(NetworkTimeoutsTest, UriGetsThemAsQueryParameters) {
  EXPECT_EQ(WithNetworkTimeouts("postgresql://mf@db/mf"),
            "postgresql://mf@db/mf?keepalives=1&keepalives_idle=60&keepalives_interval=15&keepalives_count=4"
            "&tcp_user_timeout=120000&connect_timeout=30");
  EXPECT_EQ(WithNetworkTimeouts("postgres:///mf?host=/run/postgresql&keepalives=0&connect_timeout=5"),
            "postgres:///mf?host=/run/postgresql&keepalives=0&connect_timeout=5&tcp_user_timeout=120000");
}

TEST(NetworkTimeoutsTest, TheAdminsOwnSettingsAreKept) {
  EXPECT_EQ(WithNetworkTimeouts("host=db keepalives_idle=5 tcp_user_timeout=1000 connect_timeout=2"),
            "host=db keepalives_idle=5 tcp_user_timeout=1000 connect_timeout=2");
}

}  // namespace
}  // namespace forum
