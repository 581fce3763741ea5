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
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
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

  // Two runs at a time (a process start costs more than the parse): each
  // worker takes the next file and writes its stdout to its own file.
  constexpr int kWorkers = 2;
  const std::string dir = mftest::MakeTempDir("mfparse");
  std::atomic<size_t> next{0};
  std::atomic<size_t> json{0};
  std::atomic<size_t> refused{0};
  std::mutex mutex;
  std::vector<std::string> failures;  // guarded by mutex
  auto fail = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex);
    failures.push_back(what);
  };
  auto work = [&](int worker) {
    const std::string out = dir + "/out" + std::to_string(worker) + ".json";
    for (size_t i = next++; i < files.size(); i = next++) {
      const std::string name = files[i].lexically_relative(root).string();
      // stdout to a file, so that the JSON is checked alone; stderr (the
      // reason for a refusal) comes back as the output.
      const mftest::CommandResult r = mftest::RunCommand(std::string(MAILFORUMCTL_PATH) + " parse " +
                                                         mftest::ShellQuote(files[i].string()) + " >" +
                                                         mftest::ShellQuote(out));
      if (r.exit_code == kExitDataErr) {
        ++refused;
        if (r.output.find("mailforumctl parse: ") == std::string::npos) fail(name + ": exit 65 without a reason");
        continue;
      }
      if (r.exit_code != kExitOk) {
        fail(name + ": exit " + std::to_string(r.exit_code) + " (128 + n is signal n)\n" + r.output);
        continue;
      }
      const nlohmann::json parsed =
          nlohmann::json::parse(mftest::ReadFile(out), nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("classification")) {
        fail(name + ": exit 0 but stdout is not the message's JSON");
        continue;
      }
      ++json;
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) workers.emplace_back(work, w);
  for (std::thread& t : workers) t.join();
  for (const std::string& f : failures) ADD_FAILURE() << f;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("mailforumctl parse over %zu corpus files: %zu printed JSON, %zu exit 65, %zu failed; %.1f s\n",
              files.size(), json.load(), refused.load(), failures.size(), seconds);
  // Most of the corpus is mail: a parser that refused everything would pass the checks above.
  EXPECT_GT(json.load(), 650u);
}

// What is not a readable email at all: refused with a reason and 65, never an abort (a directory used to
// throw from the file stream).
TEST(ParseCorpusTest, UnreadableInputIsRefusedWith65) {
  const std::string dir = mftest::MakeTempDir("mfparse");
  mftest::WriteFile(dir + "/empty.eml", "");
  for (const std::string& path : {dir, dir + "/missing.eml", dir + "/empty.eml"}) {
    const mftest::CommandResult r =
        mftest::RunCommand(std::string(MAILFORUMCTL_PATH) + " parse " + mftest::ShellQuote(path));
    EXPECT_EQ(r.exit_code, kExitDataErr) << path << "\n" << r.output;
    EXPECT_TRUE(r.output.starts_with("mailforumctl parse: ")) << r.output;
    EXPECT_NE(r.output.find(path), std::string::npos) << r.output;
  }
}

}  // namespace
