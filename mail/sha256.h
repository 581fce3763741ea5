// SHA-256 of attachment bytes (content addressing and deduplication in the
// store), computed with GnuTLS so that no other crypto library is linked.
//
// Thread-safety: a pure function; safe to call concurrently.
#ifndef MAILFORUM_MAIL_SHA256_H_
#define MAILFORUM_MAIL_SHA256_H_

#include <string>
#include <string_view>

namespace mail {

// The SHA-256 of `bytes` as 64 lower-case hex digits. Never fails (GnuTLS's
// digest of a memory buffer cannot fail short of a broken library, which
// aborts through assert in debug builds and yields "" otherwise).
std::string Sha256Hex(std::string_view bytes);

}  // namespace mail

#endif  // MAILFORUM_MAIL_SHA256_H_
