#include "base/host.h"

#include <gtest/gtest.h>

#include "base/ascii.h"

namespace base {
namespace {

TEST(HostTest, LoopbackNamesAndAddresses) {
  for (const char* h : {"localhost", "LocalHost", "localhost.", "127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"", "localhost.example.com", "128.0.0.1", "10.0.0.1", "192.0.2.1", "::2", "::ffff:10.0.0.1",
                        "imap.example.com", "127.0.0.1.evil.example"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

TEST(AsciiTest, LowersOnlyAsciiLetters) {
  EXPECT_EQ(AsciiLower("Hello-WORLD_1 Ü"), "hello-world_1 Ü");
  EXPECT_TRUE(EqualsIgnoreCase("Message-ID", "message-id"));
  EXPECT_FALSE(EqualsIgnoreCase("Message-ID", "message-ids"));
}

TEST(AsciiTest, PercentEncodesAllButUnreservedAndAlsoKept) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("a b/c=d&e+f"), "a%20b%2Fc%3Dd%26e%2Bf");
  EXPECT_EQ(PercentEncode("\xC3\xA9\x01"), "%C3%A9%01");
  EXPECT_EQ(PercentEncode("x@y+z", "@+"), "x@y+z");
}

TEST(HostTest, SecretUrlsNeedHttpsExceptToLoopback) {
  EXPECT_EQ(SecretUrlProblem("https://login.microsoftonline.com/t/oauth2/v2.0/token"), "");
  EXPECT_EQ(SecretUrlProblem("https://oauth2.googleapis.com/token"), "");
  EXPECT_EQ(SecretUrlProblem("http://127.0.0.1:8080/token"), "");
  EXPECT_EQ(SecretUrlProblem("http://localhost/token"), "");
  EXPECT_EQ(SecretUrlProblem("http://[::1]:80/token"), "");
  EXPECT_NE(SecretUrlProblem("http://login.example.com/token"), "");
  EXPECT_NE(SecretUrlProblem("http://127.0.0.1.example.com/token"), "");
  EXPECT_NE(SecretUrlProblem("http://127.0.0.1@example.com/token"), "");
  EXPECT_NE(SecretUrlProblem("ftp://127.0.0.1/token"), "");
  EXPECT_NE(SecretUrlProblem("https:///token"), "");
}

}  // namespace
}  // namespace base
