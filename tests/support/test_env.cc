#include "tests/support/test_env.h"

#include <cstdlib>
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

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
  return std::string(buf.data());
}

}  // namespace mftest
