// Verification of a TLS server's certificate chain with GnuTLS.
//
// libetpan accepts any certificate (shared/TESTENV.md, pitfall 1), so the IMAP
// session hands the chain it received to VerifyServerCertificate() after the
// handshake and before it sends a single command. The check is a pure
// function of its arguments and the trust store, independent of libetpan, so
// it is unit-tested with generated certificates.
//
// Thread-safety: all functions may be called from any thread.
#ifndef MAILFORUM_MAIL_TLS_VERIFY_H_
#define MAILFORUM_MAIL_TLS_VERIFY_H_

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace mail {

// Whom to trust for a server certificate.
struct TlsTrust {
  // PEM file with the trusted CA certificates; empty: the system trust store.
  std::string ca_file;
  // Optional SHA-256 fingerprint of the server's own (leaf) certificate, 64 hex
  // digits with or without colons, in any case. When set it is the whole
  // trust decision, like msmtp's tls_fingerprint: a matching certificate is
  // accepted whoever signed it and whatever names it carries (the operator
  // vouched for exactly this certificate), any other is refused; ca_file and
  // the system store are not consulted.
  std::string sha256_pin;
};

// Checks `der_chain` (the peer's certificates in DER, leaf first, as sent in
// the handshake) for a connection to `host`, a DNS name or an IP address.
// Without a pin: the chain must lead to a trusted CA and be valid now, the
// leaf must be usable by a TLS server, and its names (subjectAltName DNS or IP
// entries; the common name only when there are none) must match `host`.
//
// Errors: kPermanent for a certificate that fails ("certificate for HOST is
// not valid: signer not found", "host name mismatch: certificate is for
// wrong.invalid, expected localhost", "certificate pin mismatch: expected
// AB:CD:…, got …", "server sent no certificate"); kConfig when the trust
// source itself is unusable (unreadable or empty CA file, empty system store,
// malformed pin).
base::Status VerifyServerCertificate(const std::vector<std::string>& der_chain, std::string_view host,
                                     const TlsTrust& trust);

// The SHA-256 fingerprint of a DER certificate as upper-case hex pairs joined
// by colons ("AB:CD:…"), the form VerifyServerCertificate() prints and accepts.
std::string CertificateSha256(std::string_view der);

// Normalizes a pin as accepted by TlsTrust::sha256_pin to the form of
// CertificateSha256(). Errors: kConfig when it is not 32 bytes of hex. Lets
// configuration validation reject a bad pin at startup.
base::Result<std::string> NormalizeSha256Pin(std::string_view pin);

}  // namespace mail

#endif  // MAILFORUM_MAIL_TLS_VERIFY_H_
