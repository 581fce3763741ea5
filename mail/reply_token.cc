#include "mail/reply_token.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <algorithm>
#include <array>
#include <cassert>

#include "base/ascii.h"

namespace mail {
namespace {

constexpr std::string_view kContext = "mailforum reply token v1";
constexpr size_t kIdBytes = 6;
constexpr size_t kMacBytes = 10;  // 80 bits
constexpr size_t kTokenBytes = kIdBytes + kMacBytes;
constexpr size_t kTokenChars = (kTokenBytes * 8 + 4) / 5;  // 26
constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view kPlaceholder = "{token}";

using TokenBytes = std::array<unsigned char, kTokenBytes>;

using Digest = std::array<unsigned char, 32>;

// HMAC-SHA256(key, context || message).
Digest Hmac(std::string_view key, std::string_view context, std::string_view message) {
  std::string input(context);
  input.append(message);
  Digest out{};
  [[maybe_unused]] int rc =
      gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.data(), key.size(), input.data(), input.size(), out.data());
  assert(rc == 0);
  return out;
}

Digest Mac(const unsigned char* id, std::string_view key) {
  return Hmac(key, kContext, std::string_view(reinterpret_cast<const char*>(id), kIdBytes));
}

std::optional<TokenBytes> FromBase32(std::string_view text) {
  if (text.size() != kTokenChars) return std::nullopt;
  const std::optional<std::string> bytes = DecodeBase32(text);
  if (!bytes || bytes->size() != kTokenBytes) return std::nullopt;
  TokenBytes out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

}  // namespace

std::string MakeReplyToken(uint64_t thread_id, std::string_view key) {
  assert(thread_id <= kMaxTokenThreadId && !key.empty());
  TokenBytes bytes{};
  for (size_t i = 0; i < kIdBytes; ++i) bytes[i] = static_cast<unsigned char>(thread_id >> (8 * (kIdBytes - 1 - i)));
  const auto mac = Mac(bytes.data(), key);
  for (size_t i = 0; i < kMacBytes; ++i) bytes[kIdBytes + i] = mac[i];
  return EncodeBase32({reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

std::optional<uint64_t> VerifyReplyToken(std::string_view token, std::string_view key) {
  if (key.empty()) return std::nullopt;
  auto bytes = FromBase32(token);
  if (!bytes) return std::nullopt;
  const auto mac = Mac(bytes->data(), key);
  if (gnutls_memcmp(mac.data(), bytes->data() + kIdBytes, kMacBytes) != 0) return std::nullopt;
  uint64_t id = 0;
  for (size_t i = 0; i < kIdBytes; ++i) id = (id << 8) | (*bytes)[i];
  return id;
}

std::string ReplyAddress(std::string_view address_template, uint64_t thread_id, std::string_view key) {
  return FillAddressTemplate(address_template, kPlaceholder, MakeReplyToken(thread_id, key));
}

std::optional<std::string> ExtractToken(std::string_view address_template, std::string_view address) {
  return ExtractFromAddressTemplate(address_template, kPlaceholder, address);
}

std::string SignBase32(std::string_view key, std::string_view context, std::string_view message,
                       size_t mac_bytes) {
  assert(!key.empty() && mac_bytes >= 1 && mac_bytes <= 32);
  const Digest mac = Hmac(key, context, message);
  return EncodeBase32({reinterpret_cast<const char*>(mac.data()), mac_bytes});
}

bool VerifyBase32Signature(std::string_view signature, std::string_view key, std::string_view context,
                           std::string_view message, size_t mac_bytes) {
  if (key.empty()) return false;
  const std::string expected = SignBase32(key, context, message, mac_bytes);
  if (signature.size() != expected.size()) return false;
  std::string lower(signature);
  for (char& c : lower) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return gnutls_memcmp(lower.data(), expected.data(), expected.size()) == 0;
}

std::string EncodeBase32(std::string_view bytes) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

std::optional<std::string> DecodeBase32(std::string_view text) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'a' && c <= 'z') {
      v = c - 'a';
    } else if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      return std::nullopt;
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  // Left-over bits must be fewer than a character's and zero: one encoding per byte string.
  if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string FillAddressTemplate(std::string_view address_template, std::string_view placeholder,
                                std::string_view value) {
  std::string out(address_template);
  const auto at = out.find(placeholder);
  if (at != std::string::npos) out.replace(at, placeholder.size(), value);
  return out;
}

std::optional<std::string> ExtractFromAddressTemplate(std::string_view address_template,
                                                      std::string_view placeholder,
                                                      std::string_view address) {
  const auto at = address_template.find(placeholder);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view prefix = address_template.substr(0, at);
  const std::string_view suffix = address_template.substr(at + placeholder.size());
  if (address.size() <= prefix.size() + suffix.size()) return std::nullopt;
  if (!base::EqualsIgnoreCase(address.substr(0, prefix.size()), prefix)) return std::nullopt;
  if (!base::EqualsIgnoreCase(address.substr(address.size() - suffix.size()), suffix)) return std::nullopt;
  return std::string(address.substr(prefix.size(), address.size() - prefix.size() - suffix.size()));
}

}  // namespace mail
