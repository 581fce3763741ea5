#include "mail/auth_results.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "mail/mime_parser.h"

namespace mail {
namespace {

const std::vector<std::string> kTrusted = {"mx.example.com", "mx2.example.com"};

// A header field as the parser fills it when nothing needed decoding.
HeaderField Field(const std::string& name, const std::string& value) { return {name, value, value}; }

// A message from alice@example.com whose Authentication-Results values are
// these, topmost first.
Message WithResults(const std::vector<std::string>& values) {
  Message m;
  m.headers.push_back(Field("Received", "from relay.example.net by mx.example.com"));
  for (const std::string& v : values) m.headers.push_back(Field("Authentication-Results", v));
  m.headers.push_back(Field("From", "Alice <alice@example.com>"));
  m.from = Address{"Alice", "alice@example.com"};
  m.headers.push_back(Field("Subject", "hello"));
  return m;
}

// The verdict on raw message bytes, through the real parser.
DmarcEvidence OfRaw(const std::string& header) {
  return ReadTrustedDmarc(ParseMessage(header + "\r\nhello\r\n"), kTrusted);
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
  // Only the topmost field is read: below an untrusted one, nothing is proven.
  EXPECT_EQ(
      TrustedDmarc(WithResults({"evil.example.net; dmarc=pass", "mx.example.com; dmarc=fail"}), kTrusted),
      DmarcVerdict::kNone);
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

TEST(AuthResultsTest, TopmostTrustedFieldWithoutDmarcIsNone) {
  // Only the topmost trusted field is read: a lower one may be the sender's
  // forgery (RFC 8601 §5 asks the MTA to remove those, not all do). OpenDKIM
  // and OpenDMARC adding separate fields must run with the DMARC one on top.
  EXPECT_EQ(
      TrustedDmarc(WithResults({"mx.example.com; dkim=pass header.d=example.com header.b=abc",
                                "mx.example.com; dmarc=pass (p=reject dis=none) header.from=example.com",
                                "mx.example.com; spf=fail smtp.mailfrom=example.com"}),
                   kTrusted),
      DmarcVerdict::kNone);
  EXPECT_EQ(TrustedDmarc(WithResults({"mx.example.com; none", "mx.example.com; dmarc=fail"}), kTrusted),
            DmarcVerdict::kNone);
  const DmarcEvidence e = ReadTrustedDmarc(
      WithResults({"mx.example.com; spf=pass smtp.mailfrom=example.com", "mx.example.com; dmarc=pass"}),
      kTrusted);
  EXPECT_EQ(e.verdict, DmarcVerdict::kNone);
  EXPECT_NE(e.why.find("no dmarc result"), std::string::npos) << e.why;
  // The DMARC field on top: it decides.
  EXPECT_EQ(TrustedDmarc(WithResults({"mx.example.com; dmarc=pass header.from=example.com",
                                      "mx.example.com; dkim=pass header.d=example.com"}),
                         kTrusted),
            DmarcVerdict::kPass);
}

// Issue 8's acceptance case, on raw bytes through the parser.
TEST(AuthResultsTest, ForgedTrustedFieldBelowGenuineOneIsNone) {
  const std::string genuine =
      "Authentication-Results: mx.example.com;\r\n\tspf=pass smtp.mailfrom=alice@example.com\r\n";
  const std::string forged = "Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n";
  const std::string rest = "From: alice@example.com\r\nSubject: hi\r\n";
  EXPECT_EQ(OfRaw(genuine + forged + rest).verdict, DmarcVerdict::kNone);
  // The same forged field alone would have been believed: the test can fail.
  EXPECT_EQ(OfRaw(forged + rest).verdict, DmarcVerdict::kPass);
  // Only the topmost field is read, and only when a trusted host wrote it: a field of another host on top
  // proves nothing, and the trusted-looking one below it is never read.
  const DmarcEvidence relayed = OfRaw("Authentication-Results: relay.example.org; dmarc=pass\r\n" + forged + rest);
  EXPECT_EQ(relayed.verdict, DmarcVerdict::kNone);
  EXPECT_NE(relayed.why.find("not a trusted authserv-id"), std::string::npos) << relayed.why;
}

TEST(AuthResultsTest, EncodedWordsInAGenuineFieldAreNotSyntax) {
  const std::string rest = "From: alice@example.com\r\nSubject: hi\r\n";
  // A comment or reason the sender controls (here as if copied from its
  // HELO) that decodes to "; dmarc=pass" must stay inside the comment.
  for (const std::string& value :
       {std::string("mx.example.com; spf=pass =?utf-8?q?=3B_dmarc=3Dpass?="),
        std::string("mx.example.com; spf=pass (helo =?utf-8?q?x=29=3B_dmarc=3Dpass_=28?=) smtp.helo=x"),
        std::string("mx.example.com; spf=pass reason=\"=?utf-8?q?=22=3B_dmarc=3Dpass=3B?=\""),
        std::string("mx.example.com; spf=pass =?utf-8?b?OyBkbWFyYz1wYXNz?="),
        std::string("=?utf-8?q?mx.example.com=3B_dmarc=3Dpass?=")}) {
    const Message m = ParseMessage("Authentication-Results: " + value + "\r\n" + rest + "\r\nhello\r\n");
    EXPECT_EQ(TrustedDmarc(m, kTrusted), DmarcVerdict::kNone) << value;
    // The decoded value does say "dmarc=pass": reading it would be fooled.
    const std::string* decoded = m.Header("Authentication-Results");
    ASSERT_NE(decoded, nullptr);
    EXPECT_NE(decoded->find("dmarc=pass"), std::string::npos) << *decoded;
  }
  // Folding is undone in the raw value.
  EXPECT_EQ(
      OfRaw("Authentication-Results: mx.example.com;\r\n  dmarc=pass\r\n  header.from=example.com\r\n" + rest)
          .verdict,
      DmarcVerdict::kPass);
}

TEST(AuthResultsTest, FromMustBeOneAddress) {
  const std::string ar = "Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n";
  EXPECT_EQ(OfRaw(ar + "From: alice@example.com\r\n").verdict, DmarcVerdict::kPass);
  // Two From fields: which one did DMARC check? Neither is proven.
  DmarcEvidence e = OfRaw(ar + "From: alice@example.com\r\nFrom: bob@example.com\r\n");
  EXPECT_EQ(e.verdict, DmarcVerdict::kNone);
  EXPECT_NE(e.why.find("2 From fields"), std::string::npos) << e.why;
  EXPECT_EQ(OfRaw(ar + "From: mallory@evil.test\r\nfrom: alice@example.com\r\n").verdict,
            DmarcVerdict::kNone);
  // Two addresses in one field.
  e = OfRaw(ar + "From: alice@example.com, mallory@evil.test\r\n");
  EXPECT_EQ(e.verdict, DmarcVerdict::kNone);
  EXPECT_NE(e.why.find("2 addresses"), std::string::npos) << e.why;
  EXPECT_EQ(OfRaw(ar + "From: team: alice@example.com, bob@example.com;\r\n").verdict, DmarcVerdict::kNone);
  // A display name that decodes to a comma does not add an address, nor hide one.
  EXPECT_EQ(OfRaw(ar + "From: =?utf-8?q?Smith=2C_Alice?= <alice@example.com>\r\n").verdict,
            DmarcVerdict::kPass);
  // No From, no address, no domain.
  EXPECT_EQ(OfRaw(ar + "Subject: x\r\n").verdict, DmarcVerdict::kNone);
  EXPECT_EQ(OfRaw(ar + "From: undisclosed-recipients:;\r\n").verdict, DmarcVerdict::kNone);
  EXPECT_EQ(OfRaw(ar + "From: alice\r\n").verdict, DmarcVerdict::kNone);
  // A fail is not kept either when From does not qualify: it is about another message.
  EXPECT_EQ(
      OfRaw("Authentication-Results: mx.example.com; dmarc=fail\r\nFrom: a@example.com, b@example.com\r\n")
          .verdict,
      DmarcVerdict::kNone);
}

TEST(AuthResultsTest, HeaderFromMustBeTheFromDomain) {
  const std::string from = "From: Alice <alice@Example.COM>\r\n";
  EXPECT_EQ(
      OfRaw("Authentication-Results: mx.example.com; dmarc=pass header.from=example.com\r\n" + from).verdict,
      DmarcVerdict::kPass);
  EXPECT_EQ(
      OfRaw("Authentication-Results: mx.example.com; dmarc=pass header.from=EXAMPLE.com\r\n" + from).verdict,
      DmarcVerdict::kPass);
  EXPECT_EQ(
      OfRaw("Authentication-Results: mx.example.com; dmarc=pass header.from=alice@example.com\r\n" + from)
          .verdict,
      DmarcVerdict::kPass);
  const DmarcEvidence e =
      OfRaw("Authentication-Results: mx.example.com; dmarc=pass header.from=evil.test\r\n" + from);
  EXPECT_EQ(e.verdict, DmarcVerdict::kNone);
  EXPECT_NE(e.why.find("header.from=evil.test"), std::string::npos) << e.why;
  // A parent or child domain is not the same domain.
  EXPECT_EQ(
      OfRaw("Authentication-Results: mx.example.com; dmarc=pass header.from=mail.example.com\r\n" + from)
          .verdict,
      DmarcVerdict::kNone);
  EXPECT_EQ(OfRaw("Authentication-Results: mx.example.com; dmarc=pass header.from=com\r\n" + from).verdict,
            DmarcVerdict::kNone);
  // Another method's header.from does not count; none at all is fine.
  EXPECT_EQ(
      OfRaw("Authentication-Results: mx.example.com; dkim=pass header.from=evil.test; dmarc=pass\r\n" + from)
          .verdict,
      DmarcVerdict::kPass);
}

TEST(AuthResultsTest, EvidenceSaysWhere) {
  const DmarcEvidence e = ReadTrustedDmarc(WithResults({"mx.example.com; dmarc=pass"}), kTrusted);
  EXPECT_EQ(e.verdict, DmarcVerdict::kPass);
  EXPECT_EQ(e.why, "dmarc=pass from mx.example.com");
  EXPECT_EQ(ReadTrustedDmarc(WithResults({}), kTrusted).why, "no trusted Authentication-Results field");
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
  EXPECT_EQ(OfRaw("authentication-results: mx.example.com; dmarc=pass\r\nFrom: a@example.com\r\n").verdict,
            DmarcVerdict::kPass);
  // ARC copies are a different field and are not read.
  EXPECT_EQ(
      OfRaw("ARC-Authentication-Results: i=1; mx.example.com; dmarc=pass\r\nFrom: a@example.com\r\n").verdict,
      DmarcVerdict::kNone);
}

TEST(AuthResultsTest, HostileFieldsFinish) {
  EXPECT_EQ(Verdict("mx.example.com; " + std::string(1 << 20, '(')), DmarcVerdict::kNone);
  EXPECT_EQ(Verdict("mx.example.com" + std::string(1 << 20, ';') + "dmarc=fail"), DmarcVerdict::kFail);
  EXPECT_EQ(Verdict("mx.example.com; " + std::string(1 << 20, '\\')), DmarcVerdict::kNone);
  // Only the topmost of many fields is read (the rest could be the sender's).
  std::vector<std::string> many(10000, "evil.example.net; dmarc=pass");
  many.insert(many.begin(), "mx.example.com; dmarc=fail");
  EXPECT_EQ(TrustedDmarc(WithResults(many), kTrusted), DmarcVerdict::kFail);
}

}  // namespace
}  // namespace mail
