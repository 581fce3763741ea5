#include "mail/oauth2.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/ascii.h"
#include "base/host.h"

namespace mail {
namespace {

using base::ErrorKind;
using base::MakeError;

size_t Collect(char* data, size_t size, size_t count, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() > (1u << 20)) return 0;  // a token response is small: stop a runaway answer
  body->append(data, size * count);
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

}  // namespace

base::Result<TokenGrant> ParseTokenResponse(long http_status, std::string_view body) {
  nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  auto text = [&json](const char* key) -> std::string {
    if (!json.is_object() || !json.contains(key) || !json[key].is_string()) return {};
    return json[key].get<std::string>();
  };
  if (http_status != 200 || !json.is_object() || text("access_token").empty()) {
    std::string error = text("error");
    std::string description = text("error_description");
    std::string message = "token endpoint answered HTTP " + std::to_string(http_status);
    if (!error.empty()) message += ": " + error;
    if (!description.empty()) message += " (" + description + ")";
    if (http_status == 200)
      message += json.is_object() ? " without an access_token" : " with a body that is not JSON";
    // RFC 6749 §5.2: these need a person (new consent, new secret, new grant); the rest may pass.
    const bool refused = error == "invalid_grant" || error == "invalid_client" ||
                         error == "unauthorized_client" || error == "unsupported_grant_type" ||
                         error == "invalid_scope" || error == "invalid_request";
    ErrorKind kind = refused                                    ? ErrorKind::kPermanent
                     : http_status >= 500 || http_status == 429 ? ErrorKind::kTransient
                     : http_status == 200                       ? ErrorKind::kProtocol
                                                                : ErrorKind::kPermanent;
    return MakeError(kind, message);
  }
  TokenGrant grant;
  grant.access_token = text("access_token");
  grant.refresh_token = text("refresh_token");
  if (json.contains("expires_in")) {
    const auto& e = json["expires_in"];
    long long seconds = 0;
    if (e.is_number_integer()) seconds = e.get<long long>();
    if (e.is_string()) seconds = std::atoll(e.get<std::string>().c_str());  // some endpoints quote it
    if (seconds > 0) grant.expires_in = std::chrono::seconds(seconds);
  }
  return grant;
}

std::string TokenRequestBody(const OAuth2Options& options, std::string_view refresh_token) {
  std::string body;
  if (options.grant == OAuth2Grant::kRefreshToken) {
    body = "grant_type=refresh_token&refresh_token=" + base::PercentEncode(refresh_token);
  } else {
    body = "grant_type=client_credentials";
  }
  body += "&client_id=" + base::PercentEncode(options.client_id);
  if (!options.client_secret.empty()) body += "&client_secret=" + base::PercentEncode(options.client_secret);
  if (!options.scope.empty()) body += "&scope=" + base::PercentEncode(options.scope);
  return body;
}

std::chrono::milliseconds RefreshAfter(std::chrono::seconds expires_in) {
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(expires_in) * 4 / 5;
  if (expires_in > std::chrono::seconds(5)) {
    after = std::min(
        after, std::chrono::duration_cast<std::chrono::milliseconds>(expires_in) - std::chrono::seconds(1));
  }
  return after;
}

std::string XOAuth2Response(std::string_view user, std::string_view token) {
  return "user=" + std::string(user) + "\x01" + "auth=Bearer " + std::string(token) + "\x01\x01";
}

std::string OAuthBearerResponse(std::string_view user, std::string_view host, uint16_t port,
                                std::string_view token) {
  // RFC 7628 §3.1: gs2 header with the authzid (',' and '=' escaped), then key=value pairs.
  std::string authzid;
  for (char c : user) {
    if (c == ',') {
      authzid += "=2C";
    } else if (c == '=') {
      authzid += "=3D";
    } else {
      authzid += c;
    }
  }
  return "n,a=" + authzid + ",\x01" + "host=" + std::string(host) + "\x01" + "port=" + std::to_string(port) +
         "\x01" + "auth=Bearer " + std::string(token) + "\x01\x01";
}

std::string EncodeBase64(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n =
        (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (size_t left = bytes.size() - i; left > 0) {
    uint32_t n = uint32_t(uint8_t(bytes[i])) << 16;
    if (left == 2) n |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += left == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

OAuth2TokenSource::OAuth2TokenSource(OAuth2Options options)
    : options_(std::move(options)), refresh_token_(options_.refresh_token) {}

int OAuth2TokenSource::refreshes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return refreshes_;
}

base::Result<std::string> OAuth2TokenSource::AccessToken() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!access_token_.empty() && Clock::now() < refresh_at_) return access_token_;
  return FetchLocked();
}

base::Result<std::string> OAuth2TokenSource::RefreshAccessToken() {
  std::lock_guard<std::mutex> lock(mutex_);
  return FetchLocked();
}

base::Result<std::string> OAuth2TokenSource::FetchLocked() {
  const std::string where = "OAuth2 token for " + options_.account + " from " + options_.token_url;
  access_token_.clear();
  if (std::string problem = base::SecretUrlProblem(options_.token_url); !problem.empty()) {
    return MakeError(ErrorKind::kConfig, where + ": " + problem);
  }
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return MakeError(ErrorKind::kInternal, where + ": libcurl could not start");
  const std::string body = TokenRequestBody(options_, refresh_token_);
  std::string answer;
  char curl_error[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, options_.token_url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");  // SecretUrlProblem allows http to loopback only
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);           // a redirect would resend the secrets elsewhere
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_error);
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    const bool tls = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                     rc == CURLE_SSL_CONNECT_ERROR;
    return MakeError(tls ? ErrorKind::kPermanent : ErrorKind::kTransient,
                     where + ": " + (curl_error[0] ? std::string(curl_error) : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  auto grant = ParseTokenResponse(status, answer);
  if (!grant) return MakeError(grant.error().kind, where + ": " + grant.error().message);
  access_token_ = grant->access_token;
  refresh_at_ = Clock::now() + RefreshAfter(grant->expires_in);
  if (!grant->refresh_token.empty()) refresh_token_ = grant->refresh_token;  // rotated: kept in memory
  ++refreshes_;
  return access_token_;
}

}  // namespace mail
