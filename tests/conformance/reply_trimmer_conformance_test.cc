// Conformance of mail::TrimReply against other projects' expected results:
//  - Discourse's email_reply_trimmer corpus (tests/corpus/email_reply_trimmer,
//    MIT): for each emails/X.txt, the trimmed body must equal trimmed/X.txt
//    (both whitespace-stripped, as upstream's harness does) for at least 95%
//    of the cases, and no case may take over 100 ms. The elided part is
//    compared with elided/X.txt and only reported.
//  - Mailgun talon's plain-text signature cases (tests/corpus/talon, Apache-2.0):
//    only reported, because talon's extractor also knows the sender's name.
// Each failing file prints a diff; the pass figure is printed last.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mail/reply_trimmer.h"
#include "tests/support/test_env.h"

namespace {

namespace fs = std::filesystem;

constexpr double kBarPercent = 95.0;
constexpr double kMaxCaseMillis = 100.0;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Ruby's String#strip: ASCII whitespace and NUL go from both ends.
std::string Strip(std::string_view text) {
  constexpr std::string_view kSpace(" \t\n\v\f\r\0", 7);
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return "";
  return std::string(text.substr(begin, text.find_last_not_of(kSpace) - begin + 1));
}

// Line ends to LF, then stripped.
std::string Normalize(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return Strip(out);
}

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A line diff (longest common subsequence): " " kept, "-" expected only, "+" actual only.
std::string Diff(const std::string& expected, const std::string& actual) {
  const std::vector<std::string> a = SplitLines(expected);
  const std::vector<std::string> b = SplitLines(actual);
  std::vector<std::vector<size_t>> lcs(a.size() + 1, std::vector<size_t>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;) {
    for (size_t j = b.size(); j-- > 0;) {
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out = "    --- expected\n    +++ actual\n";
  size_t i = 0;
  size_t j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out += "     " + a[i++] + "\n";
      ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out += "    -" + a[i++] + "\n";
    } else {
      out += "    +" + b[j++] + "\n";
    }
  }
  return out;
}

std::vector<std::string> CaseNames(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt")
      names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

double Percent(size_t passed, size_t total) { return total == 0 ? 0.0 : 100.0 * passed / total; }

struct Timed {
  mail::TrimResult result;
  double millis = 0;
};

Timed TimedTrim(std::string_view input) {
  const auto start = std::chrono::steady_clock::now();
  Timed timed{mail::TrimReply(input)};
  timed.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return timed;
}

TEST(ReplyTrimmerConformance, DiscourseEmailReplyTrimmer) {
  const fs::path root = fs::path(mftest::SourceDir()) / "tests/corpus/email_reply_trimmer/test";
  ASSERT_TRUE(fs::is_directory(root / "emails")) << root << " is missing";
  const std::vector<std::string> names = CaseNames(root / "emails");
  ASSERT_FALSE(names.empty());

  size_t trimmed_passed = 0;
  size_t elided_passed = 0;
  size_t elided_total = 0;
  double slowest = 0;
  std::string slowest_name;
  const auto check_time = [&](const std::string& name, double millis) {
    EXPECT_LE(millis, kMaxCaseMillis) << name << " took " << millis << " ms";
    if (millis > slowest) {
      slowest = millis;
      slowest_name = name;
    }
  };
  for (const std::string& name : names) {
    const Timed run = TimedTrim(Strip(ReadFile(root / "emails" / name)));
    check_time(name, run.millis);

    const std::string expected = Normalize(ReadFile(root / "trimmed" / name));
    const std::string actual = Normalize(run.result.trimmed);
    if (expected == actual) {
      ++trimmed_passed;
    } else {
      std::printf("FAIL trimmed %s\n%s", name.c_str(), Diff(expected, actual).c_str());
    }
    if (fs::exists(root / "elided" / name)) {
      ++elided_total;
      const std::string expected_elided = Normalize(ReadFile(root / "elided" / name));
      const std::string actual_elided = Normalize(run.result.elided);
      if (expected_elided == actual_elided) {
        ++elided_passed;
      } else {
        std::printf("differs (report only): elided %s\n%s", name.c_str(),
                    Diff(expected_elided, actual_elided).c_str());
      }
    }
  }
  // Inputs that once made regular-expression trimmers hang: time only.
  for (const std::string& name : CaseNames(root / "matchers")) {
    check_time("matchers/" + name, TimedTrim(ReadFile(root / "matchers" / name)).millis);
  }

  const double trimmed_percent = Percent(trimmed_passed, names.size());
  std::printf("email_reply_trimmer elided (report only): %zu/%zu equal (%.1f%%)\n", elided_passed,
              elided_total, Percent(elided_passed, elided_total));
  std::printf("email_reply_trimmer slowest case: %s, %.3f ms (bound %.0f ms)\n", slowest_name.c_str(),
              slowest, kMaxCaseMillis);
  std::printf("email_reply_trimmer: %zu/%zu passed (%.1f%%), bar %.0f%%\n", trimmed_passed, names.size(),
              trimmed_percent, kBarPercent);
  std::fflush(stdout);
  EXPECT_GE(trimmed_percent, kBarPercent);
}

// talon's signature cases: the signature is the tail of the body that
// N_signature holds (empty: none). Report only.
TEST(ReplyTrimmerConformance, TalonSignaturesReportOnly) {
  const fs::path dir =
      fs::path(mftest::SourceDir()) / "tests/corpus/talon/tests/fixtures/signature/emails/stripped";
  ASSERT_TRUE(fs::is_directory(dir)) << dir << " is missing";
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename();
    if (file.ends_with("_body")) names.push_back(file.substr(0, file.size() - 5));
  }
  std::sort(names.begin(), names.end());
  size_t passed = 0;
  for (const std::string& name : names) {
    const std::string body = Normalize(ReadFile(dir / (name + "_body")));
    const std::string signature = Normalize(ReadFile(dir / (name + "_signature")));
    const std::string expected_text =
        Normalize(body.ends_with(signature) ? body.substr(0, body.size() - signature.size()) : body);
    const mail::TrimResult result = mail::TrimReply(body);
    const bool ok = Normalize(result.trimmed) == expected_text && Normalize(result.elided) == signature;
    if (ok) {
      ++passed;
    } else {
      std::printf("differs (report only): talon signature %s\n%s", name.c_str(),
                  Diff(signature, Normalize(result.elided)).c_str());
    }
  }
  std::printf("talon signatures (report only): %zu/%zu as expected (%.1f%%)\n", passed, names.size(),
              Percent(passed, names.size()));
  std::fflush(stdout);
}

}  // namespace
