#include "tests/support/test_env.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace mftest {

std::optional<std::string> ServerEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

bool ServersRequired() {
  const char* v = std::getenv("MAILFORUM_TEST_REQUIRE_SERVERS");
  return v != nullptr && std::string(v) == "1";
}

std::string SourceDir() {
  const char* v = std::getenv("MAILFORUM_SOURCE_DIR");
  return v != nullptr ? std::string(v) : std::string(".");
}

namespace {

// Removes the directories MakeTempDir made when the test program ends, unless
// MAILFORUM_KEEP_TEST_DIRS is set (to inspect them after a failure).
class TempDirs {
 public:
  void Add(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mutex_);
    dirs_.push_back(dir);
  }
  ~TempDirs() {
    if (std::getenv("MAILFORUM_KEEP_TEST_DIRS") != nullptr) return;
    std::error_code ignored;
    for (const auto& d : dirs_) std::filesystem::remove_all(d, ignored);
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> dirs_;
};

TempDirs& Registry() {
  static TempDirs dirs;
  return dirs;
}

}  // namespace

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  Registry().Add(buf.data());
  return std::string(buf.data());
}

}  // namespace mftest
