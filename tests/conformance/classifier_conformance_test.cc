// Conformance of mail::Classify against sisimai's expected results
// (tests/corpus/sisimai, BSD-2-Clause; see its SOURCE.txt): 614 real
// bounces, auto-replies, feedback reports, delivery notices and two ordinary
// messages, each parsed with mail::ParseMessage and classified.
//
// expected.tsv has one row per recipient sisimai decodes. The tiers are those
// of tests/corpus/README (shared/corpus/README.md §3):
//  - A (required): the kind (vacation → auto_reply, feedback → feedback,
//    delivered → delivery_notice, NOT_A_BOUNCE → normal, anything else →
//    bounce); for bounces the number of failed recipients must equal the
//    number of rows and each row's hard/soft must match. A row passes when
//    its file's kind and count are right and its recipient's hard flag is.
//    The bar is 95% of rows; files are printed too. NOT_A_BOUNCE files must be
//    normal, always.
//  - B (reported): the RFC 3463 status of each bounce row; for sisimai's
//    invented X.0.9NN codes only the class digit is compared.
//  - C (reported): sisimai's reason name.
// Every file also runs with CRLF line ends (converted in memory); those
// figures are reported. Each failing file prints one diff line; the pass
// figure is printed last.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "mail/classifier.h"
#include "mail/mime_parser.h"
#include "tests/support/test_env.h"

namespace {

namespace fs = std::filesystem;

constexpr double kBarPercent = 95.0;

struct Row {
  std::string status;  // "5.1.1", sisimai's "5.0.911", "" for non-bounces
  std::string reason;  // sisimai's reason, "vacation", "feedback", "delivered", "NOT_A_BOUNCE"
  bool hard = false;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> fields;
  std::istringstream in(line);
  for (std::string field; std::getline(in, field, '\t');) fields.push_back(field);
  return fields;
}

// expected.tsv: file, index, decoder, delivery_status, reply_code, reason, hard_bounce, feedback_type,
// source.
std::map<std::string, std::vector<Row>> ReadExpected(const fs::path& tsv) {
  std::map<std::string, std::vector<Row>> rows;
  std::istringstream in(ReadFile(tsv));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.front() == '#' || line.starts_with("file\t")) continue;
    std::vector<std::string> f = SplitTabs(line);
    if (f.size() < 7) continue;
    rows[f[0]].push_back(Row{f[3], f[5], f[6] == "true"});
  }
  return rows;
}

std::string ExpectedKind(const Row& first) {
  if (first.reason == "vacation") return "auto_reply";
  if (first.reason == "feedback") return "feedback";
  if (first.reason == "delivered") return "delivery_notice";
  if (first.reason == "NOT_A_BOUNCE") return "normal";
  return "bounce";
}

// Lone LF → CRLF; existing CRLF kept.
std::string ToCrlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out.push_back('\r');
    out.push_back(text[i]);
  }
  return out;
}

// Sisimai invents "X.0.9NN" when the message carries no code: compare the
// class digit only.
bool StatusMatches(const std::string& expected, const std::string& got) {
  if (expected.size() == 7 && expected.compare(1, 4, ".0.9") == 0)
    return !got.empty() && got[0] == expected[0];
  return got == expected;
}

double Percent(size_t passed, size_t total) { return total == 0 ? 0.0 : 100.0 * passed / total; }

struct Figures {
  size_t rows = 0, rows_a = 0;
  size_t files = 0, files_a = 0;
  size_t bounce_rows = 0, rows_b = 0, rows_c = 0;
  std::vector<std::string> not_a_bounce_failures;
  std::vector<std::string> diffs;  // one line per file failing tier A
};

std::string Describe(const mail::FailedRecipient& f) {
  return f.status + "/" + f.reason + "/" + (f.hard ? "hard" : "soft");
}

std::string Describe(const Row& r) { return r.status + "/" + r.reason + "/" + (r.hard ? "hard" : "soft"); }

void Score(const std::string& file, const std::vector<Row>& expected, const mail::Classification& c,
           Figures& out) {
  const std::string want = ExpectedKind(expected.front());
  const std::string got(mail::MessageKindName(c.kind));
  const bool bounce = want == "bounce";
  const bool kind_ok = got == want;
  const bool count_ok = !bounce || c.failed.size() == expected.size();
  size_t passed = 0;
  std::string rows_diff;
  for (size_t i = 0; i < expected.size(); ++i) {
    ++out.rows;
    bool ok = kind_ok && count_ok;
    if (bounce) {
      ++out.bounce_rows;
      if (ok) {
        const mail::FailedRecipient& f = c.failed[i];
        ok = f.hard == expected[i].hard;
        out.rows_b += StatusMatches(expected[i].status, f.status);
        out.rows_c += f.reason == expected[i].reason;
      }
      rows_diff +=
          " [" + Describe(expected[i]) + " vs " + (i < c.failed.size() ? Describe(c.failed[i]) : "-") + "]";
    }
    passed += ok;
  }
  out.rows_a += passed;
  ++out.files;
  if (passed == expected.size()) {
    ++out.files_a;
    return;
  }
  if (want == "normal") out.not_a_bounce_failures.push_back(file);
  std::string line = "FAIL " + file + ": expected " + want + " x" +
                     std::to_string(bounce ? expected.size() : 0) + ", got " + got + " x" +
                     std::to_string(c.failed.size()) + " (" + c.why + ")";
  if (bounce && kind_ok) line += rows_diff;
  out.diffs.push_back(line);
}

Figures ClassifyCorpus(const fs::path& root, const std::map<std::string, std::vector<Row>>& expected,
                       bool crlf) {
  Figures figures;
  for (const auto& [file, rows] : expected) {
    std::string raw = ReadFile(root / file);
    if (raw.empty()) {
      ADD_FAILURE() << file << " is missing or empty";
      continue;
    }
    if (crlf) raw = ToCrlf(raw);
    mail::Message message = mail::ParseMessage(raw);
    Score(file, rows, mail::Classify(message), figures);
  }
  return figures;
}

std::string Summary(const char* label, const Figures& f) {
  char buffer[512];
  std::snprintf(buffer, sizeof buffer,
                "sisimai %s: tier A %zu/%zu rows (%.1f%%), %zu/%zu files (%.1f%%); "
                "tier B (status, report-only) %zu/%zu bounce rows (%.1f%%); "
                "tier C (reason, report-only) %zu/%zu (%.1f%%)",
                label, f.rows_a, f.rows, Percent(f.rows_a, f.rows), f.files_a, f.files,
                Percent(f.files_a, f.files), f.rows_b, f.bounce_rows, Percent(f.rows_b, f.bounce_rows),
                f.rows_c, f.bounce_rows, Percent(f.rows_c, f.bounce_rows));
  return buffer;
}

TEST(ClassifierConformance, Sisimai) {
  const fs::path root = fs::path(mftest::SourceDir()) / "tests/corpus/sisimai";
  ASSERT_TRUE(fs::is_regular_file(root / "expected.tsv")) << root << " is missing";
  const auto expected = ReadExpected(root / "expected.tsv");
  ASSERT_GT(expected.size(), 600u);

  const Figures crlf = ClassifyCorpus(root, expected, /*crlf=*/true);
  const Figures lf = ClassifyCorpus(root, expected, /*crlf=*/false);

  std::printf("--- CRLF line ends: files failing tier A\n");
  for (const std::string& d : crlf.diffs) std::printf("%s\n", d.c_str());
  std::printf("--- LF line ends: files failing tier A (expected vs got: status/reason/hard per row)\n");
  for (const std::string& d : lf.diffs) std::printf("%s\n", d.c_str());
  std::printf("%s\n", Summary("CRLF", crlf).c_str());
  std::printf("%s\n", Summary("LF", lf).c_str());
  std::printf(
      "sisimai tier A pass figure (LF, bar %.0f%% of rows): %.1f%% of rows (%zu/%zu), %.1f%% of files\n",
      kBarPercent, Percent(lf.rows_a, lf.rows), lf.rows_a, lf.rows, Percent(lf.files_a, lf.files));
  std::fflush(stdout);

  EXPECT_TRUE(lf.not_a_bounce_failures.empty()) << "ordinary mail was not classified normal (LF)";
  EXPECT_TRUE(crlf.not_a_bounce_failures.empty()) << "ordinary mail was not classified normal (CRLF)";
  EXPECT_GE(Percent(lf.rows_a, lf.rows), kBarPercent) << "tier A is below the bar";
}

}  // namespace
