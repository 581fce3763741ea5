// Reply tokens: the signed thread reference in our Reply-To address
// (help+{token}@example.com, DESIGN.md §4).
//
// A token is 26 lower-case base32 characters encoding the thread id (48 bits)
// and the first 80 bits of HMAC-SHA256(key, "mailforum reply token v1" ||
// thread id). Decoding is case-insensitive (mail systems may change the case
// of local parts) and the MAC is compared in constant time. A token that does
// not verify — forged, damaged, or made with another key — is rejected, and
// the caller must not trust any part of it.
//
// Thread-safety: pure functions.
#ifndef MAILFORUM_MAIL_REPLY_TOKEN_H_
#define MAILFORUM_MAIL_REPLY_TOKEN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mail {

// The largest thread id a token can carry (2^48 - 1).
inline constexpr uint64_t kMaxTokenThreadId = (uint64_t{1} << 48) - 1;

// Precondition: thread_id <= kMaxTokenThreadId and !key.empty().
std::string MakeReplyToken(uint64_t thread_id, std::string_view key);

// The thread id of a valid token, or nullopt when the token does not verify under `key`.
std::optional<uint64_t> VerifyReplyToken(std::string_view token, std::string_view key);

// The address for `thread_id`: `address_template` with "{token}" replaced.
std::string ReplyAddress(std::string_view address_template, uint64_t thread_id, std::string_view key);

// If `address` has the shape of `address_template` ("help+{token}@example.com";
// compared case-insensitively), the text standing where {token} stands;
// otherwise nullopt. The result is unverified: pass it to VerifyReplyToken.
std::optional<std::string> ExtractToken(std::string_view address_template, std::string_view address);

}  // namespace mail

#endif  // MAILFORUM_MAIL_REPLY_TOKEN_H_
