// Unsubscribe tokens (issue 12): the signed part of each outbound mail's
// unsubscribe links, https://BASE/unsubscribe/TOKEN and
// mailto:help+unsub-TOKEN@example.com.
//
// A token is 28 lower-case base32 characters (safe in a URL path and in a
// local part, which it keeps under 64 octets) of 17 bytes: a version byte
// (1), the outbox row the mail was (48 bits), and the first 80 bits of
// HMAC-SHA256 under the reply key, in a context of its own ("mailforum
// unsubscribe v1", so no reply token or VERP signature ever verifies as one),
// over the version, the row, the row's recipient (lower-case) and the scope it
// unsubscribes from (forum/subscriptions.h). The recipient and the scope are
// named by reference, not written out, so the token fits a local part; the
// caller reads the row and verifies the signature against what the row says.
// Decoding is case-insensitive; the MAC is compared in constant time. A token
// that does not verify — forged, one character changed, made with another key
// or for another recipient or scope — must change nothing.
//
// Thread-safety: pure functions.
#ifndef MAILFORUM_MAIL_UNSUBSCRIBE_TOKEN_H_
#define MAILFORUM_MAIL_UNSUBSCRIBE_TOKEN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mail {

// The largest outbox row id a token can carry (2^48 - 1).
inline constexpr uint64_t kMaxUnsubscribeRowId = (uint64_t{1} << 48) - 1;

// Precondition: outbox_id <= kMaxUnsubscribeRowId and !key.empty().
std::string MakeUnsubscribeToken(uint64_t outbox_id, std::string_view recipient, std::string_view scope,
                                 std::string_view key);

// The outbox row `token` names, UNVERIFIED (to look the row up before
// VerifyUnsubscribeToken), or nullopt when it is not a token of a known version.
std::optional<uint64_t> UnsubscribeTokenRow(std::string_view token);

// True when `token` is MakeUnsubscribeToken(row it names, recipient, scope, key),
// in any letter case. False for an empty key.
bool VerifyUnsubscribeToken(std::string_view token, std::string_view recipient, std::string_view scope,
                            std::string_view key);

// The mailto address of `token`: `reply_template` ("help+{token}@example.com")
// with "{token}" replaced by "unsub-" + token.
std::string UnsubscribeAddress(std::string_view reply_template, std::string_view token);

// The (unverified) token of an unsubscribe address of `reply_template`, or
// nullopt when `address` is not one (compared case-insensitively).
std::optional<std::string> ExtractUnsubscribeToken(std::string_view reply_template, std::string_view address);

}  // namespace mail

#endif  // MAILFORUM_MAIL_UNSUBSCRIBE_TOKEN_H_
