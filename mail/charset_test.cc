// mail::CutUtf8 and the promise of mail/message.h and mail/classifier.h:
// every text that the parser, the reply trimmer and the classifier produce is
// valid UTF-8 (issue 8, deliverable 10). The promise is checked over every
// mail file of every corpus under tests/corpus/, and by name on the four
// sisimai bounces whose diagnostic used to be cut in the middle of a UTF-8
// sequence (which made `mailforumctl parse` abort in nlohmann::json).
#include "mail/charset.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "mail/classifier.h"
#include "mail/mime_parser.h"
#include "mail/reply_trimmer.h"
#include "tests/support/test_env.h"

namespace mail {
namespace {

namespace fs = std::filesystem;

// "é" (2 bytes), "€" (3 bytes), "😀" (4 bytes).
constexpr std::string_view kTwo = "\xC3\xA9";
constexpr std::string_view kThree = "\xE2\x82\xAC";
constexpr std::string_view kFour = "\xF0\x9F\x98\x80";

TEST(CutUtf8Test, NeverCutsInsideASequence) {
  for (std::string_view c : {kTwo, kThree, kFour}) {
    const std::string text = "ab" + std::string(c) + "cd";
    for (size_t inside = 1; inside < c.size(); ++inside) {
      SCOPED_TRACE(testing::Message() << c.size() << "-byte sequence cut after " << inside << " of its bytes");
      const std::string_view cut = CutUtf8(text, 2 + inside);
      EXPECT_EQ(cut, "ab");
      EXPECT_TRUE(IsValidUtf8(cut));
    }
  }
}

TEST(CutUtf8Test, KeepsACharacterThatEndsExactlyAtTheLimit) {
  for (std::string_view c : {kTwo, kThree, kFour}) {
    const std::string text = "ab" + std::string(c) + "cd";
    EXPECT_EQ(CutUtf8(text, 2 + c.size()), "ab" + std::string(c));
    EXPECT_EQ(CutUtf8(text, 2), "ab");
  }
}

TEST(CutUtf8Test, ZeroLengthAndTextShorterThanTheLimit) {
  EXPECT_EQ(CutUtf8("abc", 0), "");
  EXPECT_EQ(CutUtf8(kFour, 0), "");
  EXPECT_EQ(CutUtf8("", 0), "");
  EXPECT_EQ(CutUtf8("", 10), "");
  const std::string text = "x" + std::string(kThree) + std::string(kFour);
  EXPECT_EQ(CutUtf8(text, text.size()), text);
  EXPECT_EQ(CutUtf8(text, text.size() + 100), text);
  EXPECT_EQ(CutUtf8(text, std::string::npos), text);
}

TEST(CutUtf8Test, AnyCutOfAMixedTextIsValid) {
  std::string text;
  for (int i = 0; i < 5; ++i) text += "a" + std::string(kTwo) + std::string(kThree) + std::string(kFour);
  size_t previous = 0;
  for (size_t limit = 0; limit <= text.size(); ++limit) {
    const std::string_view cut = CutUtf8(text, limit);
    EXPECT_TRUE(IsValidUtf8(cut)) << limit;
    EXPECT_LE(cut.size(), limit);
    EXPECT_GE(cut.size() + 3, limit) << "cut more than one character short at " << limit;
    EXPECT_GE(cut.size(), previous);
    previous = cut.size();
  }
}

// --- everything the parser, trimmer and classifier produce ---

// Collects the name of every string of `m`, its trim and its classification
// that is not valid UTF-8.
std::vector<std::string> InvalidTexts(const Message& m) {
  std::vector<std::string> bad;
  auto check = [&](std::string_view what, std::string_view text) {
    if (!IsValidUtf8(text)) bad.emplace_back(what);
  };
  auto check_addresses = [&](std::string_view what, const std::vector<Address>& list) {
    for (const Address& a : list) {
      check(std::string(what) + ".name", a.name);
      check(std::string(what) + ".address", a.address);
    }
  };
  check("message_id", m.message_id);
  for (const std::string& id : m.in_reply_to) check("in_reply_to", id);
  for (const std::string& id : m.references) check("references", id);
  if (m.from) check_addresses("from", {*m.from});
  if (m.sender) check_addresses("sender", {*m.sender});
  check_addresses("reply_to", m.reply_to);
  check_addresses("to", m.to);
  check_addresses("cc", m.cc);
  for (const std::string& a : m.delivered_to) check("delivered_to", a);
  for (const std::string& a : m.x_original_to) check("x_original_to", a);
  if (m.return_path) check("return_path", *m.return_path);
  check("subject", m.subject);
  for (const HeaderField& h : m.headers) {
    check("header name", h.name);
    check("header " + h.name, h.value);
  }
  check("text_body", m.text_body);
  check("html_body", m.html_body);
  for (const MimePart& p : m.parts) {
    check("part content_type", p.content_type);
    check("part charset", p.charset);
    check("part filename", p.filename);
    check("part content_id", p.content_id);
    if (p.kind == MimePart::Kind::kText) check("text part body", p.body);
  }
  for (const Attachment& a : m.attachments) {
    check("attachment filename", a.filename);
    check("attachment content_type", a.content_type);
    check("attachment content_id", a.content_id);
  }
  check("report_type", m.report_type);
  check("delivery_status", m.delivery_status);
  check("feedback_report", m.feedback_report);
  for (const std::string& w : m.warnings) check("warning", w);

  const TrimResult trim = TrimReply(m.text_body);
  check("trimmed", trim.trimmed);
  check("elided", trim.elided);

  const Classification c = Classify(m);
  check("classification why", c.why);
  check("feedback_type", c.feedback_type);
  for (const FailedRecipient& f : c.failed) {
    check("failed address", f.address);
    check("failed status", f.status);
    check("failed reason", f.reason);
    check("failed diagnostic", f.diagnostic);
  }
  return bad;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A message cut by the size limit in the middle of a character: the cut-off
// character is dropped, not passed on half.
TEST(ValidUtf8Test, AMessageCutBySizeInsideACharacterStaysValid) {
  std::string body;
  for (int i = 0; i < 200; ++i) body += std::string(kTwo) + std::string(kThree) + std::string(kFour);
  for (const char* encoding : {"8bit", "quoted-printable"}) {
    std::string raw = "From: a@example.com\r\nSubject: s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                      "Content-Transfer-Encoding: " +
                      std::string(encoding) + "\r\n\r\n" + body + "\r\n";
    for (uint64_t cut = raw.size() - 40; cut < raw.size() - 30; ++cut) {
      SCOPED_TRACE(testing::Message() << encoding << " cut at " << cut);
      ParseLimits limits;
      limits.max_size = cut;
      const Message m = ParseMessage(raw, limits);
      EXPECT_TRUE(m.truncated);
      EXPECT_FALSE(m.text_body.empty());
      EXPECT_EQ(InvalidTexts(m), std::vector<std::string>{});
    }
  }
}

// The bounces of the sisimai corpus whose diagnostic, cut at 500 bytes, ended
// inside a UTF-8 sequence (the issue counted three; there are four).
TEST(ValidUtf8Test, SisimaiBouncesWhoseDiagnosticIsCutInsideACharacter) {
  const fs::path dir = fs::path(mftest::SourceDir()) / "tests/corpus/sisimai/set-of-emails/maildir/bsd";
  for (const char* name : {"lhost-googlegroups-03.eml", "lhost-googlegroups-06.eml", "lhost-googlegroups-11.eml",
                           "lhost-googlegroups-13.eml"}) {
    SCOPED_TRACE(name);
    const std::string raw = ReadFile(dir / name);
    ASSERT_FALSE(raw.empty());
    const Message m = ParseMessage(raw);
    const Classification c = Classify(m);
    ASSERT_EQ(c.kind, MessageKind::kBounce);
    bool long_diagnostic = false;
    for (const FailedRecipient& f : c.failed) {
      EXPECT_TRUE(IsValidUtf8(f.diagnostic)) << f.address;
      long_diagnostic = long_diagnostic || f.diagnostic.size() >= 490;
    }
    EXPECT_TRUE(long_diagnostic) << "the file no longer has a diagnostic long enough to be cut";
    EXPECT_EQ(InvalidTexts(m), std::vector<std::string>{});
  }
}

// Every mail file of every corpus (tests/corpus/*): what is not mail
// (licences, expected outputs) is skipped by LooksLikeEmail, as
// `mailforumctl parse` would refuse it.
TEST(ValidUtf8Test, EveryCorpusMessageComesOutAsValidUtf8) {
  const fs::path root = fs::path(mftest::SourceDir()) / "tests/corpus";
  size_t files = 0;
  size_t mail = 0;
  size_t bad_files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string raw = ReadFile(entry.path());
    if (!LooksLikeEmail(raw)) continue;
    ++mail;
    const std::vector<std::string> bad = InvalidTexts(ParseMessage(raw));
    if (!bad.empty()) {
      ++bad_files;
      ADD_FAILURE() << entry.path().lexically_relative(root).string() << ": invalid UTF-8 in " << bad.front()
                    << (bad.size() > 1 ? " and " + std::to_string(bad.size() - 1) + " more" : "");
    }
  }
  std::printf("corpus files: %zu, read as mail: %zu, with invalid UTF-8: %zu\n", files, mail, bad_files);
  EXPECT_GT(mail, 600u);
}

}  // namespace
}  // namespace mail
