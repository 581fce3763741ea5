#include "mail/auth_results.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mail {
namespace {

const std::vector<std::string> kTrusted = {"mx.example.com", "mx2.example.com"};

// A message whose only headers are these Authentication-Results values, topmost first.
Message WithResults(const std::vector<std::string>& values) {
  Message m;
  m.headers.push_back({"Received", "from relay.example.net by mx.example.com"});
  for (const std::string& v : values) m.headers.push_back({"Authentication-Results", v});
  m.headers.push_back({"Subject", "hello"});
  return m;
}

DmarcVerdict Verdict(const std::string& value) { return TrustedDmarc(WithResults({value}), kTrusted); }

TEST(AuthResultsTest, VerdictNames) {
  EXPECT_EQ(DmarcVerdictName(DmarcVerdict::kPass), "pass");
  EXPECT_EQ(DmarcVerdictName(DmarcVerdict::kFail), "fail");
  EXPECT_EQ(DmarcVerdictName(DmarcVerdict::kNone), "none");
  EXPECT_EQ(DmarcVerdictName(DmarcVerdict::kTempError), "temperror");
  EXPECT_EQ(DmarcVerdictName(DmarcVerdict::kPermError), "permerror");
}

TEST(AuthResultsTest, ReadsEveryResultWord) {
  EXPECT_EQ(Verdict("mx.example.com; dmarc=pass header.from=example.com"), DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("mx.example.com; dmarc=fail header.from=example.com"), DmarcVerdict::kFail);
  EXPECT_EQ(Verdict("mx.example.com; dmarc=none header.from=example.com"), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("mx.example.com; dmarc=temperror header.from=example.com"), DmarcVerdict::kTempError);
  EXPECT_EQ(Verdict("mx.example.com; dmarc=permerror header.from=example.com"), DmarcVerdict::kPermError);
  EXPECT_EQ(Verdict("mx.example.com; DMARC=FAIL"), DmarcVerdict::kFail);
}

TEST(AuthResultsTest, NothingTrustedIsNone) {
  EXPECT_EQ(TrustedDmarc(Message{}, kTrusted), DmarcVerdict::kNone);
  EXPECT_EQ(TrustedDmarc(WithResults({"mx.example.com; dmarc=pass"}), {}), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("mx.example.com; spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com"),
            DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("mx.example.com; none"), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("mx.example.com 1; none"), DmarcVerdict::kNone);
}

TEST(AuthResultsTest, UntrustedAuthservIdsAreIgnored) {
  // A forger writes whatever they like; only our own MTAs' fields count.
  EXPECT_EQ(Verdict("evil.example.net; dmarc=pass"), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("mx.example.com.evil.net; dmarc=pass"), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("evil-mx.example.com; dmarc=pass"), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("example.com; dmarc=pass"), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("; dmarc=pass"), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("dmarc=pass"), DmarcVerdict::kNone);
  EXPECT_EQ(
      TrustedDmarc(WithResults({"evil.example.net; dmarc=pass", "mx.example.com; dmarc=fail"}), kTrusted),
      DmarcVerdict::kFail);
}

TEST(AuthResultsTest, AuthservIdIsCaseInsensitive) {
  EXPECT_EQ(Verdict("MX.Example.COM; dmarc=pass"), DmarcVerdict::kPass);
  EXPECT_EQ(TrustedDmarc(WithResults({"mx.example.com; dmarc=pass"}), {"MX.EXAMPLE.COM"}),
            DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("\"mx.example.com\"; dmarc=pass"), DmarcVerdict::kPass);
}

TEST(AuthResultsTest, TopmostTrustedFieldWins) {
  // Our MTA prepends: the field it added is above anything the sender wrote.
  EXPECT_EQ(TrustedDmarc(WithResults({"mx.example.com; dmarc=fail", "mx.example.com; dmarc=pass"}), kTrusted),
            DmarcVerdict::kFail);
  EXPECT_EQ(
      TrustedDmarc(WithResults({"mx2.example.com; dmarc=temperror", "mx.example.com; dmarc=pass"}), kTrusted),
      DmarcVerdict::kTempError);
  // The first dmarc resinfo of the field decides.
  EXPECT_EQ(Verdict("mx.example.com; dmarc=fail; dmarc=pass"), DmarcVerdict::kFail);
}

TEST(AuthResultsTest, FieldsWithoutDmarcAreSkipped) {
  // OpenDKIM and OpenDMARC each add their own field with the same authserv-id.
  EXPECT_EQ(
      TrustedDmarc(WithResults({"mx.example.com; dkim=pass header.d=example.com header.b=abc",
                                "mx.example.com; dmarc=pass (p=reject dis=none) header.from=example.com",
                                "mx.example.com; spf=fail smtp.mailfrom=example.com"}),
                   kTrusted),
      DmarcVerdict::kPass);
  EXPECT_EQ(TrustedDmarc(WithResults({"mx.example.com; none", "mx.example.com; dmarc=fail"}), kTrusted),
            DmarcVerdict::kFail);
}

TEST(AuthResultsTest, UnknownResultWordIsNone) {
  // Microsoft writes "bestguesspass" when the domain has no DMARC record: not a pass.
  EXPECT_EQ(Verdict("mx.example.com; dmarc=bestguesspass action=none header.from=example.com"),
            DmarcVerdict::kNone);
  // It still decides: a lower field cannot turn it into a pass.
  EXPECT_EQ(TrustedDmarc(WithResults({"mx.example.com; dmarc=bestguesspass", "mx.example.com; dmarc=pass"}),
                         kTrusted),
            DmarcVerdict::kNone);
}

TEST(AuthResultsTest, VersionsCommentsAndFolding) {
  EXPECT_EQ(Verdict("mx.example.com 1; dmarc=pass"), DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("mx.example.com 1 ; dmarc=pass"), DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("mx.example.com;dmarc=pass"), DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("mx.example.com; dmarc/1=pass"), DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("mx.example.com; dmarc / 1 = pass"), DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("mx.example.com; dmarc=pass (p=reject sp=reject dis=none) header.from=example.com"),
            DmarcVerdict::kPass);
  EXPECT_EQ(Verdict("(relay) mx.example.com (Postfix) 1; spf=pass (sender SPF authorized) "
                    "smtp.mailfrom=a@example.com; dmarc (policy) = (checked) fail"),
            DmarcVerdict::kFail);
  EXPECT_EQ(Verdict("mx.example.com;\r\n\tspf=pass smtp.mailfrom=example.com;\r\n\tdmarc=temperror"),
            DmarcVerdict::kTempError);
  // RFC 8601 Appendix B.6 shape, with reasons and several properties.
  EXPECT_EQ(Verdict("mx.example.com; dkim=pass reason=\"good signature\" header.i=@mail-router.example.net; "
                    "dkim=fail reason=\"bad signature\" header.i=@newyork.example.com; dmarc=permerror"),
            DmarcVerdict::kPermError);
}

TEST(AuthResultsTest, SemicolonsInsideQuotesAndCommentsDoNotSplit) {
  EXPECT_EQ(Verdict("mx.example.com; dkim=pass reason=\"x; dmarc=pass\"; dmarc=fail"), DmarcVerdict::kFail);
  EXPECT_EQ(Verdict("mx.example.com; spf=pass (see; dmarc=pass) smtp.mailfrom=a.example; dmarc=fail"),
            DmarcVerdict::kFail);
  EXPECT_EQ(Verdict("mx.example.com; (nested (dmarc=pass;) \\) still) dmarc=temperror"),
            DmarcVerdict::kTempError);
  EXPECT_EQ(Verdict("(mx.example.com; dmarc=pass) evil.example.net; dmarc=pass"), DmarcVerdict::kNone);
}

TEST(AuthResultsTest, BrokenFieldsAreToleratedAndSkipped) {
  for (const char* value :
       {"", " ", "mx.example.com", "mx.example.com;", "mx.example.com; dmarc",
        "mx.example.com; dmarc=", "mx.example.com; =pass", "mx.example.com; dmarc pass",
        "mx.example.com; dmarc/=pass", "mx.example.com; dmarc==pass", "mx.example.com; (dmarc=pass",
        "mx.example.com; \"dmarc=pass", "mx.example.com; dmarc=\"pass\"",
        "mx.example.com (unterminated; dmarc=pass", "mx.example.com; dmarc=pass\\", ")(;=/\"\\"}) {
    EXPECT_EQ(Verdict(value), DmarcVerdict::kNone) << value;
  }
  // A broken resinfo does not hide a good one after it.
  EXPECT_EQ(Verdict("mx.example.com; dmarc=; dmarc=pass"), DmarcVerdict::kPass);
}

TEST(AuthResultsTest, HeaderNameIsCaseInsensitive) {
  Message m;
  m.headers.push_back({"authentication-results", "mx.example.com; dmarc=pass"});
  EXPECT_EQ(TrustedDmarc(m, kTrusted), DmarcVerdict::kPass);
  // ARC copies are a different field and are not read.
  Message arc;
  arc.headers.push_back({"ARC-Authentication-Results", "i=1; mx.example.com; dmarc=pass"});
  EXPECT_EQ(TrustedDmarc(arc, kTrusted), DmarcVerdict::kNone);
}

TEST(AuthResultsTest, HostileFieldsFinish) {
  EXPECT_EQ(Verdict("mx.example.com; " + std::string(1 << 20, '(')), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("mx.example.com" + std::string(1 << 20, ';') + "dmarc=fail"), DmarcVerdict::kFail);
  EXPECT_EQ(Verdict("mx.example.com; " + std::string(1 << 20, '\\')), DmarcVerdict::kNone);
  std::vector<std::string> many(10000, "evil.example.net; dmarc=pass");
  many.push_back("mx.example.com; dmarc=fail");
  EXPECT_EQ(TrustedDmarc(WithResults(many), kTrusted), DmarcVerdict::kFail);
}

}  // namespace
}  // namespace mail
