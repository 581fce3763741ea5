#include "cli/test_config.h"

#include <regex>
#include <set>

#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace mftest {

std::string InstallExampleConfig(const std::string& dir, const std::string& dsn) {
  std::string text = ReadFile(SourceDir() + "/systemd/mailforum.example.yaml");
  // Outside systemd (CREDENTIALS_DIRECTORY unset) the example's secrets are /etc/mailforum's.
  text = std::regex_replace(text, std::regex(R"(\$\{CREDENTIALS_DIRECTORY:-/etc/mailforum\}/)"), "/etc/mailforum/");
  std::string dsn_file;
  std::set<std::string> files;
  static const std::regex kPath(R"(/etc/mailforum/[A-Za-z0-9._-]+)");
  static const std::regex kDsnFile(R"(dsn_file:\s*(/etc/mailforum/[A-Za-z0-9._-]+))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kPath); it != std::sregex_iterator(); ++it) {
    files.insert(it->str());
  }
  std::smatch m;
  if (std::regex_search(text, m, kDsnFile)) dsn_file = m[1].str();
  for (const std::string& f : files) {
    const std::string local = dir + "/" + f.substr(std::string("/etc/mailforum/").size());
    WriteFile(local, f == dsn_file
                         ? dsn + "\n"
                         : "test-secret-of-at-least-thirty-two-bytes-" + std::to_string(files.size()) + "\n");
  }
  text = std::regex_replace(text, std::regex("/etc/mailforum/"), dir + "/");
  const std::string path = dir + "/mailforum.yaml";
  WriteFile(path, text, 0644);
  return path;
}

namespace {

// Replaces the first occurrence of `from` in `text`; returns false when absent.
bool ReplaceOnce(std::string& text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  if (at == std::string::npos) return false;
  text.replace(at, from.size(), to);
  return true;
}

}  // namespace

bool PointAtTestServers(const std::string& path) {
  const auto imaps = ServerEnv("MAILFORUM_TEST_IMAPS_PORT");
  const auto smtp = ServerEnv("MAILFORUM_TEST_SMTP_PORT");
  const auto ca = ServerEnv("MAILFORUM_TEST_CA_FILE");
  const auto password = ServerEnv("MAILFORUM_TEST_IMAP_PASSWORD");
  if (!imaps || !smtp || !ca || !password) return false;
  std::string text = ReadFile(path);
  bool ok = ReplaceOnce(text, "host: smtp.example.com", "host: localhost") &&
            ReplaceOnce(text, "port: 587", "port: " + *smtp) &&
            ReplaceOnce(text, "# ca_file: /etc/ssl/certs/ca-certificates.crt", "ca_file: " + *ca) &&
            ReplaceOnce(text, "host: imap.example.com", "host: localhost") &&
            ReplaceOnce(text, "port: 993", "port: " + *imaps) &&
            ReplaceOnce(text, "tls: implicit", "tls: implicit\n      ca_file: " + *ca);
  if (!ok) return false;
  WriteFile(path, text, 0644);
  // The IMAP password file sits beside the configuration (InstallExampleConfig moved it there).
  const std::string dir = path.substr(0, path.rfind('/'));
  WriteFile(dir + "/imap.pass", *password + "\n");
  return true;
}

}  // namespace mftest
