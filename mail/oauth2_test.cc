// The pure parts of mail/oauth2.h: token responses, request bodies, the
// refresh schedule, endpoint URLs and the SASL strings.
#include "mail/oauth2.h"

#include <gtest/gtest.h>

namespace mail {
namespace {

using base::ErrorKind;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(OAuth2Test, ParsesAGrantWithARotatedRefreshToken) {
  auto grant = ParseTokenResponse(
      200, R"({"access_token":"at1","token_type":"Bearer","expires_in":3599,"refresh_token":"rt2"})");
  ASSERT_TRUE(grant.ok()) << grant.error().message;
  EXPECT_EQ(grant->access_token, "at1");
  EXPECT_EQ(grant->expires_in, seconds(3599));
  EXPECT_EQ(grant->refresh_token, "rt2");
}

TEST(OAuth2Test, ExpiresInMayBeQuotedOrMissing) {
  auto quoted = ParseTokenResponse(200, R"({"access_token":"a","expires_in":"120"})");
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->expires_in, seconds(120));
  EXPECT_TRUE(quoted->refresh_token.empty());
  auto missing = ParseTokenResponse(200, R"({"access_token":"a"})");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->expires_in, seconds(3600));
}

TEST(OAuth2Test, EndpointErrorsCarryErrorAndDescriptionWithTheirKind) {
  auto revoked = ParseTokenResponse(
      400, R"({"error":"invalid_grant","error_description":"AADSTS70008: the refresh token has expired"})");
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().kind, ErrorKind::kPermanent);
  EXPECT_EQ(revoked.error().message,
            "token endpoint answered HTTP 400: invalid_grant (AADSTS70008: the refresh token has expired)");
  auto client = ParseTokenResponse(401, R"({"error":"invalid_client"})");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().kind, ErrorKind::kPermanent);
  auto down = ParseTokenResponse(503, "<html>maintenance</html>");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, ErrorKind::kTransient);
  EXPECT_EQ(down.error().message, "token endpoint answered HTTP 503");
  auto slow = ParseTokenResponse(429, R"({"error":"temporarily_unavailable"})");
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().kind, ErrorKind::kTransient);
  auto garbage = ParseTokenResponse(200, "not json");
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().kind, ErrorKind::kProtocol);
  auto empty = ParseTokenResponse(200, R"({"token_type":"Bearer"})");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind, ErrorKind::kProtocol);
}

TEST(OAuth2Test, RequestBodiesAreFormEncoded) {
  OAuth2Options o;
  o.client_id = "c1";
  o.client_secret = "s&=x";
  o.scope = "https://outlook.office.com/IMAP.AccessAsUser.All offline_access";
  EXPECT_EQ(TokenRequestBody(o, "r/t+1"),
            "grant_type=refresh_token&refresh_token=r%2Ft%2B1&client_id=c1&client_secret=s%26%3Dx"
            "&scope=https%3A%2F%2Foutlook.office.com%2FIMAP.AccessAsUser.All%20offline_access");
  o.grant = OAuth2Grant::kClientCredentials;
  o.client_secret.clear();
  o.scope = "https://outlook.office365.com/.default";
  EXPECT_EQ(
      TokenRequestBody(o, "ignored"),
      "grant_type=client_credentials&client_id=c1&scope=https%3A%2F%2Foutlook.office365.com%2F.default");
}

TEST(OAuth2Test, TokensAreRefreshedAtEightyPercentOfTheirLife) {
  EXPECT_EQ(RefreshAfter(seconds(3600)), seconds(2880));
  EXPECT_EQ(RefreshAfter(seconds(10)), seconds(8));
  EXPECT_EQ(RefreshAfter(seconds(1)), milliseconds(800));
  EXPECT_EQ(RefreshAfter(seconds(0)), milliseconds(0));
}

TEST(OAuth2Test, SaslResponses) {
  // Google's example (developers.google.com/gmail/imap/xoauth2-protocol).
  EXPECT_EQ(
      EncodeBase64(XOAuth2Response("someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg")),
      "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRX"
      "VZMjl0Q2cBAQ==");
  // RFC 7628 §4.1, with the authzid escaped.
  EXPECT_EQ(OAuthBearerResponse("user@example.com", "server.example.com", 143,
                                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="),
            "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01"
            "auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01");
  EXPECT_EQ(OAuthBearerResponse("a,b=c", "h", 1, "t").substr(0, 12), "n,a=a=2Cb=3D");
  EXPECT_EQ(EncodeBase64(""), "");
  EXPECT_EQ(EncodeBase64("f"), "Zg==");
  EXPECT_EQ(EncodeBase64("fo"), "Zm8=");
  EXPECT_EQ(EncodeBase64("foo"), "Zm9v");
  EXPECT_EQ(EncodeBase64("\xff\xfe"), "//4=");
}

}  // namespace
}  // namespace mail
