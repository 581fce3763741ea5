#include "mail/tls_verify.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/test_env.h"

namespace mail {
namespace {

using base::ErrorKind;

// --- a small certificate factory on GnuTLS, so the tests need no openssl binary ---

struct KeyDeleter {
  void operator()(gnutls_x509_privkey_int* key) const { gnutls_x509_privkey_deinit(key); }
};
struct CrtDeleter {
  void operator()(gnutls_x509_crt_int* crt) const { gnutls_x509_crt_deinit(crt); }
};

struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::array<unsigned char, 4>> ipv4;
  bool is_ca = false;
  const char* key_purpose = GNUTLS_KP_TLS_WWW_SERVER;  // nullptr: no extendedKeyUsage
  time_t not_before = time(nullptr) - 3600;
  time_t not_after = time(nullptr) + 86400;
};

class TestCert {
 public:
  // Self-signed when issuer is null.
  TestCert(const CertSpec& spec, const TestCert* issuer) {
    static unsigned serial = 1;
    gnutls_x509_privkey_t key = nullptr;
    gnutls_x509_privkey_init(&key);
    key_.reset(key);
    Check(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0));
    gnutls_x509_crt_t crt = nullptr;
    gnutls_x509_crt_init(&crt);
    crt_.reset(crt);
    Check(gnutls_x509_crt_set_version(crt, 3));
    unsigned char serial_bytes[] = {static_cast<unsigned char>(serial++)};
    Check(gnutls_x509_crt_set_serial(crt, serial_bytes, sizeof(serial_bytes)));
    Check(gnutls_x509_crt_set_activation_time(crt, spec.not_before));
    Check(gnutls_x509_crt_set_expiration_time(crt, spec.not_after));
    Check(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, spec.common_name.data(),
                                        static_cast<unsigned>(spec.common_name.size())));
    Check(gnutls_x509_crt_set_key(crt, key));
    Check(gnutls_x509_crt_set_basic_constraints(crt, spec.is_ca ? 1 : 0, -1));
    Check(gnutls_x509_crt_set_key_usage(
        crt, spec.is_ca ? GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN : GNUTLS_KEY_DIGITAL_SIGNATURE));
    for (const std::string& name : spec.dns_names) {
      Check(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name.data(),
                                                 static_cast<unsigned>(name.size()), GNUTLS_FSAN_APPEND));
    }
    for (const auto& ip : spec.ipv4) {
      Check(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip.data(), 4, GNUTLS_FSAN_APPEND));
    }
    if (spec.key_purpose != nullptr && !spec.is_ca) {
      Check(gnutls_x509_crt_set_key_purpose_oid(crt, spec.key_purpose, 0));
    }
    const TestCert& signer = issuer != nullptr ? *issuer : *this;
    Check(gnutls_x509_crt_sign2(crt, signer.crt_.get(), signer.key_.get(), GNUTLS_DIG_SHA256, 0));
  }

  std::string Export(gnutls_x509_crt_fmt_t format) const {
    gnutls_datum_t out{};
    Check(gnutls_x509_crt_export2(crt_.get(), format, &out));
    std::string data(reinterpret_cast<const char*>(out.data), out.size);
    gnutls_free(out.data);
    return data;
  }
  std::string Der() const { return Export(GNUTLS_X509_FMT_DER); }
  std::string Pem() const { return Export(GNUTLS_X509_FMT_PEM); }

 private:
  static void Check(int rc) {
    if (rc < 0) throw std::runtime_error(std::string("gnutls: ") + gnutls_strerror(rc));
  }

  std::unique_ptr<gnutls_x509_privkey_int, KeyDeleter> key_;
  std::unique_ptr<gnutls_x509_crt_int, CrtDeleter> crt_;
};

CertSpec Ca(const std::string& name) {
  CertSpec spec;
  spec.common_name = name;
  spec.is_ca = true;
  return spec;
}

CertSpec Server(std::vector<std::string> dns, std::vector<std::array<unsigned char, 4>> ipv4 = {}) {
  CertSpec spec;
  spec.common_name = dns.empty() ? "server" : dns.front();
  spec.dns_names = std::move(dns);
  spec.ipv4 = std::move(ipv4);
  return spec;
}

class TlsVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = mftest::MakeTempDir("tls_verify_test.");
    ca_file_ = WriteFile("ca.pem", ca_.Pem());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string WriteFile(const std::string& name, const std::string& content) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  TlsTrust TrustCa() const { return TlsTrust{ca_file_, ""}; }

  std::string dir_;
  std::string ca_file_;
  TestCert ca_{Ca("test CA"), nullptr};
  TestCert server_{Server({"localhost"}, {{127, 0, 0, 1}}), &ca_};
};

TEST_F(TlsVerifyTest, AcceptsCertificateForHostNameSignedByTrustedCa) {
  base::Status status = VerifyServerCertificate({server_.Der()}, "localhost", TrustCa());
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST_F(TlsVerifyTest, AcceptsCertificateForIpAddress) {
  base::Status status = VerifyServerCertificate({server_.Der()}, "127.0.0.1", TrustCa());
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST_F(TlsVerifyTest, HostNameComparisonIgnoresCase) {
  base::Status status = VerifyServerCertificate({server_.Der()}, "LocalHost", TrustCa());
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST_F(TlsVerifyTest, RefusesCertificateForAnotherHost) {
  TestCert wrong(Server({"wrong.invalid"}), &ca_);
  base::Status status = VerifyServerCertificate({wrong.Der()}, "localhost", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kPermanent);
  EXPECT_EQ(status.error().message, "host name mismatch: certificate is for wrong.invalid, expected localhost");
}

TEST_F(TlsVerifyTest, RefusesIpAddressTheCertificateDoesNotName) {
  base::Status status = VerifyServerCertificate({server_.Der()}, "127.0.0.2", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message,
            "host name mismatch: certificate is for localhost, 127.0.0.1, expected 127.0.0.2");
}

TEST_F(TlsVerifyTest, IpAddressDoesNotMatchItsTextInADnsName) {
  TestCert dns_only(Server({"127.0.0.1"}), &ca_);
  EXPECT_FALSE(VerifyServerCertificate({dns_only.Der()}, "127.0.0.1", TrustCa()).ok());
}

TEST_F(TlsVerifyTest, FallsBackToCommonNameWithoutSubjectAltName) {
  CertSpec spec;
  spec.common_name = "localhost";
  TestCert cn_only(spec, &ca_);
  base::Status status = VerifyServerCertificate({cn_only.Der()}, "localhost", TrustCa());
  EXPECT_TRUE(status.ok()) << status.error().message;
  status = VerifyServerCertificate({cn_only.Der()}, "other.example", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "host name mismatch: certificate is for localhost, expected other.example");
}

TEST_F(TlsVerifyTest, RefusesCertificateFromUnknownSigner) {
  TestCert other_ca(Ca("other CA"), nullptr);
  TestCert stranger(Server({"localhost"}, {{127, 0, 0, 1}}), &other_ca);
  base::Status status = VerifyServerCertificate({stranger.Der()}, "127.0.0.1", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kPermanent);
  EXPECT_EQ(status.error().message, "certificate for 127.0.0.1 is not valid: signer not found");
}

TEST_F(TlsVerifyTest, RefusesSelfSignedServerCertificate) {
  TestCert self_signed(Server({"localhost"}), nullptr);
  base::Status status = VerifyServerCertificate({self_signed.Der()}, "localhost", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("signer not found"), std::string::npos) << status.error().message;
}

TEST_F(TlsVerifyTest, RefusesCertificateOutsideItsValidity) {
  const time_t now = time(nullptr);
  struct Case {
    time_t not_before, not_after;
    const char* reason;
  };
  for (const Case& c : {Case{now - 10 * 86400, now - 86400, "expired"},
                        Case{now + 86400, now + 10 * 86400, "not yet valid"}}) {
    CertSpec spec = Server({"localhost"});
    spec.not_before = c.not_before;
    spec.not_after = c.not_after;
    TestCert cert(spec, &ca_);
    base::Status status = VerifyServerCertificate({cert.Der()}, "localhost", TrustCa());
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().message, std::string("certificate for localhost is not valid: ") + c.reason);
  }
}

TEST_F(TlsVerifyTest, RefusesClientOnlyCertificate) {
  CertSpec spec = Server({"localhost"});
  spec.key_purpose = GNUTLS_KP_TLS_WWW_CLIENT;
  TestCert client(spec, &ca_);
  base::Status status = VerifyServerCertificate({client.Der()}, "localhost", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("not meant for a TLS server"), std::string::npos)
      << status.error().message;
}

TEST_F(TlsVerifyTest, FollowsIntermediateSentByServer) {
  TestCert intermediate(Ca("intermediate CA"), &ca_);
  TestCert leaf(Server({"mail.example"}), &intermediate);
  base::Status status = VerifyServerCertificate({leaf.Der(), intermediate.Der()}, "mail.example", TrustCa());
  EXPECT_TRUE(status.ok()) << status.error().message;
  status = VerifyServerCertificate({leaf.Der()}, "mail.example", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "certificate for mail.example is not valid: signer not found");
}

TEST_F(TlsVerifyTest, SystemTrustStoreDoesNotKnowTestCa) {
  base::Status status = VerifyServerCertificate({server_.Der()}, "localhost", TlsTrust{});
  ASSERT_FALSE(status.ok());
  if (status.error().kind == ErrorKind::kConfig) GTEST_SKIP() << "no system trust store: " << status.error().message;
  EXPECT_EQ(status.error().message, "certificate for localhost is not valid: signer not found");
}

TEST_F(TlsVerifyTest, MatchingPinIsTheWholeTrustDecision) {
  TestCert self_signed(Server({"elsewhere.example"}), nullptr);
  std::string pin = CertificateSha256(self_signed.Der());
  // Lower case, no colons, a CA file that does not know the certificate, a host it does not name: accepted.
  std::string relaxed;
  for (char c : pin) {
    if (c != ':') relaxed += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  base::Status status = VerifyServerCertificate({self_signed.Der()}, "localhost", TlsTrust{ca_file_, relaxed});
  EXPECT_TRUE(status.ok()) << status.error().message;
}

TEST_F(TlsVerifyTest, RefusesCertificateThatDoesNotMatchPin) {
  TestCert other(Server({"localhost"}), &ca_);
  const std::string expected = CertificateSha256(other.Der());
  base::Status status = VerifyServerCertificate({server_.Der()}, "localhost", TlsTrust{ca_file_, expected});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kPermanent);
  EXPECT_EQ(status.error().message,
            "certificate pin mismatch: expected " + expected + ", got " + CertificateSha256(server_.Der()));
}

TEST_F(TlsVerifyTest, MalformedPinIsConfigError) {
  base::Status status = VerifyServerCertificate({server_.Der()}, "localhost", TlsTrust{ca_file_, "AB:CD"});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kConfig);
}

TEST_F(TlsVerifyTest, MissingOrEmptyCaFileIsConfigError) {
  base::Status status = VerifyServerCertificate({server_.Der()}, "localhost", TlsTrust{dir_ + "/absent.pem", ""});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kConfig);
  EXPECT_NE(status.error().message.find(dir_ + "/absent.pem"), std::string::npos) << status.error().message;

  status = VerifyServerCertificate({server_.Der()}, "localhost", TlsTrust{WriteFile("empty.pem", ""), ""});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kConfig);
}

TEST_F(TlsVerifyTest, RefusesEmptyOrGarbageChain) {
  base::Status status = VerifyServerCertificate({}, "localhost", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message, "server sent no certificate");
  status = VerifyServerCertificate({"not a certificate"}, "localhost", TrustCa());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kPermanent);
}

TEST(CertificatePinTest, FormatsAndNormalizes) {
  const std::string hex = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789ABCDEF";
  base::Result<std::string> pin = NormalizeSha256Pin(hex);
  ASSERT_TRUE(pin.ok()) << pin.error().message;
  EXPECT_EQ(*pin,
            "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF");
  base::Result<std::string> again = NormalizeSha256Pin(*pin);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *pin);
  EXPECT_FALSE(NormalizeSha256Pin(hex + "00").ok());
  EXPECT_FALSE(NormalizeSha256Pin("zz" + hex.substr(2)).ok());
  // SHA-256 of the empty string.
  EXPECT_EQ(CertificateSha256(""),
            "E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:A4:95:99:1B:78:52:B8:55");
}

}  // namespace
}  // namespace mail
