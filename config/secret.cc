// The Reader functions that touch the file system and the environment:
// secrets and CA files. Secret values are handled only here, and no message
// built here contains one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "config/reader.h"

namespace config::internal {
namespace {

// A secret is a password, a DSN or a key: anything larger is the wrong file.
constexpr std::uint64_t kMaxSecretSize = 64 * 1024;

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string CannotRead(const std::string& path) {
  return "cannot read '" + path + "': " + std::strerror(errno);
}

void StripTrailingNewlines(std::string& value) {
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
}

bool IsEnvironmentName(const std::string& name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  }
  return true;
}

}  // namespace

FileContent ReadRegularFile(const std::string& path, std::uint64_t max_size) {
  FileContent out;
  // O_NONBLOCK: opening a FIFO must not hang the loader; it is refused below.
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  struct stat st {};
  if (fd.get() < 0 || fstat(fd.get(), &st) != 0) {
    out.error = CannotRead(path);
    return out;
  }
  out.mode = st.st_mode & 07777;
  if (!S_ISREG(st.st_mode)) {
    out.error = "'" + path + "' is not a regular file";
    return out;
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_size) {
    out.error = "'" + path + "' is larger than " + std::to_string(max_size) + " bytes";
    return out;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0 && out.data.size() <= max_size) {
    out.data.append(buf, static_cast<std::size_t>(n));
  }
  if (n < 0) {
    out.error = CannotRead(path);
    out.data.clear();
    return out;
  }
  out.ok = true;
  return out;
}

std::optional<std::string> Reader::ReadableFile(const Value& v) {
  auto path = FilePath(v);
  if (!path) return std::nullopt;
  const std::string& resolved = *path;
  FileDescriptor fd(open(resolved.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    Error(v.mark, v.key + ": " + CannotRead(resolved));
    return std::nullopt;
  }
  return resolved;
}

std::optional<Secret> Reader::SecretFromFile(const Value& v) {
  auto path = FilePath(v);
  if (!path) return std::nullopt;
  const std::string& resolved = *path;
  FileContent file = ReadRegularFile(resolved, kMaxSecretSize);
  if (!file.ok) {
    Error(v.mark, v.key + ": " + file.error);
    return std::nullopt;
  }
  StripTrailingNewlines(file.data);
  if (file.data.empty()) {
    Error(v.mark, v.key + ": '" + resolved + "' is empty");
    return std::nullopt;
  }
  if ((file.mode & S_IROTH) != 0) {
    char mode[16];
    std::snprintf(mode, sizeof mode, "%04o", file.mode & 07777u);
    Warning(v.mark, v.key + ": '" + resolved + "' can be read by every user (mode " + mode +
                        "); run: chmod o-r " + resolved);
  }
  return Secret(std::move(file.data), "file " + resolved);
}

std::optional<Secret> Reader::SecretFromEnv(const Value& v) {
  auto name = String(v);
  if (!name) return std::nullopt;
  if (!IsEnvironmentName(*name)) {
    // Not echoed: a value that is no variable name may be the secret itself, written in the wrong key.
    Error(v.mark, v.key + ": expected the name of an environment variable (letters, digits and '_')");
    return std::nullopt;
  }
  const char* value = std::getenv(name->c_str());
  if (value == nullptr) {
    Error(v.mark, v.key + ": environment variable '" + *name + "' is not set");
    return std::nullopt;
  }
  std::string secret(value);
  StripTrailingNewlines(secret);
  if (secret.empty()) {
    Error(v.mark, v.key + ": environment variable '" + *name + "' is empty");
    return std::nullopt;
  }
  return Secret(std::move(secret), "environment variable " + *name);
}

std::optional<Secret> Reader::SecretNotRead(const Value& v, bool env) {
  auto text = String(v);
  if (!text) return std::nullopt;
  if (env) {
    if (!IsEnvironmentName(*text)) {
      Error(v.mark, v.key + ": expected the name of an environment variable (letters, digits and '_')");
      return std::nullopt;
    }
    return Secret("", "environment variable " + *text + " (not read)");
  }
  auto path = FilePath(v);
  if (!path) return std::nullopt;
  return Secret("", "file " + *path + " (not read)");
}

}  // namespace config::internal
