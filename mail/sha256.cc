#include "mail/sha256.h"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <cassert>

namespace mail {

std::string Sha256Hex(std::string_view bytes) {
  unsigned char digest[32];
  const int rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, bytes.data(), bytes.size(), digest);
  assert(rc == 0);
  if (rc != 0) return "";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 0x0F];
  }
  return hex;
}

}  // namespace mail
