// `mailforumctl parse`, the real binary, over every file of every corpus under
// tests/corpus/ (issue 8, deliverable 10): it must never abort. Each run
// either prints JSON that parses (exit 0) or says why on stderr and exits 65
// (EX_DATAERR); a signal, a core dump or any other exit code fails the test.
// Only what is plainly not mail is skipped: the licences and notes of each
// corpus and the expected outputs (.json, expected.tsv) kept beside the mail.
// The text files of the trimmer corpora are bodies without a header; they are
// run too and must be refused with 65, not crash.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace {

namespace fs = std::filesystem;

constexpr int kExitOk = 0;
constexpr int kExitDataErr = 65;

bool PlainlyNotMail(const fs::path& path) {
  const std::string name = path.filename().string();
  return path.extension() == ".json" || name == "expected.tsv" || name == "SOURCE.txt" ||
         name.starts_with("LICENSE") || name.starts_with("COPYING") || name.starts_with("README");
}

TEST(ParseCorpusTest, MailforumctlParseNeverAbortsOnAnyCorpusFile) {
  const fs::path root = fs::path(mftest::SourceDir()) / "tests/corpus";
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file() && !PlainlyNotMail(entry.path())) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GT(files.size(), 900u) << "the corpora are missing under " << root;

  const std::string out = mftest::MakeTempDir("mfparse") + "/out.json";
  size_t json = 0;
  size_t refused = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const fs::path& file : files) {
    const std::string name = file.lexically_relative(root).string();
    // stdout to a file, so that the JSON is checked alone; stderr (the reason
    // for a refusal) comes back as the output.
    const mftest::CommandResult r = mftest::RunCommand(std::string(MAILFORUMCTL_PATH) + " parse " +
                                                       mftest::ShellQuote(file.string()) + " >" +
                                                       mftest::ShellQuote(out));
    if (r.exit_code == kExitDataErr) {
      ++refused;
      EXPECT_NE(r.output.find("mailforumctl parse: "), std::string::npos) << name << ": exit 65 without a reason";
      continue;
    }
    if (r.exit_code != kExitOk) {
      ADD_FAILURE() << name << ": exit " << r.exit_code << " (128 + n is signal n)\n" << r.output;
      continue;
    }
    const nlohmann::json parsed = nlohmann::json::parse(mftest::ReadFile(out), nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("classification")) {
      ADD_FAILURE() << name << ": exit 0 but stdout is not the message's JSON";
      continue;
    }
    ++json;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("mailforumctl parse over %zu corpus files: %zu printed JSON, %zu exit 65, %zu failed; %.1f s\n",
              files.size(), json, refused, files.size() - json - refused, seconds);
  // Most of the corpus is mail: a parser that refused everything would pass the checks above.
  EXPECT_GT(json, 650u);
}

}  // namespace
