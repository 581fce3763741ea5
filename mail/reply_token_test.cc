#include "mail/reply_token.h"

#include <gtest/gtest.h>

#include <set>

namespace mail {
namespace {

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";

TEST(ReplyTokenTest, RoundTripsThreadIds) {
  for (uint64_t id : {uint64_t{1}, uint64_t{42}, uint64_t{1} << 32, kMaxTokenThreadId}) {
    const std::string token = MakeReplyToken(id, kKey);
    EXPECT_EQ(token.size(), 26u);
    EXPECT_EQ(VerifyReplyToken(token, kKey), id) << token;
  }
}

TEST(ReplyTokenTest, CaseInsensitive) {
  std::string token = MakeReplyToken(7, kKey);
  for (char& c : token) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(VerifyReplyToken(token, kKey), 7u);
}

TEST(ReplyTokenTest, EverySingleCharacterChangeIsRejected) {
  const std::string token = MakeReplyToken(12345, kKey);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  int tried = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    for (char c : alphabet) {
      if (c == token[i]) continue;
      std::string forged = token;
      forged[i] = c;
      EXPECT_FALSE(VerifyReplyToken(forged, kKey).has_value()) << forged;
      ++tried;
    }
  }
  EXPECT_EQ(tried, 26 * 31);
}

TEST(ReplyTokenTest, OtherKeyTruncatedOrGarbageIsRejected) {
  const std::string token = MakeReplyToken(99, kKey);
  EXPECT_FALSE(VerifyReplyToken(token, "another key of the same length!!!"));
  EXPECT_FALSE(VerifyReplyToken(token.substr(0, 25), kKey));
  EXPECT_FALSE(VerifyReplyToken(token + "a", kKey));
  EXPECT_FALSE(VerifyReplyToken("", kKey));
  EXPECT_FALSE(VerifyReplyToken("!!!!!!!!!!!!!!!!!!!!!!!!!!", kKey));
  EXPECT_FALSE(VerifyReplyToken(token, ""));
}

TEST(ReplyTokenTest, DistinctThreadsGetDistinctTokens) {
  std::set<std::string> seen;
  for (uint64_t id = 1; id <= 1000; ++id) seen.insert(MakeReplyToken(id, kKey));
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(ReplyTokenTest, AddressTemplate) {
  const std::string address = ReplyAddress("help+{token}@example.com", 5, kKey);
  ASSERT_EQ(address.rfind("help+", 0), 0u);
  auto token = ExtractToken("help+{token}@example.com", address);
  ASSERT_TRUE(token);
  EXPECT_EQ(VerifyReplyToken(*token, kKey), 5u);
  // Mail systems may change the case of the whole address.
  std::string upper = address;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto upper_token = ExtractToken("help+{token}@example.com", upper);
  ASSERT_TRUE(upper_token);
  EXPECT_EQ(VerifyReplyToken(*upper_token, kKey), 5u);
}

TEST(ReplyTokenTest, ExtractRejectsOtherAddresses) {
  EXPECT_FALSE(ExtractToken("help+{token}@example.com", "help@example.com"));
  EXPECT_FALSE(ExtractToken("help+{token}@example.com", "help+abc@example.org"));
  EXPECT_FALSE(ExtractToken("help+{token}@example.com", "other+abc@example.com"));
  EXPECT_FALSE(ExtractToken("help@example.com", "help@example.com"));
  EXPECT_EQ(ExtractToken("help+{token}@example.com", "help+abc@example.com"), "abc");
}

}  // namespace
}  // namespace mail
