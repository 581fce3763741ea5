#include "mail/unsubscribe_token.h"

#include <cassert>

#include "base/ascii.h"
#include "mail/reply_token.h"

namespace mail {
namespace {

constexpr std::string_view kContext = "mailforum unsubscribe v1";
constexpr char kVersion = 1;
constexpr size_t kHeadBytes = 7;                                        // the version and the 48-bit row id
constexpr size_t kMacBytes = 10;                                        // 80 bits
constexpr size_t kTokenChars = ((kHeadBytes + kMacBytes) * 8 + 4) / 5;  // 28
constexpr std::string_view kPlaceholder = "{token}";
constexpr std::string_view kPrefix = "unsub-";

std::string Head(uint64_t outbox_id) {
  std::string head(1, kVersion);
  for (int shift = 40; shift >= 0; shift -= 8) head += static_cast<char>((outbox_id >> shift) & 0xff);
  return head;
}

// What the MAC covers: the head, then the recipient and the scope, each ended by a NUL (neither holds one).
std::string Signed(std::string_view head, std::string_view recipient, std::string_view scope) {
  std::string out(head);
  out += base::AsciiLower(recipient);
  out += '\0';
  out += scope;
  out += '\0';
  return out;
}

}  // namespace

std::string MakeUnsubscribeToken(uint64_t outbox_id, std::string_view recipient, std::string_view scope,
                                 std::string_view key) {
  assert(outbox_id <= kMaxUnsubscribeRowId && !key.empty());
  const std::string head = Head(outbox_id);
  std::string bytes = head;
  // SignBase32 gives the MAC in base32; the token encodes head and MAC as one byte string.
  const std::optional<std::string> mac =
      DecodeBase32(SignBase32(key, kContext, Signed(head, recipient, scope), kMacBytes));
  assert(mac && mac->size() == kMacBytes);
  bytes += *mac;
  return EncodeBase32(bytes);
}

std::optional<uint64_t> UnsubscribeTokenRow(std::string_view token) {
  if (token.size() != kTokenChars) return std::nullopt;
  const std::optional<std::string> bytes = DecodeBase32(token);
  if (!bytes || bytes->size() != kHeadBytes + kMacBytes || (*bytes)[0] != kVersion) return std::nullopt;
  uint64_t id = 0;
  for (size_t i = 1; i < kHeadBytes; ++i) id = (id << 8) | static_cast<unsigned char>((*bytes)[i]);
  return id;
}

bool VerifyUnsubscribeToken(std::string_view token, std::string_view recipient, std::string_view scope,
                            std::string_view key) {
  const std::optional<uint64_t> row = UnsubscribeTokenRow(token);
  if (!row || key.empty()) return false;
  const std::optional<std::string> bytes = DecodeBase32(token);
  const std::string head = bytes->substr(0, kHeadBytes);
  return VerifyBase32Signature(EncodeBase32(bytes->substr(kHeadBytes)), key, kContext,
                               Signed(head, recipient, scope), kMacBytes);
}

std::string UnsubscribeAddress(std::string_view reply_template, std::string_view token) {
  return FillAddressTemplate(reply_template, kPlaceholder, std::string(kPrefix) + std::string(token));
}

std::optional<std::string> ExtractUnsubscribeToken(std::string_view reply_template,
                                                   std::string_view address) {
  std::optional<std::string> text = ExtractFromAddressTemplate(reply_template, kPlaceholder, address);
  if (!text || text->size() <= kPrefix.size() ||
      !base::EqualsIgnoreCase(text->substr(0, kPrefix.size()), kPrefix)) {
    return std::nullopt;
  }
  return text->substr(kPrefix.size());
}

}  // namespace mail
