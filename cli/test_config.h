// For mailforumctl's integration tests: the example configuration installed
// into a scratch directory. Test-only (mf_cli_testing).
#ifndef MAILFORUM_CLI_TEST_CONFIG_H_
#define MAILFORUM_CLI_TEST_CONFIG_H_

#include <string>

namespace mftest {

// Writes systemd/mailforum.example.yaml (from the source tree) to
// `dir`/mailforum.yaml with /etc/mailforum/ moved into `dir`, creates every
// secret file it names there (mode 0600), the database DSN file holding
// `dsn`, and returns the configuration's path. Throws std::runtime_error
// when a file cannot be read or written.
std::string InstallExampleConfig(const std::string& dir, const std::string& dsn);

// Rewrites the installed example at `path` to use the test servers of
// scripts/test instead of imap.example.com and smtp.example.com (tests must
// not reach any host but 127.0.0.1): localhost with the test ports, the test
// CA, and the test IMAP password. Returns false when the MAILFORUM_TEST_*
// variables are missing.
bool PointAtTestServers(const std::string& path);

}  // namespace mftest

#endif  // MAILFORUM_CLI_TEST_CONFIG_H_
