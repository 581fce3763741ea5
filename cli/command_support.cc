#include "cli/command_support.h"

#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>

#include "base/exit_codes.h"

namespace ctl {

std::optional<config::Config> LoadAndReport(const std::string& path) {
  config::LoadResult loaded = config::LoadConfigFile(path);
  for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
  return std::move(loaded.config);
}

int ExitCodeFor(const base::Error& error) {
  switch (error.kind) {
    case base::ErrorKind::kConfig:
      return base::kExitConfig;
    case base::ErrorKind::kTransient:
      return base::kExitTempFail;
    case base::ErrorKind::kPermanent:
      return base::kExitFailure;
    case base::ErrorKind::kInvalidInput:
      return base::kExitDataErr;
    default:
      return base::kExitSoftware;
  }
}

int Fail(const std::string& command, const base::Error& error) {
  std::fprintf(stderr, "mailforumctl %s: %s\n", command.c_str(), error.message.c_str());
  return ExitCodeFor(error);
}

base::Result<std::unique_ptr<forum::Store>> OpenStore(const config::Config& cfg) {
  auto store = forum::Store::Connect(cfg.database.dsn.reveal());
  if (!store) return store.error();
  if (auto schema = (*store)->CheckSchema(); !schema) return schema.error();
  return store;
}

base::Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return base::MakeError(base::ErrorKind::kInvalidInput, "cannot read " + path);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return base::MakeError(base::ErrorKind::kInvalidInput, "cannot read " + path);
  return bytes;
}

std::string UtcTime(std::chrono::system_clock::time_point t, const char* format) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

std::string Printable(const std::string& text) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    if (!valid) {
      out += kReplacement;
      ++i;
      continue;
    }
    // C0 controls, DEL and the C1 controls (U+0080..U+009F, encoded C2 80..C2 9F).
    const bool control = (len == 1 && (c < 0x20 || c == 0x7F)) ||
                         (len == 2 && c == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0);
    if (control) {
      out += kReplacement;
    } else {
      out.append(text, i, len);
    }
    i += len;
  }
  return out;
}

}  // namespace ctl
