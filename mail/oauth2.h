// OAuth2 access tokens for mail servers that accept no password (Microsoft
// 365, Gmail): the token client and the SASL strings that carry a token.
//
// An OAuth2TokenSource gets access tokens from a token endpoint (RFC 6749
// §4.4 client credentials or §6 refresh token grant) with libcurl — libcurl
// lives only in mail/oauth2.cc — over verified TLS (https; plain http only to
// a loopback host: base::SecretUrlProblem), caches the token in memory and asks for a new one once
// 80% of its lifetime has passed, or when the caller says the server refused
// it. A rotated refresh token in a response replaces the configured one, in
// memory only (docs/oauth2.md). Tokens and secrets never appear in messages.
//
// Errors name the account ("mailbox support"), the endpoint URL and the
// endpoint's own error and error_description: kPermanent when the endpoint
// refuses the grant or the client (invalid_grant, invalid_client, ...: a
// person must act), kTransient when it cannot be reached or fails (5xx,
// timeout), kProtocol when its answer is not a token response, kConfig for
// options that cannot work.
//
// Thread-safety: one source may be shared by sessions on several threads;
// its methods lock. The process must have called
// mail::InitializeMailLibraries() first (it initializes libcurl).
#ifndef MAILFORUM_MAIL_OAUTH2_H_
#define MAILFORUM_MAIL_OAUTH2_H_

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "base/result.h"

namespace mail {

// How a mail session (IMAP, SMTP) logs in: with a password, or with an
// OAuth2 access token in one of two SASL mechanisms.
enum class MailAuth {
  kPassword,
  kXOAuth2,      // Google's and Microsoft's
  kOAuthBearer,  // RFC 7628
};

enum class OAuth2Grant {
  kRefreshToken,       // grant_type=refresh_token with `refresh_token` (a user's delegated access)
  kClientCredentials,  // grant_type=client_credentials (a service principal; Microsoft 365)
};

struct OAuth2Options {
  std::string token_url;  // https://...; http:// only to a loopback host
  std::string client_id;
  std::string client_secret;  // Empty: a public client (none sent). Never logged.
  OAuth2Grant grant = OAuth2Grant::kRefreshToken;
  std::string refresh_token;                 // For kRefreshToken. Never logged.
  std::string scope;                         // Space-separated; empty: none sent.
  std::string ca_file;                       // PEM CAs for the endpoint; empty: the system trust store.
  std::string account;                       // Names the user of the tokens in messages: "mailbox support".
  std::chrono::milliseconds timeout{30000};  // The whole HTTP exchange.
};

// What a token endpoint answered (pure data, parsed by ParseTokenResponse).
struct TokenGrant {
  std::string access_token;
  std::chrono::seconds expires_in{3600};  // 3600 when the endpoint does not say
  std::string refresh_token;              // A rotated refresh token; empty when none was sent.
};

// Parses the endpoint's answer: `http_status` and the JSON body. A 200 with
// access_token is a grant; anything else is an error whose message holds the
// endpoint's "error" and "error_description" (never a token).
base::Result<TokenGrant> ParseTokenResponse(long http_status, std::string_view body);

// The form body of a token request (application/x-www-form-urlencoded).
std::string TokenRequestBody(const OAuth2Options& options, std::string_view refresh_token);

// When a token that lives `expires_in` is refreshed: after 80% of its life
// (at least 1 s before the end when it lives that long).
std::chrono::milliseconds RefreshAfter(std::chrono::seconds expires_in);

// The SASL initial client responses, before base64: XOAUTH2 (Google's and
// Microsoft's format) and OAUTHBEARER (RFC 7628).
std::string XOAuth2Response(std::string_view user, std::string_view token);
std::string OAuthBearerResponse(std::string_view user, std::string_view host, uint16_t port,
                                std::string_view token);
// Standard base64 with padding (RFC 4648 §4).
std::string EncodeBase64(std::string_view bytes);

class OAuth2TokenSource {
 public:
  using Clock = std::chrono::steady_clock;
  explicit OAuth2TokenSource(OAuth2Options options);
  OAuth2TokenSource(const OAuth2TokenSource&) = delete;
  OAuth2TokenSource& operator=(const OAuth2TokenSource&) = delete;

  // A current access token: the cached one while it is fresh, else a new one
  // from the endpoint.
  base::Result<std::string> AccessToken();
  // A new access token from the endpoint whatever the cache holds: call it
  // once when the server refused the cached one.
  base::Result<std::string> RefreshAccessToken();
  // How many tokens the endpoint has issued to this source (for tests and logs).
  int refreshes() const;

 private:
  base::Result<std::string> FetchLocked();

  const OAuth2Options options_;
  mutable std::mutex mutex_;
  std::string refresh_token_;  // the configured one, or the latest rotated one
  std::string access_token_;
  Clock::time_point refresh_at_{};
  int refreshes_ = 0;
};

}  // namespace mail

#endif  // MAILFORUM_MAIL_OAUTH2_H_
