// The composer: every kind of outbound mail is composed, then read back with
// vmime (an independent parser) and with our own mail::ParseMessage, and its
// headers, parts and wire form are checked.
#include "mail/composer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>
#include <vmime/addressList.hpp>
#include <vmime/body.hpp>
#include <vmime/bodyPart.hpp>
#include <vmime/charset.hpp>
#include <vmime/contentHandler.hpp>
#include <vmime/header.hpp>
#include <vmime/mailbox.hpp>
#include <vmime/message.hpp>
#include <vmime/parsingContext.hpp>
#include <vmime/text.hpp>
#include <vmime/utility/outputStreamStringAdapter.hpp>

#include "mail/charset.h"
#include "mail/classifier.h"
#include "mail/mime_parser.h"
#include "mail/reply_token.h"

namespace mail {
namespace {

using base::ErrorKind;
using namespace std::chrono_literals;

constexpr char kSubject[] = "Re: Grüße aus Köln — VPN?";
constexpr char kKey[] = "0123456789abcdef0123456789abcdef";

// 2024-03-05 14:07:09 UTC, a Tuesday.
std::chrono::system_clock::time_point TestDate() {
  return std::chrono::sys_days{std::chrono::year{2024} / 3 / 5} + 14h + 7min + 9s;
}

OutboundMail Answer() {
  OutboundMail mail;
  mail.kind = OutboundKind::kAnswer;
  mail.message_id = "post.42.k3j5q@help.example.com";
  mail.from = "Acme Help <help@example.com>";
  mail.reply_to = "help+abcdefghijklmnopqrstuvwxyz@example.com";
  mail.to = "asker@example.org";
  mail.subject = kSubject;
  mail.in_reply_to = "CAFx1=question@mail.example.org";
  mail.references = {"CAFx1=question@mail.example.org", "post.41.zz9@help.example.com"};
  mail.author_name = "Jürgen";
  mail.body_text = "Try restarting the client.\nThen log in again.\n\n  indented line";
  mail.thread_url = "https://help.example.com/t/7";
  mail.list_id = "acme-help.example.com";
  mail.list_archive_url = "https://help.example.com/";
  mail.unsubscribe_url = "https://help.example.com/unsubscribe/abc, mailto:help+unsubscribe@example.com";
  mail.return_path = "bounces+12-abcdefghijklmnop@example.com";
  mail.date = TestDate();
  mail.instance_name = "Acme Help";
  return mail;
}

std::string MustCompose(const OutboundMail& mail) {
  base::Result<std::string> raw = ComposeMessage(mail);
  EXPECT_TRUE(raw.ok()) << (raw.ok() ? "" : raw.error().message);
  return raw.ok() ? *raw : std::string();
}

// The header block, unfolded: every field as "Name: value" with CRLF SP/HT folds removed.
std::vector<std::pair<std::string, std::string>> HeaderFields(const std::string& raw) {
  std::vector<std::pair<std::string, std::string>> fields;
  const std::string block = raw.substr(0, raw.find("\r\n\r\n") + 2);
  size_t begin = 0;
  while (begin < block.size()) {
    size_t end = block.find("\r\n", begin);
    while (end + 2 < block.size() && (block[end + 2] == ' ' || block[end + 2] == '\t')) {
      end = block.find("\r\n", end + 2);
    }
    std::string line = block.substr(begin, end - begin);
    for (size_t fold; (fold = line.find("\r\n")) != std::string::npos;) line.erase(fold, 2);
    const size_t colon = line.find(':');
    fields.emplace_back(line.substr(0, colon), line.substr(line.find_first_not_of(' ', colon + 1)));
    begin = end + 2;
  }
  return fields;
}

// Every value of header `name` (exact spelling), unfolded.
std::vector<std::string> Values(const std::string& raw, const std::string& name) {
  std::vector<std::string> values;
  for (const auto& [field, value] : HeaderFields(raw)) {
    if (field == name) values.push_back(value);
  }
  return values;
}

// The single value of header `name`, or "<absent>" / "<repeated>".
std::string Value(const std::string& raw, const std::string& name) {
  const std::vector<std::string> values = Values(raw, name);
  if (values.empty()) return "<absent>";
  return values.size() == 1 ? values[0] : "<repeated>";
}

// Expects every header of `expected` once with its value ("<absent>": not at all).
void ExpectHeaders(const std::string& raw, const std::vector<std::pair<std::string, std::string>>& expected) {
  for (const auto& [name, value] : expected) EXPECT_EQ(Value(raw, name), value) << name;
}

// The message as vmime reads it.
struct VmimeView {
  explicit VmimeView(const std::string& raw) {
    vmime::parsingContext context;
    message.parse(context, raw);
  }
  std::string Subject() const {
    return message.getHeader()->Subject()->getValue<vmime::text>()->getConvertedText(vmime::charsets::UTF_8);
  }
  // From and Reply-To hold one mailbox; To an address list (of one, here).
  vmime::mailbox Mailbox(const char* field) const {
    const auto value = message.getHeader()->findField(field)->getValue();
    if (const auto list = vmime::dynamicCast<const vmime::addressList>(value)) {
      return *vmime::dynamicCast<const vmime::mailbox>(list->getAddressAt(0));
    }
    return *vmime::dynamicCast<const vmime::mailbox>(value);
  }
  std::string Name(const char* field) const {
    return Mailbox(field).getName().getConvertedText(vmime::charsets::UTF_8);
  }
  std::string Address(const char* field) const { return Mailbox(field).getEmail().toString(); }
  std::string ContentType(size_t part) const {
    return message.getBody()->getPartAt(part)->getBody()->getContentType().generate();
  }
  std::string Decoded(size_t part) const {
    std::string out;
    vmime::utility::outputStreamStringAdapter stream(out);
    message.getBody()->getPartAt(part)->getBody()->getContents()->extract(stream);
    return out;
  }
  vmime::message message;
};

// 7-bit, CRLF only, lines within 998 bytes; header lines within 78 and without trailing spaces.
void ExpectWireClean(const std::string& raw) {
  ASSERT_GE(raw.size(), 2u);
  EXPECT_EQ(raw.substr(raw.size() - 2), "\r\n");
  size_t line_start = 0;
  bool in_header = true;
  for (size_t i = 0; i < raw.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    ASSERT_LT(c, 0x80) << "8-bit byte at " << i;
    ASSERT_NE(c, 0) << "NUL at " << i;
    if (c == '\r') {
      ASSERT_EQ(raw[i + 1], '\n') << "bare CR at " << i;
    }
    if (c == '\n') {
      ASSERT_GT(i, 0u);
      ASSERT_EQ(raw[i - 1], '\r') << "bare LF at " << i;
      const size_t length = i - 1 - line_start;
      EXPECT_LE(length, 998u);
      if (in_header && length > 0) {
        EXPECT_LE(length, 78u) << raw.substr(line_start, length);
        EXPECT_NE(raw[i - 2], ' ') << "trailing space: " << raw.substr(line_start, length);
      }
      if (length == 0) in_header = false;
      line_start = i + 1;
    }
  }
}

TEST(ComposerTest, AnswerHeaders) {
  const std::string raw = MustCompose(Answer());
  ExpectWireClean(raw);
  ExpectHeaders(raw,
                {
                    {"Message-ID", "<post.42.k3j5q@help.example.com>"},
                    {"Date", "Tue, 05 Mar 2024 14:07:09 +0000"},
                    {"To", "<asker@example.org>"},
                    {"Reply-To", "<help+abcdefghijklmnopqrstuvwxyz@example.com>"},
                    {"In-Reply-To", "<CAFx1=question@mail.example.org>"},
                    {"References", "<CAFx1=question@mail.example.org> <post.41.zz9@help.example.com>"},
                    {"Auto-Submitted", "auto-generated"},
                    {"X-Auto-Response-Suppress", "All"},
                    {"Precedence", "list"},
                    {"List-Id", "Acme Help <acme-help.example.com>"},
                    {"List-Archive", "<https://help.example.com/>"},
                    {"List-Unsubscribe",
                     "<https://help.example.com/unsubscribe/abc>, <mailto:help+unsubscribe@example.com>"},
                    {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"},
                    {"MIME-Version", "1.0"},
                    {"Return-Path", "<absent>"},  // the final MTA writes it from the envelope
                    {"Sender", "<absent>"},
                });

  const VmimeView view(raw);
  EXPECT_EQ(view.Subject(), kSubject);
  EXPECT_EQ(view.Name("From"), "Jürgen via Acme Help");
  EXPECT_EQ(view.Address("From"), "help@example.com");
  EXPECT_EQ(view.Address("Reply-To"), "help+abcdefghijklmnopqrstuvwxyz@example.com");
  // The UTF-8 subject goes out as encoded words (never raw 8-bit, TESTENV vmime pitfall 2).
  EXPECT_NE(Value(raw, "Subject").find("=?utf-8?"), std::string::npos);
}

TEST(ComposerTest, AnswerParts) {
  const std::string raw = MustCompose(Answer());
  const VmimeView view(raw);
  const std::string content_type = Value(raw, "Content-Type");
  EXPECT_EQ(content_type.find("multipart/alternative;"), 0u) << content_type;
  EXPECT_NE(content_type.find("boundary=\"=_mf_"), std::string::npos) << content_type;
  ASSERT_EQ(view.message.getBody()->getPartCount(), 2u);
  EXPECT_EQ(view.ContentType(0), "text/plain");
  EXPECT_EQ(view.ContentType(1), "text/html");
  EXPECT_NE(
      raw.find("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"),
      std::string::npos);
  EXPECT_NE(raw.find("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"),
            std::string::npos);
  EXPECT_EQ(view.Decoded(0),
            "Try restarting the client.\r\nThen log in again.\r\n\r\n  indented line\r\n\r\n-- \r\n"
            "Reply to this email to answer.\r\nView the thread: https://help.example.com/t/7\r\n");
  const std::string html = view.Decoded(1);
  EXPECT_NE(
      html.find(
          "<p>Try restarting the client.<br>\r\nThen log in again.<br>\r\n<br>\r\n&nbsp;&nbsp;indented"),
      std::string::npos)
      << html;
  EXPECT_NE(html.find("<a href=\"https://help.example.com/t/7\">View the thread</a>"), std::string::npos)
      << html;
  EXPECT_NE(html.find("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"),
            std::string::npos);
}

TEST(ComposerTest, HtmlPartEscapesThePost) {
  OutboundMail mail = Answer();
  mail.body_text = "<script>alert('x')</script> & \"quoted\" <b>bold</b>";
  const std::string raw = MustCompose(mail);
  const VmimeView view(raw);
  const std::string html = view.Decoded(1);
  EXPECT_EQ(html.find("<script"), std::string::npos) << html;
  EXPECT_EQ(html.find("<b>"), std::string::npos) << html;
  EXPECT_NE(
      html.find(
          "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot; &lt;b&gt;bold&lt;/b&gt;"),
      std::string::npos)
      << html;
  // The text part carries the post as written.
  EXPECT_EQ(view.Decoded(0).find(mail.body_text), 0u);
}

TEST(ComposerTest, NotificationHeaders) {
  OutboundMail mail = Answer();
  mail.kind = OutboundKind::kNotification;
  mail.to = "Watcher One <watcher@example.net>";
  mail.in_reply_to = "post.41.zz9@help.example.com";
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  ExpectHeaders(raw, {
                         {"Auto-Submitted", "auto-generated"},
                         {"Precedence", "list"},
                         {"To", "Watcher One <watcher@example.net>"},
                         {"In-Reply-To", "<post.41.zz9@help.example.com>"},
                         {"References", "<CAFx1=question@mail.example.org> <post.41.zz9@help.example.com>"},
                     });
  const VmimeView view(raw);
  EXPECT_EQ(view.Name("From"), "Jürgen via Acme Help");
  EXPECT_EQ(view.Subject(), kSubject);
  EXPECT_NE(view.Decoded(0).find("Reply to this email to answer."), std::string::npos);
}

TEST(ComposerTest, AcknowledgementHeadersAndText) {
  OutboundMail mail = Answer();
  mail.kind = OutboundKind::kAcknowledgement;
  mail.subject = "Received: Grüße aus Köln — VPN?";
  mail.references = {};
  mail.body_text = "the question itself is not repeated";
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  ExpectHeaders(raw, {
                         {"Auto-Submitted", "auto-replied"},
                         {"Precedence", "bulk"},
                         {"X-Auto-Response-Suppress", "All"},
                         {"In-Reply-To", "<CAFx1=question@mail.example.org>"},
                         {"References", "<CAFx1=question@mail.example.org>"},  // in_reply_to, appended
                     });
  const VmimeView view(raw);
  EXPECT_EQ(view.Name("From"), "Acme Help");  // as configured, not "author via"
  EXPECT_EQ(view.Subject(), mail.subject);
  const std::string text = view.Decoded(0);
  EXPECT_NE(text.find("Acme Help received your message."), std::string::npos) << text;
  EXPECT_NE(text.find("It is now a thread: https://help.example.com/t/7"), std::string::npos) << text;
  EXPECT_NE(text.find("You will get the answers by email"), std::string::npos) << text;
  EXPECT_EQ(text.find(mail.body_text), std::string::npos);
  EXPECT_NE(view.Decoded(1).find("<a href=\"https://help.example.com/t/7\">"), std::string::npos);
}

TEST(ComposerTest, RejectionQuotesNothingBack) {
  OutboundMail mail = Answer();
  mail.kind = OutboundKind::kRejection;
  mail.reply_to.clear();
  mail.subject = "Your message was not accepted";
  mail.references = {};
  mail.thread_url.clear();
  mail.list_archive_url.clear();
  mail.unsubscribe_url.clear();
  mail.body_text = "BUY CHEAP PILLS at http://spam.example/";
  mail.rejection_reason = "Only addresses at example.org may write to this address.";
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  ExpectHeaders(raw, {
                         {"Auto-Submitted", "auto-replied"},
                         {"Precedence", "bulk"},
                         {"Reply-To", "<absent>"},
                         {"List-Unsubscribe", "<absent>"},
                         {"List-Unsubscribe-Post", "<absent>"},
                         {"List-Archive", "<absent>"},
                     });
  EXPECT_EQ(raw.find("PILLS"), std::string::npos);
  EXPECT_EQ(raw.find("spam.example"), std::string::npos);
  const VmimeView view(raw);
  const std::string text = view.Decoded(0);
  EXPECT_NE(text.find("Your message to Acme Help was not accepted."), std::string::npos) << text;
  EXPECT_NE(text.find("Reason: " + mail.rejection_reason), std::string::npos) << text;
  EXPECT_EQ(view.Name("From"), "Acme Help");
}

// Our own mail, should it come back into a mailbox we read (a watcher's
// list, a forward), is machine mail to our own parser and classifier: it is
// never taken as a question nor answered (DESIGN.md §2 item 5).
TEST(ComposerTest, OurParserReadsEveryKindAndTheClassifierNeverAnswersIt) {
  for (OutboundKind kind : {OutboundKind::kAnswer, OutboundKind::kNotification,
                            OutboundKind::kAcknowledgement, OutboundKind::kRejection}) {
    SCOPED_TRACE(std::string(OutboundKindName(kind)));
    OutboundMail mail = Answer();
    mail.kind = kind;
    const Message message = ParseMessage(MustCompose(mail));
    EXPECT_TRUE(message.warnings.empty()) << message.warnings.front();
    EXPECT_EQ(message.message_id, mail.message_id);
    EXPECT_EQ(message.subject, kSubject);
    EXPECT_EQ(message.in_reply_to, std::vector<std::string>{mail.in_reply_to});
    EXPECT_EQ(message.references, mail.references);
    ASSERT_TRUE(message.date.has_value());
    EXPECT_EQ(*message.date, TestDate());
    EXPECT_FALSE(message.html_body.empty());
    if (kind == OutboundKind::kAnswer) {
      EXPECT_EQ(message.text_body.find("Try restarting the client.\nThen log in again."), 0u)
          << message.text_body;
    }
    EXPECT_EQ(Classify(message).kind, MessageKind::kAutoReply);
  }
}

TEST(ComposerTest, SameInputSameBytes) {
  EXPECT_EQ(MustCompose(Answer()), MustCompose(Answer()));
  OutboundMail other = Answer();
  other.message_id = "post.43.other@help.example.com";
  const std::string a = MustCompose(Answer());
  const std::string b = MustCompose(other);
  // The boundary follows the Message-ID.
  EXPECT_NE(Value(a, "Content-Type"), Value(b, "Content-Type"));
}

// The outbox worker composes on several threads at once: nothing shared
// (no vmime default context, no vmime random generator) may change the bytes.
TEST(ComposerTest, ComposesConcurrently) {
  const std::string expected = MustCompose(Answer());
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        base::Result<std::string> raw = ComposeMessage(Answer());
        if (!raw.ok() || *raw != expected) ++mismatches;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(mismatches, 0);
}

TEST(ComposerTest, HeaderInjectionThroughTextsIsImpossible) {
  OutboundMail mail = Answer();
  mail.subject = "Hello\r\nBcc: victim@example.net\r\n\r\nbody";
  mail.author_name = "Eve\r\nBcc: victim@example.net";
  mail.instance_name = "Acme\nX-Evil: 1";
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  EXPECT_EQ(Value(raw, "Bcc"), "<absent>");
  EXPECT_EQ(Value(raw, "X-Evil"), "<absent>");
  const VmimeView view(raw);
  EXPECT_EQ(view.Subject(), "Hello  Bcc: victim@example.net    body");
  EXPECT_EQ(view.Name("From"), "Eve  Bcc: victim@example.net via Acme X-Evil: 1");
}

TEST(ComposerTest, DisplayNamesAreQuotedOrEncoded) {
  OutboundMail mail = Answer();
  mail.kind = OutboundKind::kAcknowledgement;
  mail.from = "\"Acme \\\"Help\\\", Desk\" <help@example.com>";
  mail.instance_name = "";
  mail.to = "Zoë Back\\slash <zoe@example.org>";
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  EXPECT_EQ(Value(raw, "From"), "\"Acme \\\"Help\\\", Desk\" <help@example.com>");
  const VmimeView view(raw);
  EXPECT_EQ(view.Name("From"), "Acme \"Help\", Desk");
  EXPECT_EQ(view.Name("To"), "Zoë Back\\slash");
  EXPECT_EQ(view.Address("To"), "zoe@example.org");
  EXPECT_EQ(Value(raw, "List-Id"), "\"Acme \\\"Help\\\", Desk\" <acme-help.example.com>");
}

TEST(ComposerTest, LongAndAwkwardBodiesStayWithinLineLimits) {
  OutboundMail mail = Answer();
  mail.body_text = std::string(5000, 'x') + "\rold mac line\nunix line\r\nwindows line\n.\nFrom here\n" +
                   "trailing spaces   \n\x01\x7f" + "bad utf-8 \xff\xfe end";
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  const std::string text = VmimeView(raw).Decoded(0);
  EXPECT_NE(
      text.find(std::string(5000, 'x') + "\r\nold mac line\r\nunix line\r\nwindows line\r\n.\r\nFrom here\r\n"
                                         "trailing spaces   \r\nbad utf-8 \xef\xbf\xbd"),
      std::string::npos);
}

// vmime 0.9.2's quoted-printable encoder broke a line that ends exactly at
// its limit between CR and LF (found by the outbox round trip: a 72-character
// answer could not be sent). Every length around the limit, with and without
// characters that need escapes, must come out clean and decode intact.
TEST(ComposerTest, LinesAtTheQuotedPrintableLimitStayIntact) {
  for (size_t length = 60; length <= 160; ++length) {
    for (const std::string& fill :
         {std::string("x"), std::string("="), std::string("\xc3\xa9"), std::string(" ")}) {
      std::string line;
      while (line.size() < length) line += fill;
      line = "a" + line + "z";  // never white space at the ends: the body is trimmed
      OutboundMail mail = Answer();
      mail.body_text = line + "\n" + line + " \nend";
      const std::string raw = MustCompose(mail);
      ExpectWireClean(raw);
      const VmimeView view(raw);
      EXPECT_NE(view.Decoded(0).find(line + "\r\n" + line + " \r\nend\r\n"), std::string::npos) << length;
      size_t line_start = 0;
      for (size_t end; (end = raw.find("\r\n", line_start)) != std::string::npos; line_start = end + 2) {
        EXPECT_LE(end - line_start, 78u)
            << "at length " << length << ": " << raw.substr(line_start, end - line_start);
      }
    }
  }
}

// Each encoded word of `field` decoded on its own: RFC 2047 §5 forbids
// splitting a character between two words.
void ExpectWholeCharactersPerWord(const std::string& field) {
  size_t begin = 0;
  while ((begin = field.find("=?utf-8?Q?", begin)) != std::string::npos) {
    const size_t end = field.find("?=", begin + 10) + 2;
    vmime::parsingContext context;
    vmime::text word;
    word.parse(context, field.substr(begin, end - begin));
    EXPECT_TRUE(IsValidUtf8(word.getWholeBuffer())) << field.substr(begin, end - begin);
    EXPECT_LE(end - begin, 75u);
    begin = end;
  }
}

TEST(ComposerTest, LongSubjectsFoldAndDecodeIntact) {
  OutboundMail mail = Answer();
  for (const std::string& subject :
       {std::string("Re: ") + std::string(30, 'w') + " " + std::string(120, 'y'),
        std::string("Re: How do I configure the VPN client on my new laptop when the office network is "
                    "down today?"),
        std::string(
            "Re: 日本語のテスト件名がとても長い場合にも正しく折り返されるかどうかを確認します — 了解"),
        std::string("Re: 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀 é ü ß 😀😀😀😀😀😀😀😀😀😀"),
        std::string("Re: =?utf-8?q?not_a_word?= (just text that looks like one)"),
        std::string("Re: ___ under_scores = equals ? question _ ")}) {
    mail.subject = subject;
    const std::string raw = MustCompose(mail);
    ExpectWireClean(raw);
    const std::string expected(subject.substr(0, subject.find_last_not_of(' ') + 1));
    EXPECT_EQ(VmimeView(raw).Subject(), expected);
    EXPECT_EQ(ParseMessage(raw).subject, expected);
    ExpectWholeCharactersPerWord(Value(raw, "Subject"));
  }
}

TEST(ComposerTest, LongDisplayNamesFoldOrEncode) {
  OutboundMail mail = Answer();
  for (const std::string& author :
       {std::string("Bartholomew Maximilian Fitzgerald-Worthington the Third of Upper Snoring"),
        std::string(90, 'a'),
        std::string("Smith, Bartholomew Maximilian (Operations, Building 7, Room 3.14)"),
        std::string("Ærøskøbing Ølstue Åbenrå Æblegrød Øresund Ålborg Ærø Bartholomew Fitzgerald")}) {
    mail.author_name = author;
    const std::string raw = MustCompose(mail);
    ExpectWireClean(raw);
    EXPECT_EQ(VmimeView(raw).Name("From"), author + " via Acme Help");
    const Message parsed = ParseMessage(raw);
    ASSERT_TRUE(parsed.from.has_value());
    EXPECT_EQ(parsed.from->name, author + " via Acme Help");
    EXPECT_EQ(parsed.from->address, "help@example.com");
  }
}

TEST(ComposerTest, LongReferenceChainsKeepTheRootAndTheLatest) {
  OutboundMail mail = Answer();
  mail.references.clear();
  for (int i = 0; i < 30; ++i) mail.references.push_back("id" + std::to_string(i) + "@example.org");
  mail.references.push_back("bad id with spaces@example.org");
  mail.references.push_back("<bracketed>@example.org");
  mail.in_reply_to = "id29@example.org";
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  std::string expected = "<id0@example.org>";
  for (int i = 11; i < 30; ++i) expected += " <id" + std::to_string(i) + "@example.org>";
  EXPECT_EQ(Value(raw, "References"), expected);
  EXPECT_EQ(Value(raw, "In-Reply-To"), "<id29@example.org>");
}

TEST(ComposerTest, OptionalFieldsAreLeftOut) {
  OutboundMail mail = Answer();
  mail.reply_to.clear();
  mail.in_reply_to.clear();
  mail.references.clear();
  mail.list_id.clear();
  mail.list_archive_url.clear();
  mail.unsubscribe_url = "mailto:help+unsubscribe@example.com";  // no https: no one-click
  mail.thread_url.clear();
  mail.author_name.clear();
  const std::string raw = MustCompose(mail);
  ExpectWireClean(raw);
  for (const char* name :
       {"Reply-To", "In-Reply-To", "References", "List-Id", "List-Archive", "List-Unsubscribe-Post"}) {
    EXPECT_EQ(Value(raw, name), "<absent>") << name;
  }
  EXPECT_EQ(Value(raw, "List-Unsubscribe"), "<mailto:help+unsubscribe@example.com>");
  EXPECT_EQ(Value(raw, "From"), "Acme Help <help@example.com>");
  EXPECT_EQ(VmimeView(raw).Decoded(0).find("View the thread"), std::string::npos);
}

TEST(ComposerTest, MalformedFieldsAreInvalidInput) {
  const std::vector<std::pair<const char*, void (*)(OutboundMail&)>> cases = {
      {"message_id", [](OutboundMail& m) { m.message_id = ""; }},
      {"message_id", [](OutboundMail& m) { m.message_id = "no-at-sign"; }},
      {"message_id", [](OutboundMail& m) { m.message_id = "a b@example.com"; }},
      {"from", [](OutboundMail& m) { m.from = ""; }},
      {"to", [](OutboundMail& m) { m.to = "asker@example.org\r\nBcc: x@example.net"; }},
      {"to", [](OutboundMail& m) { m.to = "ünicode@example.org"; }},
      {"to", [](OutboundMail& m) { m.to = "Name <no-at-sign>"; }},
      {"reply_to", [](OutboundMail& m) { m.reply_to = "help+x@example.com>, evil@example.net"; }},
      {"thread_url", [](OutboundMail& m) { m.thread_url = "javascript:alert(1)"; }},
      {"thread_url", [](OutboundMail& m) { m.thread_url = "https://x.example/\"><script>"; }},
      {"list_id", [](OutboundMail& m) { m.list_id = "acme help"; }},
      {"list_archive_url", [](OutboundMail& m) { m.list_archive_url = "ftp://x.example/"; }},
      {"unsubscribe_url", [](OutboundMail& m) { m.unsubscribe_url = "https://x.example/\r\nBcc: y"; }},
  };
  for (const auto& [field, spoil] : cases) {
    OutboundMail mail = Answer();
    spoil(mail);
    base::Result<std::string> raw = ComposeMessage(mail);
    ASSERT_FALSE(raw.ok()) << field;
    EXPECT_EQ(raw.error().kind, ErrorKind::kInvalidInput) << raw.error().message;
    EXPECT_NE(raw.error().message.find(field), std::string::npos) << raw.error().message;
  }
}

TEST(ComposerTest, Envelope) {
  OutboundMail mail = Answer();
  mail.to = "Asker <asker@example.org>";
  base::Result<Envelope> envelope = ComposeEnvelope(mail);
  ASSERT_TRUE(envelope.ok()) << envelope.error().message;
  EXPECT_EQ(envelope->mail_from, "bounces+12-abcdefghijklmnop@example.com");
  EXPECT_EQ(envelope->recipients, std::vector<std::string>{"asker@example.org"});
  mail.return_path.clear();
  EXPECT_FALSE(ComposeEnvelope(mail).ok());
}

TEST(ComposerTest, ReplySubjectDoesNotStack) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"VPN broken", "Re: VPN broken"},
      {"Re: VPN broken", "Re: VPN broken"},
      {"RE: re: Re:VPN broken", "Re: VPN broken"},
      {"AW: Re: VPN broken", "Re: VPN broken"},
      {"Sv: SV: VPN", "Re: VPN"},
      {"Antw: Odp: YNT: VPN", "Re: VPN"},
      {"Re[2]: VPN", "Re: VPN"},
      {"Re(3): VPN", "Re: VPN"},
      {"Re^2: VPN", "Re: VPN"},
      {"Re : VPN", "Re: VPN"},
      {"Réf : VPN", "Re: VPN"},
      {"RÉF: VPN", "Re: VPN"},
      {"回复：VPN", "Re: VPN"},
      {"答复: 回覆: VPN", "Re: VPN"},
      {"Fwd: VPN broken", "Re: Fwd: VPN broken"},
      {"Re: Fwd: Re: VPN", "Re: Fwd: Re: VPN"},
      {"  Re:   Grüße aus Köln — VPN?  ", "Re: Grüße aus Köln — VPN?"},
      {"Reason: VPN", "Re: Reason: VPN"},
      {"Rewrite the VPN docs", "Re: Rewrite the VPN docs"},
      {"Re[x]: VPN", "Re: Re[x]: VPN"},
      {"Re", "Re: Re"},
      {"Re:", "Re:"},
      {"", "Re:"},
  };
  for (const auto& [subject, expected] : cases) EXPECT_EQ(ReplySubject(subject), expected) << subject;
}

TEST(ComposerTest, VerpRoundTrip) {
  const std::string address = VerpAddress("bounces+{id}@example.com", 12345, kKey);
  EXPECT_EQ(address.rfind("bounces+12345-", 0), 0u) << address;
  EXPECT_EQ(address.size(), std::string("bounces+12345-@example.com").size() + 16);
  EXPECT_EQ(ParseVerpAddress("bounces+{id}@example.com", address, kKey), 12345);
  // Mail systems may change the case of the local part.
  std::string upper = address;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(ParseVerpAddress("bounces+{id}@example.com", upper, kKey), 12345);
  EXPECT_EQ(
      ParseVerpAddress("bounces+{id}@example.com", VerpAddress("bounces+{id}@example.com", 0, kKey), kKey),
      0);
  const int64_t big = INT64_MAX;
  EXPECT_EQ(
      ParseVerpAddress("bounces+{id}@example.com", VerpAddress("bounces+{id}@example.com", big, kKey), kKey),
      big);
}

TEST(ComposerTest, ForgedVerpAddressesAreRejected) {
  const std::string tmpl = "bounces+{id}@example.com";
  const std::string address = VerpAddress(tmpl, 12345, kKey);
  const size_t signature = address.find('-') + 1;
  // Another id with this signature, one character of the signature changed, another key.
  std::string other_id = address;
  other_id.replace(8, 5, "12346");
  EXPECT_FALSE(ParseVerpAddress(tmpl, other_id, kKey));
  std::string changed = address;
  changed[signature] = changed[signature] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(ParseVerpAddress(tmpl, changed, kKey));
  EXPECT_FALSE(ParseVerpAddress(tmpl, address, "another key"));
  // Non-canonical ids, missing parts, the wrong shape.
  const std::string sig = address.substr(signature, 16);
  EXPECT_FALSE(ParseVerpAddress(tmpl, "bounces+012345-" + sig + "@example.com", kKey));
  EXPECT_FALSE(ParseVerpAddress(tmpl, "bounces+-12345-" + sig + "@example.com", kKey));
  EXPECT_FALSE(ParseVerpAddress(tmpl, "bounces+12345@example.com", kKey));
  EXPECT_FALSE(ParseVerpAddress(tmpl, "bounces+-" + sig + "@example.com", kKey));
  EXPECT_FALSE(ParseVerpAddress(tmpl, "bounces+99999999999999999999-" + sig + "@example.com", kKey));
  EXPECT_FALSE(ParseVerpAddress(tmpl, "other+12345-" + sig + "@example.com", kKey));
  EXPECT_FALSE(ParseVerpAddress(tmpl, address.substr(0, address.size() - 1), kKey));
  // A reply token (same key, its own context) is no VERP signature.
  const std::string token_sig = SignBase32(kKey, "mailforum reply token v1", "12345", 10);
  EXPECT_FALSE(ParseVerpAddress(tmpl, "bounces+12345-" + token_sig + "@example.com", kKey));
}

// Issue 8 item 8: the subject an acknowledgement or rejection echoes is a
// stranger's text: cut at 120 characters on a character boundary, without
// control characters (C0, C1) or bidirectional overrides.
TEST(ComposerTest, NoticeSubjectsAreCutAndStrippedOfControls) {
  // An escape (C0), a NEL (C1) and a right-to-left override, then 130 two-byte characters.
  std::string long_subject = "Q\x1b\xc2\x85\xe2\x80\xae" "B";
  for (int i = 0; i < 130; ++i) long_subject += "\xc3\xa9";  // é
  for (OutboundKind kind : {OutboundKind::kAcknowledgement, OutboundKind::kRejection}) {
    OutboundMail mail = Answer();
    mail.kind = kind;
    mail.subject = "Re: " + long_subject;
    const std::string raw = MustCompose(mail);
    ExpectWireClean(raw);
    const std::string subject = VmimeView(raw).Subject();
    EXPECT_TRUE(IsValidUtf8(subject)) << subject;
    // "Re: Q B" (the escape became a space, the others are gone), é up to 119 characters, and "…".
    std::string expected = "Re: Q B";
    for (int i = 0; i < 120 - 7 - 1; ++i) expected += "\xc3\xa9";
    expected += "\xe2\x80\xa6";
    EXPECT_EQ(subject, expected);
    for (const char* hidden : {"\x1b", "\xc2\x85", "\xe2\x80\xae"}) {
      EXPECT_EQ(subject.find(hidden), std::string::npos) << static_cast<int>(kind);
    }
  }
  // Exactly 120 characters stay whole; answers keep their (already clean) long subjects.
  OutboundMail ack = Answer();
  ack.kind = OutboundKind::kAcknowledgement;
  ack.subject = std::string(120, 'x');
  EXPECT_EQ(VmimeView(MustCompose(ack)).Subject(), ack.subject);
  OutboundMail answer = Answer();
  answer.subject = "Re: " + std::string(200, 'y');
  EXPECT_EQ(VmimeView(MustCompose(answer)).Subject(), answer.subject);
}

}  // namespace
}  // namespace mail
