#include "mail/unsubscribe_token.h"

#include <gtest/gtest.h>

#include <string>

#include "mail/reply_token.h"

namespace mail {
namespace {

constexpr char kKey[] = "0123456789abcdef0123456789abcdef";
constexpr char kAlice[] = "alice@example.org";

TEST(UnsubscribeTokenTest, ARoundTripNamesTheRowAndVerifiesForItsRecipientAndScopeOnly) {
  const std::string token = MakeUnsubscribeToken(4242, kAlice, "thread:7", kKey);
  EXPECT_EQ(token.size(), 28u);
  for (char c : token) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')) << token;
  EXPECT_EQ(UnsubscribeTokenRow(token), 4242u);
  EXPECT_TRUE(VerifyUnsubscribeToken(token, kAlice, "thread:7", kKey));
  EXPECT_TRUE(VerifyUnsubscribeToken(token, "Alice@Example.ORG", "thread:7", kKey));
  // Mail systems may change the case of a local part.
  std::string upper = token;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(VerifyUnsubscribeToken(upper, kAlice, "thread:7", kKey));
  EXPECT_FALSE(VerifyUnsubscribeToken(token, "mallory@example.org", "thread:7", kKey));
  EXPECT_FALSE(VerifyUnsubscribeToken(token, kAlice, "thread:8", kKey));
  EXPECT_FALSE(VerifyUnsubscribeToken(token, kAlice, "category:it", kKey));
  EXPECT_FALSE(VerifyUnsubscribeToken(token, kAlice, "thread:7", "another key of 32 bytes or so..."));
  EXPECT_FALSE(VerifyUnsubscribeToken(token, kAlice, "thread:7", ""));
  EXPECT_EQ(UnsubscribeTokenRow(MakeUnsubscribeToken(kMaxUnsubscribeRowId, kAlice, "acknowledgements", kKey)),
            kMaxUnsubscribeRowId);
}

TEST(UnsubscribeTokenTest, EveryOneCharacterChangeIsRejected) {
  const std::string token = MakeUnsubscribeToken(17, kAlice, "category:it", kKey);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  int tried = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    for (char c : alphabet) {
      if (c == token[i]) continue;
      std::string forged = token;
      forged[i] = c;
      ++tried;
      EXPECT_FALSE(VerifyUnsubscribeToken(forged, kAlice, "category:it", kKey)) << forged;
    }
  }
  EXPECT_EQ(tried, 28 * 31);
}

TEST(UnsubscribeTokenTest, MalformedTokensNameNoRow) {
  const std::string token = MakeUnsubscribeToken(17, kAlice, "thread:1", kKey);
  for (const std::string& bad : {std::string(), token.substr(1), token + "a", token.substr(0, 27) + "1",
                                 token.substr(0, 27) + "=", std::string(28, 'a'),
                                 // A reply token is not an unsubscribe token (another context and length).
                                 MakeReplyToken(17, kKey)}) {
    EXPECT_FALSE(VerifyUnsubscribeToken(bad, kAlice, "thread:1", kKey)) << bad;
  }
  EXPECT_FALSE(UnsubscribeTokenRow(std::string(28, 'a')).has_value()) << "version 0 is unknown";
}

TEST(UnsubscribeTokenTest, TheMailtoAddressUsesTheReplyTemplate) {
  const std::string token = MakeUnsubscribeToken(5, kAlice, "thread:1", kKey);
  const std::string address = UnsubscribeAddress("help+{token}@example.com", token);
  EXPECT_EQ(address, "help+unsub-" + token + "@example.com");
  EXPECT_LE(address.find('@'), 64u) << "a local part holds at most 64 octets";
  EXPECT_EQ(ExtractUnsubscribeToken("help+{token}@example.com", address), token);
  EXPECT_EQ(ExtractUnsubscribeToken("help+{token}@example.com", "HELP+UNSUB-ABC@EXAMPLE.COM"), "ABC");
  EXPECT_FALSE(ExtractUnsubscribeToken("help+{token}@example.com", "help+" + token + "@example.com"));
  EXPECT_FALSE(ExtractUnsubscribeToken("help+{token}@example.com", "help+unsub-@example.com"));
  EXPECT_FALSE(ExtractUnsubscribeToken("help+{token}@example.com", "other+unsub-abc@example.com"));
}

}  // namespace
}  // namespace mail
