#include "mail/tls_verify.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <array>
#include <cctype>
#include <memory>

namespace mail {
namespace {

using base::ErrorKind;
using base::MakeError;

struct TrustListDeleter {
  void operator()(gnutls_x509_trust_list_st* list) const { gnutls_x509_trust_list_deinit(list, 1); }
};
using TrustList = std::unique_ptr<gnutls_x509_trust_list_st, TrustListDeleter>;

struct CertDeleter {
  void operator()(gnutls_x509_crt_int* cert) const { gnutls_x509_crt_deinit(cert); }
};
using Cert = std::unique_ptr<gnutls_x509_crt_int, CertDeleter>;

constexpr size_t kSha256Size = 32;

std::string HexPairs(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    if (i > 0) out += ':';
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0x0f];
  }
  return out;
}

base::Result<Cert> ImportDer(std::string_view der) {
  gnutls_x509_crt_t raw = nullptr;
  if (int rc = gnutls_x509_crt_init(&raw); rc < 0) {
    return MakeError(ErrorKind::kInternal, std::string("gnutls_x509_crt_init: ") + gnutls_strerror(rc));
  }
  Cert cert(raw);
  gnutls_datum_t datum{reinterpret_cast<unsigned char*>(const_cast<char*>(der.data())),
                       static_cast<unsigned int>(der.size())};
  if (int rc = gnutls_x509_crt_import(cert.get(), &datum, GNUTLS_X509_FMT_DER); rc < 0) {
    return MakeError(ErrorKind::kPermanent,
                     std::string("server certificate cannot be parsed: ") + gnutls_strerror(rc));
  }
  return cert;
}

base::Result<TrustList> LoadTrust(const TlsTrust& trust) {
  gnutls_x509_trust_list_t raw = nullptr;
  if (int rc = gnutls_x509_trust_list_init(&raw, 0); rc < 0) {
    return MakeError(ErrorKind::kInternal, std::string("gnutls_x509_trust_list_init: ") + gnutls_strerror(rc));
  }
  TrustList list(raw);
  if (trust.ca_file.empty()) {
    int added = gnutls_x509_trust_list_add_system_trust(list.get(), 0, 0);
    if (added < 0) {
      return MakeError(ErrorKind::kConfig,
                       std::string("cannot load the system trust store: ") + gnutls_strerror(added));
    }
    if (added == 0) {
      return MakeError(ErrorKind::kConfig,
                       "the system trust store is empty (install ca-certificates or set ca_file)");
    }
    return list;
  }
  int added = gnutls_x509_trust_list_add_trust_file(list.get(), trust.ca_file.c_str(), nullptr,
                                                    GNUTLS_X509_FMT_PEM, 0, 0);
  if (added < 0) {
    return MakeError(ErrorKind::kConfig,
                     "cannot load CA file " + trust.ca_file + ": " + gnutls_strerror(added));
  }
  if (added == 0) {
    return MakeError(ErrorKind::kConfig, "CA file " + trust.ca_file + " contains no PEM certificate");
  }
  return list;
}

// The reasons a chain failed, in words, from GnuTLS's status bits.
std::string DescribeStatus(unsigned status) {
  struct Reason {
    unsigned bit;
    const char* text;
  };
  static constexpr Reason kReasons[] = {
      {GNUTLS_CERT_SIGNER_NOT_FOUND, "signer not found"},
      {GNUTLS_CERT_SIGNER_NOT_CA, "signer is not a CA"},
      {GNUTLS_CERT_SIGNATURE_FAILURE, "bad signature"},
      {GNUTLS_CERT_EXPIRED, "expired"},
      {GNUTLS_CERT_NOT_ACTIVATED, "not yet valid"},
      {GNUTLS_CERT_REVOKED, "revoked"},
      {GNUTLS_CERT_INSECURE_ALGORITHM, "insecure signature algorithm"},
      {GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE, "signer constraints violated"},
      {GNUTLS_CERT_PURPOSE_MISMATCH, "not meant for a TLS server"},
      {GNUTLS_CERT_UNKNOWN_CRIT_EXTENSIONS, "unknown critical extension"},
  };
  std::string text;
  for (const Reason& reason : kReasons) {
    if ((status & reason.bit) == 0) continue;
    if (!text.empty()) text += ", ";
    text += reason.text;
  }
  return text.empty() ? "status " + std::to_string(status) : text;
}

// The names a certificate is for, for error messages: its subjectAltName DNS
// and IP entries, else its common name.
std::string CertificateNames(gnutls_x509_crt_t cert) {
  std::string names;
  auto add = [&names](const std::string& name) {
    if (!names.empty()) names += ", ";
    names += name;
  };
  for (unsigned seq = 0;; ++seq) {
    std::array<char, 1024> buf{};
    size_t size = buf.size();
    int type = gnutls_x509_crt_get_subject_alt_name(cert, seq, buf.data(), &size, nullptr);
    if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
    if (type == GNUTLS_SAN_DNSNAME) {
      add(std::string(buf.data(), size));
    } else if (type == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
      std::array<char, INET6_ADDRSTRLEN> text{};
      if (inet_ntop(size == 4 ? AF_INET : AF_INET6, buf.data(), text.data(), text.size()) != nullptr) {
        add(text.data());
      }
    } else if (type < 0 && type != GNUTLS_E_SHORT_MEMORY_BUFFER) {
      break;
    }
  }
  if (names.empty()) {
    std::array<char, 1024> buf{};
    size_t size = buf.size();
    if (gnutls_x509_crt_get_dn_by_oid(cert, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf.data(), &size) >= 0) {
      names.assign(buf.data(), size);
    }
  }
  return names.empty() ? "no name" : names;
}

bool MatchesHost(gnutls_x509_crt_t cert, const std::string& host) {
  std::array<unsigned char, 16> ip{};
  if (inet_pton(AF_INET, host.c_str(), ip.data()) == 1) return gnutls_x509_crt_check_ip(cert, ip.data(), 4, 0) != 0;
  if (inet_pton(AF_INET6, host.c_str(), ip.data()) == 1) return gnutls_x509_crt_check_ip(cert, ip.data(), 16, 0) != 0;
  return gnutls_x509_crt_check_hostname2(cert, host.c_str(), 0) != 0;
}

base::Status VerifyPin(std::string_view leaf_der, std::string_view pin) {
  base::Result<std::string> expected = NormalizeSha256Pin(pin);
  if (!expected.ok()) return expected.error();
  std::string got = CertificateSha256(leaf_der);
  if (got != *expected) {
    return MakeError(ErrorKind::kPermanent, "certificate pin mismatch: expected " + *expected + ", got " + got);
  }
  return {};
}

}  // namespace

std::string CertificateSha256(std::string_view der) {
  std::array<unsigned char, kSha256Size> digest{};
  gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data(), der.size(), digest.data());
  return HexPairs(digest.data(), digest.size());
}

base::Result<std::string> NormalizeSha256Pin(std::string_view pin) {
  std::string hex;
  for (char c : pin) {
    if (c == ':') continue;
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) {
      return MakeError(ErrorKind::kConfig, "tls_sha256 must be a SHA-256 fingerprint in hex; found '" +
                                               std::string(1, c) + "'");
    }
    hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 2 * kSha256Size) {
    return MakeError(ErrorKind::kConfig, "tls_sha256 must have 64 hex digits (SHA-256); found " +
                                             std::to_string(hex.size()));
  }
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out += ':';
    out.append(hex, i, 2);
  }
  return out;
}

base::Status VerifyServerCertificate(const std::vector<std::string>& der_chain, std::string_view host,
                                     const TlsTrust& trust) {
  if (der_chain.empty()) return MakeError(ErrorKind::kPermanent, "server sent no certificate");
  if (!trust.sha256_pin.empty()) return VerifyPin(der_chain.front(), trust.sha256_pin);

  base::Result<TrustList> list = LoadTrust(trust);
  if (!list.ok()) return list.error();

  std::vector<Cert> owned;
  std::vector<gnutls_x509_crt_t> chain;
  for (const std::string& der : der_chain) {
    base::Result<Cert> cert = ImportDer(der);
    if (!cert.ok()) return cert.error();
    chain.push_back(cert->get());
    owned.push_back(std::move(cert).value());
  }

  const std::string host_name(host);
  gnutls_typed_vdata_st purpose{};
  purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
  purpose.data = reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_SERVER));
  unsigned status = 0;
  int rc = gnutls_x509_trust_list_verify_crt2(list->get(), chain.data(), static_cast<unsigned>(chain.size()),
                                              &purpose, 1, 0, &status, nullptr);
  if (rc < 0) {
    return MakeError(ErrorKind::kPermanent,
                     "certificate for " + host_name + " cannot be verified: " + gnutls_strerror(rc));
  }
  if (status != 0) {
    return MakeError(ErrorKind::kPermanent,
                     "certificate for " + host_name + " is not valid: " + DescribeStatus(status));
  }
  if (!MatchesHost(chain.front(), host_name)) {
    return MakeError(ErrorKind::kPermanent, "host name mismatch: certificate is for " +
                                                CertificateNames(chain.front()) + ", expected " + host_name);
  }
  return {};
}

}  // namespace mail
