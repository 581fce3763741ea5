#include "base/result.h"

#include <gtest/gtest.h>

#include <memory>

namespace base {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return MakeError(ErrorKind::kInvalidInput, "odd number " + std::to_string(n));
  return n / 2;
}

TEST(ResultTest, CarriesValueOrError) {
  auto ok = Half(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 4);
  auto bad = Half(3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(bad.error().message, "odd number 3");
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r);
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(ResultTest, ContextIsPrefixed) {
  Error e = MakeError(ErrorKind::kTransient, "connection reset");
  Error c = e.WithContext("mailbox help");
  EXPECT_EQ(c.message, "mailbox help: connection reset");
  EXPECT_TRUE(c.retryable());
  EXPECT_FALSE(MakeError(ErrorKind::kPermanent, "550").retryable());
}

TEST(ResultTest, StatusDefaultsToOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  Status f = MakeError(ErrorKind::kConfig, "bad");
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(ErrorKindName(f.error().kind), "config");
}

}  // namespace
}  // namespace base
