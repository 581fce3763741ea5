#include "mail/mime_parser.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "mail/charset.h"
#include "mail/mime_parser_codec.h"
#include "mail/mime_parser_fields.h"

namespace mail {
namespace {

using namespace std::string_literals;

// A one-part text message with `headers` (each ending in "\n") and `body`.
std::string TextMail(std::string_view headers, std::string_view body) {
  return "From: a@example.com\nSubject: t\n" + std::string(headers) + "\n" + std::string(body);
}

std::string BodyIn(std::string_view charset, std::string_view bytes) {
  return ParseMessage(TextMail("Content-Type: text/plain; charset=" + std::string(charset) + "\n", bytes))
      .text_body;
}

bool ValidUtf8WithoutNul(std::string_view s) {
  return IsValidUtf8(s) && s.find('\0') == std::string_view::npos;
}

void ExpectClean(const Message& m) {
  EXPECT_TRUE(ValidUtf8WithoutNul(m.subject));
  EXPECT_TRUE(ValidUtf8WithoutNul(m.text_body));
  EXPECT_TRUE(ValidUtf8WithoutNul(m.html_body));
  for (const HeaderField& h : m.headers) {
    EXPECT_TRUE(ValidUtf8WithoutNul(h.value)) << h.name;
    EXPECT_TRUE(ValidUtf8WithoutNul(h.raw_value)) << h.name;
  }
  for (const MimePart& p : m.parts) {
    if (p.kind == MimePart::Kind::kText || p.kind == MimePart::Kind::kHtml) {
      EXPECT_TRUE(ValidUtf8WithoutNul(p.body));
    }
    EXPECT_TRUE(ValidUtf8WithoutNul(p.filename));
  }
}

// --- charsets ---

TEST(MimeParserTest, DecodesEachLegacyCharset) {
  EXPECT_EQ(BodyIn("windows-1252", "Caf\xE9 \x96 \x93quoted\x94 \x80"), "Café – “quoted” €");
  EXPECT_EQ(BodyIn("iso-8859-1", "Caf\xE9"), "Café");
  EXPECT_EQ(BodyIn("ISO-8859-2", "Za\xBF\xF3\xB3\xE6 g\xEA\xB6l\xB1 ja\xBC\xF1"), "Zażółć gęślą jaźń");
  EXPECT_EQ(BodyIn("iso-8859-15", "Prix: 5 \xA4"), "Prix: 5 €");
  EXPECT_EQ(BodyIn("iso-2022-jp", "\x1B$B$3$s$K$A$O!\x22@$3&\x1B(B"), "こんにちは、世界");
  EXPECT_EQ(BodyIn("big5", "\xA4\xA4\xA4\xE5\xB4\xFA\xB8\xD5"), "中文測試");
  EXPECT_EQ(BodyIn("Shift_JIS",
                   "\x93\xFA\x96{\x8C\xEA\x83"
                   "e\x83L\x83X\x83g"),
            "日本語テキスト");
  EXPECT_EQ(BodyIn("gb2312", "\xBC\xF2\xCC\xE5\xD6\xD0\xCE\xC4"), "简体中文");
  EXPECT_EQ(BodyIn("\"ks_c_5601-1987\"", "\xC7\xD1\xB1\xB9\xBE\xEE"), "한국어");
  EXPECT_EQ(BodyIn("koi8-r", "\xF0\xD2\xC9\xD7\xC5\xD4"), "Привет");
  EXPECT_EQ(BodyIn("utf-16le",
                   "G\x00r\x00\xFC\x00\xDF\x00"
                   "e\x00"s),
            "Grüße");
}

TEST(MimeParserTest, UndeclaredCharsetKeepsUtf8AndFallsBackToWindows1252) {
  EXPECT_EQ(ParseMessage(TextMail("", "Grüße\n")).text_body, "Grüße\n");
  EXPECT_EQ(ParseMessage(TextMail("",
                                  "Gr\xFC\xDF"
                                  "e\n"))
                .text_body,
            "Grüße\n");
  // Undeclared ISO-2022-JP is recognised by its escape sequences.
  EXPECT_EQ(ParseMessage(TextMail("", "\x1B$B$3$s$K$A$O\x1B(B")).text_body, "こんにちは");
  // A declared US-ASCII that is really UTF-8 (a common mislabel) stays UTF-8.
  EXPECT_EQ(BodyIn("us-ascii", "na\xC3\xAFve"), "naïve");
}

TEST(MimeParserTest, MislabelledMultiByteCharsetsAreRecognised) {
  // Japanese carriers send EUC-JP labelled ISO-2022-JP.
  const Message m = ParseMessage(TextMail("Content-Type: text/plain; charset=ISO-2022-JP\n",
                                          "\xC6\xFC\xCB\xDC\xB8\xEC\xA4\xC7\xA4\xB9"));
  EXPECT_EQ(m.text_body, "日本語です");
  EXPECT_FALSE(m.warnings.empty());
  // UTF-8 labelled ISO-2022-JP (which has no 8-bit bytes at all).
  EXPECT_EQ(BodyIn("iso-2022-jp",
                   "Gr\xC3\xBC\xC3\x9F"
                   "e"),
            "Grüße");
}

TEST(MimeParserTest, UnknownCharsetIsReadAsUndeclaredWithAWarning) {
  const Message m =
      ParseMessage(TextMail("Content-Type: text/plain; charset=x-no-such-charset\n", "caf\xE9"));
  EXPECT_EQ(m.text_body, "café");
  EXPECT_FALSE(m.warnings.empty());
}

TEST(MimeParserTest, InvalidUtf8BecomesReplacementCharacters) {
  const Message m =
      ParseMessage(TextMail("Content-Type: text/plain; charset=utf-8\n", "ok \xFF\xFE \xC3 end"));
  EXPECT_EQ(m.text_body, "ok \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD end");
  EXPECT_TRUE(m.parts[0].encoding_problem);
  ExpectClean(m);
}

TEST(MimeParserTest, RawEightBitHeaders) {
  const Message utf8 = ParseMessage("From: Jürgen <j@example.com>\nSubject: Grüße\n\nx");
  EXPECT_EQ(utf8.subject, "Grüße");
  EXPECT_EQ(utf8.from->name, "Jürgen");
  const Message latin1 = ParseMessage(
      "From: J\xFCrgen <j@example.com>\nSubject: Gr\xFC\xDF"
      "e\n\nx");
  EXPECT_EQ(latin1.subject, "Grüße");
  EXPECT_EQ(latin1.from->name, "Jürgen");
  ExpectClean(latin1);
}

TEST(MimeParserTest, EncodedWordsInSubjectNamesAndFilenames) {
  const Message m = ParseMessage(
      "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.com>\n"
      "To: \"=?utf-8?B?SsO8cmdlbg==?=\" <j@example.com>, =?utf-8?q?Ren=C3=A9e?= <r@example.com>\n"
      "Subject: =?utf-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?= und\n =?iso-8859-1?q?mehr_=FC?=\n"
      "Content-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nhi\n"
      "--b\nContent-Type: application/pdf; name=\"=?utf-8?Q?Bericht_f=C3=BCr_M=C3=A4rz?=.pdf\"\n"
      "Content-Transfer-Encoding: base64\n\nJVBERi0=\n--b--\n");
  EXPECT_EQ(m.from->name, "André Pirard");
  ASSERT_EQ(m.to.size(), 2u);
  EXPECT_EQ(m.to[0].name, "Jürgen");
  EXPECT_EQ(m.to[1].name, "Renée");
  EXPECT_EQ(m.subject, "Grüße aus Köln und mehr ü");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].filename, "Bericht für März.pdf");
  EXPECT_EQ(m.attachments[0].content_type, "application/pdf");
  EXPECT_EQ(m.parts[static_cast<size_t>(m.attachments[0].part)].body, "%PDF-");
}

TEST(MimeParserTest, Rfc2231FilenamesWithCharsetAndContinuations) {
  const Message m = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nhi\n"
      "--b\nContent-Type: application/octet-stream\n"
      "Content-Disposition: attachment;\n filename*0*=iso-8859-1'es'%D1and%FA;\n filename*1*=%20r%E1pido;\n"
      " filename*2=\".txt\"\n\nx\n"
      "--b\nContent-Type: application/octet-stream\n"
      "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates.csv\n\ny\n"
      "--b\nContent-Type: application/octet-stream; name*=utf-8''caf%C3%A9.txt\n\nz\n--b--\n");
  ASSERT_EQ(m.attachments.size(), 3u);
  EXPECT_EQ(m.attachments[0].filename, "Ñandú rápido.txt");
  EXPECT_EQ(m.attachments[1].filename, "€ rates.csv");
  EXPECT_EQ(m.attachments[2].filename, "café.txt");
}

TEST(MimeParserTest, NulBytesAreRemovedFromTextAndHeadersButNotFromBinaryParts) {
  const Message m = ParseMessage(
      "From: a@example.com\nSubject: nul\0here\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nte\0xt\n"
      "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAEC\n--b--\n"s);
  EXPECT_EQ(m.subject, "nulhere");
  EXPECT_EQ(m.text_body, "text");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.parts[static_cast<size_t>(m.attachments[0].part)].body, "\x00\x01\x02"s);
  ExpectClean(m);
}

TEST(MimeParserTest, EightBitGarbageEverywhereStillGivesCleanText) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) % 256);
  const Message m =
      ParseMessage("From: " + garbage + "\nSubject: " + garbage + "\nContent-Type: text/html\n\n" + garbage);
  ExpectClean(m);
  EXPECT_TRUE(ValidUtf8WithoutNul(m.from ? m.from->name : ""));
}

// --- structure and body choice ---

TEST(MimeParserTest, AlternativeGivesTextBodyAndHtmlBody) {
  const Message m = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/alternative; boundary=\"=_x\"\n\n"
      "preamble\n--=_x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
      "quoted-printable\n\n"
      "Gr=C3=BC=C3=9Fe,\nsoft=\n break\n"
      "--=_x\nContent-Type: text/html; charset=utf-8\n\n<p>Gr&uuml;&szlig;e</p>\n--=_x--\nepilogue\n");
  EXPECT_EQ(m.text_body, "Grüße,\nsoft break");
  EXPECT_EQ(m.html_body, "<p>Gr&uuml;&szlig;e</p>");
  EXPECT_FALSE(m.text_from_html);
  EXPECT_EQ(m.text_body_parts, std::vector<int>({1}));
  EXPECT_EQ(m.html_body_parts, std::vector<int>({2}));
  EXPECT_TRUE(m.attachments.empty());
  EXPECT_TRUE(m.warnings.empty()) << m.warnings[0];
}

TEST(MimeParserTest, HtmlOnlyIsConvertedToText) {
  const Message m = ParseMessage(TextMail("Content-Type: text/html; charset=utf-8\n",
                                          "<html><body><p>Hello <b>there</b></p><p>Bye</p></body></html>"));
  EXPECT_TRUE(m.text_from_html);
  EXPECT_EQ(m.text_body, "Hello there\n\nBye");
  EXPECT_EQ(m.text_body_parts, std::vector<int>({0}));
  EXPECT_EQ(m.html_body_parts, std::vector<int>({0}));
}

TEST(MimeParserTest, RelatedInlineImageAndMixedAttachment) {
  const Message m = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/mixed; boundary=m\n\n"
      "--m\nContent-Type: multipart/related; boundary=r\n\n"
      "--r\nContent-Type: text/html\n\n<p>see <img src=\"cid:logo@x\"></p>\n"
      "--r\nContent-Type: image/png\nContent-ID: <logo@x>\nContent-Transfer-Encoding: "
      "base64\n\naGVsbG8=\n--r--\n"
      "--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt\n\nnotes\n--m--\n");
  EXPECT_EQ(m.text_body_parts, std::vector<int>({2}));
  EXPECT_EQ(m.html_body_parts, std::vector<int>({2}));
  ASSERT_EQ(m.attachments.size(), 2u);
  EXPECT_EQ(m.attachments[0].content_id, "logo@x");
  EXPECT_EQ(m.attachments[0].size, 5u);
  EXPECT_EQ(m.attachments[0].sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_TRUE(m.attachments[0].is_inline);
  EXPECT_EQ(m.attachments[1].filename, "notes.txt");
  EXPECT_FALSE(m.attachments[1].is_inline);
}

TEST(MimeParserTest, InlinePhotoInMixedIsAlsoAnAttachment) {
  // RFC 8621 would show it inline only; the forum shows text, so it must be kept as an attachment.
  const Message m = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/mixed; boundary=m\n\n"
      "--m\nContent-Type: text/plain\n\nLook:\n"
      "--m\nContent-Type: image/jpeg\nContent-Disposition: inline; filename=IMG_1.jpg\n\nJPEG\n"
      "--m\nContent-Type: text/plain\n\nNice?\n--m--\n");
  EXPECT_EQ(m.text_body_parts, std::vector<int>({1, 2, 3}));
  EXPECT_EQ(m.text_body, "Look:\nNice?");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].filename, "IMG_1.jpg");
  EXPECT_TRUE(m.attachments[0].is_inline);
}

TEST(MimeParserTest, NestedMessageIsAnAttachmentWithItsOwnTree) {
  const std::string inner =
      "From: inner@example.com\nSubject: inner\nContent-Type: multipart/alternative; boundary=i\n\n"
      "--i\nContent-Type: text/plain\n\ninner text\n--i\nContent-Type: text/html\n\n<p>inner</p>\n--i--\n";
  const Message m = ParseMessage(
      "From: a@example.com\nSubject: outer\nContent-Type: multipart/mixed; boundary=o\n\n"
      "--o\nContent-Type: text/plain\n\nsee attached\n"
      "--o\nContent-Type: message/rfc822\nContent-Disposition: attachment; filename=fwd.eml\n\n" +
      inner + "--o--\n");
  EXPECT_EQ(m.subject, "outer");
  EXPECT_EQ(m.text_body, "see attached");
  ASSERT_EQ(m.parts.size(), 6u);
  EXPECT_EQ(m.parts[2].kind, MimePart::Kind::kMessage);
  EXPECT_EQ(m.parts[2].children, std::vector<int>({3}));
  EXPECT_EQ(m.parts[3].kind, MimePart::Kind::kMultipart);
  EXPECT_EQ(m.parts[4].body, "inner text");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.attachments[0].part, 2);
  EXPECT_EQ(m.attachments[0].filename, "fwd.eml");
  EXPECT_EQ(m.parts[2].body, inner.substr(0, inner.size() - 1));  // the .eml as attached
}

TEST(MimeParserTest, Base64EncodedNestedMessageAndBrokenNestedMessage) {
  const Message m = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/mixed; boundary=o\n\n"
      "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
      "U3ViamVjdDogaW5uZXIKCmJvZHkK\n"  // "Subject: inner\n\nbody\n"
      "--o\nContent-Type: message/rfc822\n\nthis is not a message\n--o--\n");
  ASSERT_GE(m.parts.size(), 4u);
  EXPECT_EQ(m.parts[1].kind, MimePart::Kind::kMessage);
  EXPECT_EQ(m.parts[2].body, "body\n");
  EXPECT_EQ(m.parts[3].kind, MimePart::Kind::kText);
  EXPECT_TRUE(m.parts[3].encoding_problem);
  EXPECT_EQ(m.attachments.size(), 2u);
}

TEST(MimeParserTest, UndecodableBase64IsKeptAsTextAttachment) {
  const Message m = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nbody\n"
      "--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n?not base64!\n--b--\n");
  EXPECT_EQ(m.text_body, "body");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_EQ(m.parts[2].body, "?not base64!");
  EXPECT_TRUE(m.parts[2].encoding_problem);
  EXPECT_FALSE(m.warnings.empty());
}

TEST(MimeParserTest, MissingCloseDelimiterGivesAWarning) {
  const Message m = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nfirst\n--b\nContent-Type: application/pdf\n\n%PDF-1.4 cut");
  EXPECT_EQ(m.text_body, "first");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_TRUE(m.parts[2].encoding_problem);
  EXPECT_FALSE(m.warnings.empty());
}

TEST(MimeParserTest, FormatFlowedIsUndoneInTextBody) {
  const Message m = ParseMessage(TextMail("Content-Type: text/plain; format=flowed; delsp=no\n",
                                          "This is a long \nparagraph.\n\n> quoted \n> more\n-- \nsig\n"));
  EXPECT_EQ(m.text_body, "This is a long paragraph.\n\n> quoted more\n-- \nsig\n");
}

TEST(MimeParserTest, BrokenHeaderFolding) {
  // A parameter on a line of its own without indentation (seen from Apache James and Exchange).
  const Message folded = ParseMessage(
      "From: a@example.com\nContent-Type: multipart/mixed;\nboundary=\"b\"\n\n--b\nContent-Type: "
      "text/plain\n\n"
      "hello\n--b--\n");
  EXPECT_EQ(folded.text_body, "hello");
  EXPECT_FALSE(folded.warnings.empty());
  // A body written without the blank line after the header stays the body.
  const Message unseparated = ParseMessage("From: a@example.com\nSubject: hi\nHello there,\n\nsee you\n");
  EXPECT_EQ(unseparated.subject, "hi");
  EXPECT_EQ(unseparated.text_body, "Hello there,\n\nsee you\n");
}

TEST(MimeParserTest, CrlfAndLfGiveTheSameText) {
  const std::string lf = TextMail("Content-Type: text/plain\n", "line one\nline two\n");
  std::string crlf;
  for (char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  EXPECT_EQ(ParseMessage(lf).text_body, ParseMessage(crlf).text_body);
  EXPECT_EQ(ParseMessage(crlf).subject, "t");
}

// --- header fields ---

TEST(MimeParserTest, ThreadingIdsAndPeople) {
  const Message m = ParseMessage(
      "Return-Path: <>\nDelivered-To: help@example.com\nX-Original-To: help+tok@example.com\n"
      "Message-ID: <abc@host>\nIn-Reply-To: <p1@host> (Joe's message of Monday)\n"
      "References: <p0@host>\n <p1@host>\nFrom: \"Doe, Jane\" <jane@example.com>\nSender: list@example.com\n"
      "Reply-To: Team: a@example.com, b@example.com;\nCc: c@example.com (Carl)\n"
      "Date: Tue, 1 Jul 2003 10:52:37 +0200\n\nbody");
  EXPECT_EQ(m.message_id, "abc@host");
  EXPECT_EQ(m.in_reply_to, std::vector<std::string>({"p1@host"}));
  EXPECT_EQ(m.references, std::vector<std::string>({"p0@host", "p1@host"}));
  EXPECT_EQ(m.from->name, "Doe, Jane");
  EXPECT_EQ(m.from->address, "jane@example.com");
  EXPECT_EQ(m.sender->address, "list@example.com");
  ASSERT_EQ(m.reply_to.size(), 2u);
  EXPECT_EQ(m.reply_to[1].address, "b@example.com");
  ASSERT_EQ(m.cc.size(), 1u);
  EXPECT_EQ(m.cc[0].name, "Carl");
  EXPECT_EQ(m.delivered_to, std::vector<std::string>({"help@example.com"}));
  EXPECT_EQ(m.x_original_to, std::vector<std::string>({"help+tok@example.com"}));
  ASSERT_TRUE(m.return_path.has_value());
  EXPECT_EQ(*m.return_path, "");
  ASSERT_TRUE(m.date.has_value());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(m.date->time_since_epoch()).count(), 1057049557);
  ASSERT_NE(m.Header("in-reply-to"), nullptr);
  EXPECT_EQ(*m.Header("in-reply-to"), "<p1@host> (Joe's message of Monday)");
}

TEST(MimeParserTest, TolerantDates) {
  using internal::ParseDate;
  auto seconds = [](std::string_view v) -> long long {
    auto t = ParseDate(v);
    return t ? std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() : -1;
  };
  EXPECT_EQ(seconds("Tue, 1 Jul 2003 10:52:37 +0200"), 1057049557);
  EXPECT_EQ(seconds("1 Jul 2003 (comment) 10:52:37 +0200"), 1057049557);
  EXPECT_EQ(seconds("Tue, 01 Jul 03 08:52:37 GMT"), 1057049557);
  EXPECT_EQ(seconds("Tue, 1 Jul 2003 03:52:37 EST5EDT"), 1057049557);
  EXPECT_EQ(seconds("Tue Jul  1 08:52:37 2003"), 1057049557);
  EXPECT_EQ(seconds("2003-07-01T10:52:37+02:00"), 1057049557);
  EXPECT_EQ(seconds("by mx; Tue, 1 Jul 2003 08:52:37 +0000 (UTC)"), 1057049557);
  EXPECT_EQ(seconds("13 Xyz 2021 09:55:06 +0200"), -1);
  EXPECT_EQ(seconds("31 Feb 2021 09:55:06 +0200"), -1);
  EXPECT_EQ(seconds("yesterday"), -1);
  EXPECT_EQ(seconds("Fri, 1 Jan 2612 00:00:00 +0000"), -1);  // beyond system_clock's range
}

TEST(MimeParserTest, HeaderValuesAreDecodedAndUnfolded) {
  const Message m = ParseMessage("Subject: =?utf-8?q?caf=C3=A9?=\n\tand more\nX-Thing:  spaced  \n\nb");
  ASSERT_EQ(m.headers.size(), 2u);
  EXPECT_EQ(m.headers[0].name, "Subject");
  EXPECT_EQ(m.headers[0].value, "café and more");
  EXPECT_EQ(*m.Header("x-thing"), "spaced");
  // The raw value is unfolded and trimmed but keeps encoded words as written.
  EXPECT_EQ(m.headers[0].raw_value, "=?utf-8?q?caf=C3=A9?=\tand more");
  EXPECT_EQ(m.headers[1].raw_value, "spaced");
  const Message latin1 = ParseMessage("X-Name: caf\xe9 =?utf-8?q?x?=\r\n\r\nb");
  EXPECT_EQ(latin1.headers[0].raw_value, "café =?utf-8?q?x?=");
}

// --- reports ---

TEST(MimeParserTest, DeliveryStatusReport) {
  const Message m = ParseMessage(
      "From: MAILER-DAEMON@example.com\nContent-Type: multipart/report; report-type=Delivery-Status; "
      "boundary=r\n\n"
      "--r\nContent-Type: text/plain\n\nCould not deliver.\n"
      "--r\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
      "Final-Recipient: rfc822; x@example.org\nAction: failed\nStatus: 5.1.1\n"
      "--r\nContent-Type: message/rfc822\n\nMessage-ID: <orig@example.com>\nFrom: "
      "me@example.com\n\nhello\n--r--\n");
  EXPECT_EQ(m.report_type, "delivery-status");
  EXPECT_NE(m.delivery_status.find("Status: 5.1.1"), std::string::npos);
  EXPECT_EQ(m.returned_headers, "Message-ID: <orig@example.com>\nFrom: me@example.com\n");
  EXPECT_EQ(m.text_body, "Could not deliver.");
}

TEST(MimeParserTest, FeedbackReportWithReturnedHeadersOnly) {
  const Message m = ParseMessage(
      "From: abuse@example.net\r\nContent-Type: multipart/report; report-type=feedback-report; "
      "boundary=f\r\n\r\n"
      "--f\r\nContent-Type: text/plain\r\n\r\nThis is an abuse report.\r\n"
      "--f\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nVersion: 1\r\n"
      "--f\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: me@example.com\r\nSubject: hi\r\n--f--\r\n");
  EXPECT_EQ(m.report_type, "feedback-report");
  EXPECT_EQ(m.feedback_report, "Feedback-Type: abuse\nVersion: 1");
  EXPECT_EQ(m.returned_headers, "From: me@example.com\nSubject: hi");
}

// --- limits ---

// `depth` nested multiparts around a text part. The boundaries ("b7x") are no
// prefixes of one another: delimiters match as prefixes (see mime_parser.h).
std::string Nested(int depth) {
  std::string s = "From: a@example.com\n";
  for (int i = 0; i < depth; ++i) {
    const std::string b = "b" + std::to_string(i) + "x";
    s += "Content-Type: multipart/mixed; boundary=" + b + "\n\n--" + b + "\n";
  }
  s += "Content-Type: text/plain\n\ndeep\n";
  for (int i = depth - 1; i >= 0; --i) s += "--b" + std::to_string(i) + "x--\n";
  return s;
}

TEST(MimeParserTest, FortyDeepNestingIsCutAtTheDepthLimit) {
  const Message m = ParseMessage(Nested(40));
  EXPECT_TRUE(m.truncated);
  EXPECT_FALSE(m.warnings.empty());
  EXPECT_EQ(m.parts.size(), 33u);  // the root and 32 levels; the 33rd container is kept opaque
  EXPECT_EQ(m.parts.back().kind, MimePart::Kind::kBinary);
  EXPECT_EQ(m.attachments.size(), 1u);
  ExpectClean(m);
  // Within the limit nothing is cut.
  const Message ok = ParseMessage(Nested(20));
  EXPECT_FALSE(ok.truncated);
  EXPECT_EQ(ok.text_body, "deep");
}

TEST(MimeParserTest, HostileNestingDoesNotCrash) {
  // 100,000 levels (5 MB) overflow the stack of a recursive parser (vmime's does at 10,000).
  const Message m = ParseMessage(Nested(100000));
  EXPECT_TRUE(m.truncated);
  EXPECT_LE(m.parts.size(), 33u);
}

TEST(MimeParserTest, TenThousandPartsAreCutAtThePartLimit) {
  std::string s = "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 10000; ++i) s += "--b\nContent-Type: text/plain\n\npart " + std::to_string(i) + "\n";
  s += "--b--\n";
  const Message m = ParseMessage(s);
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.parts.size(), 500u);
  EXPECT_EQ(m.parts[1].body, "part 0");
  EXPECT_EQ(m.text_body_parts.size(), 499u);
  ParseLimits few;
  few.max_parts = 3;
  EXPECT_EQ(ParseMessage(s, few).parts.size(), 3u);
}

TEST(MimeParserTest, HugeMessageIsReadUpToTheSizeLimit) {
  std::string s =
      "From: a@example.com\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain\n\nhello\n"
      "--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n";
  const std::string line(76, 'A');
  while (s.size() < (26u << 20)) s += line + "\n";
  s += "--b--\n";
  const Message m = ParseMessage(s);
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.raw_size, s.size());
  EXPECT_EQ(m.text_body, "hello");
  ASSERT_EQ(m.attachments.size(), 1u);
  EXPECT_LE(m.attachments[0].size, (25u << 20) / 4 * 3);
  ParseLimits small;
  small.max_size = 1000;
  const Message cut = ParseMessage(s, small);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.text_body, "hello");
}

// --- not mail ---

TEST(MimeParserTest, LooksLikeEmail) {
  EXPECT_TRUE(LooksLikeEmail("From: a@example.com\n\nhi"));
  EXPECT_TRUE(LooksLikeEmail("From a@example.com Mon Jan  1 00:00:00 2024\nSubject: x\n\nhi"));
  EXPECT_TRUE(LooksLikeEmail("Received : from x\r\n\r\n"));
  EXPECT_FALSE(LooksLikeEmail(""));
  EXPECT_FALSE(LooksLikeEmail("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n"));
  EXPECT_FALSE(LooksLikeEmail("\x89PNG\r\n\x1A\n\0\0\0\rIHDR"s));
  EXPECT_FALSE(LooksLikeEmail("just some text\nwith: a colon later\n"));
  EXPECT_FALSE(LooksLikeEmail("\nFrom: a@example.com\n"));
}

TEST(MimeParserTest, NotMailStillParsesWithWarnings) {
  const Message m = ParseMessage("%PDF-1.4\n\xFF\xFE binary \0 junk"s);
  EXPECT_FALSE(m.warnings.empty());
  ASSERT_EQ(m.parts.size(), 1u);
  ExpectClean(m);
}

// --- codecs ---

TEST(MimeParserCodecTest, Base64AndQuotedPrintable) {
  bool clean = false;
  EXPECT_EQ(internal::DecodeBase64("aGVs\nbG8g d29y bGQK\r\n", &clean), "hello world\n");
  EXPECT_TRUE(clean);
  EXPECT_EQ(internal::DecodeBase64("aGk=aGk=", &clean), "hihi");  // separately padded chunks
  EXPECT_EQ(internal::DecodeBase64("a?Gk=", &clean), "hi");
  EXPECT_FALSE(clean);
  EXPECT_EQ(internal::DecodeQuotedPrintable("a=3Db=\r\nc =XY=4\nd  \n"), "a=bc =XY=4\nd\n");
}

TEST(MimeParserCodecTest, EncodedWordsSplitInsideACharacter) {
  // "é" (C3 A9) split between two encoded words must survive.
  EXPECT_EQ(internal::DecodeHeaderText("=?utf-8?B?Y8M=?= =?utf-8?B?qQ==?="), "cé");
  EXPECT_EQ(internal::DecodeHeaderText("[SPAM]=?utf-8?q?Hi?="), "[SPAM] Hi");
  EXPECT_EQ(internal::DecodeHeaderText("=?bogus"), "=?bogus");
}

}  // namespace
}  // namespace mail
