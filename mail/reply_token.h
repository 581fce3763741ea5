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

#include <cstddef>
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

// --- The signing and address templates behind reply tokens, shared with the
// other signed addresses of mail/ (VERP return paths, mail/composer.h). Each
// use passes its own `context` string, so that a signature made for one use
// never verifies as another.

// Lower-case base32 (RFC 4648 alphabet, unpadded) of the first `mac_bytes`
// bytes of HMAC-SHA256(key, context || message).
// Precondition: !key.empty() and 1 <= mac_bytes <= 32.
std::string SignBase32(std::string_view key, std::string_view context, std::string_view message,
                       size_t mac_bytes);

// True when `signature`, in any letter case, is SignBase32(key, context,
// message, mac_bytes); the comparison takes the same time wherever the first
// difference is. False for an empty key.
bool VerifyBase32Signature(std::string_view signature, std::string_view key, std::string_view context,
                           std::string_view message, size_t mac_bytes);

// Lower-case base32 (RFC 4648 alphabet, unpadded) of `bytes`.
std::string EncodeBase32(std::string_view bytes);

// The bytes of `text` (base32 as EncodeBase32 writes it, in any letter
// case), or nullopt when it holds another character or is not the one
// encoding of its bytes (non-zero or too many padding bits).
std::optional<std::string> DecodeBase32(std::string_view text);

// `address_template` with its first `placeholder` (e.g. "{token}") replaced
// by `value`; unchanged when the template has no placeholder.
std::string FillAddressTemplate(std::string_view address_template, std::string_view placeholder,
                                std::string_view value);

// If `address` has the shape of `address_template` (compared
// case-insensitively, with a non-empty text where `placeholder` stands), that
// text; otherwise nullopt. The result is unverified.
std::optional<std::string> ExtractFromAddressTemplate(std::string_view address_template,
                                                      std::string_view placeholder, std::string_view address);

}  // namespace mail

#endif  // MAILFORUM_MAIL_REPLY_TOKEN_H_
