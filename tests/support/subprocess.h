// Runs a program for a test and captures what it printed. Test-only.
#ifndef MAILFORUM_TESTS_SUPPORT_SUBPROCESS_H_
#define MAILFORUM_TESTS_SUPPORT_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace mftest {

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal number when killed
  std::string output;  // standard output and standard error, interleaved
};

// Runs `shell_command` with /bin/sh -c, stdin from /dev/null.
CommandResult RunCommand(const std::string& shell_command);

// Starts `program` (a path) with `args` (argv[1]...) and the variables `env` added to the environment,
// stdin from /dev/null and its output appended to `log`; returns the child's pid (the caller waits for it).
pid_t Spawn(const std::string& program, const std::vector<std::string>& args, const std::string& log,
            const std::vector<std::pair<std::string, std::string>>& env = {});

// Quotes `arg` for /bin/sh.
std::string ShellQuote(const std::string& arg);

// Writes `content` to `path` with permission bits `mode`; throws std::runtime_error on failure.
void WriteFile(const std::string& path, const std::string& content, int mode = 0600);

// The whole file; throws std::runtime_error when it cannot be read.
std::string ReadFile(const std::string& path);

// `promtool check metrics` (Debian's prometheus package) on `text`: exit code 0 when it passed.
// Under MAILFORUM_TEST_REQUIRE_SERVERS a missing promtool is a failure like any other.
CommandResult PromtoolCheckMetrics(const std::string& text);

}  // namespace mftest

#endif  // MAILFORUM_TESTS_SUPPORT_SUBPROCESS_H_
