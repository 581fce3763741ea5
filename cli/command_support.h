// What mailforumctl's subcommands have in common: loading the configuration,
// reaching the database, reading files, and turning errors into exit codes
// (base/exit_codes.h). Internal to cli/.
//
// Thread-safety: mailforumctl is single-threaded; these print to stderr.
#ifndef MAILFORUM_CLI_COMMAND_SUPPORT_H_
#define MAILFORUM_CLI_COMMAND_SUPPORT_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "base/result.h"
#include "config/config.h"
#include "forum/store.h"

namespace ctl {

// Loads the configuration at `path` and prints every diagnostic to stderr;
// the configuration when it has no errors, nullopt otherwise (exit 78).
std::optional<config::Config> LoadAndReport(const std::string& path);

// The exit code for `error`: 78 for configuration and schema errors, 75 for
// transient ones (the database is unreachable), 1 for permanent ones (no
// such object, not in that state), 65 for bad input, 70 otherwise.
int ExitCodeFor(const base::Error& error);

// Prints "mailforumctl COMMAND: message" to stderr and returns ExitCodeFor(error).
int Fail(const std::string& command, const base::Error& error);

// A connection to the configured database whose schema is the one this build
// needs. Errors: kTransient when PostgreSQL is unreachable, kConfig when the
// schema is missing, older or newer (the message names `mailforumctl migrate`).
base::Result<std::unique_ptr<forum::Store>> OpenStore(const config::Config& cfg);

// The bytes of the file at `path`. Errors: kInvalidInput when it cannot be read.
base::Result<std::string> ReadWholeFile(const std::string& path);

// `t` in UTC, formatted by strftime(3) `format`, e.g. "%Y-%m-%dT%H:%M:%SZ".
std::string UtcTime(std::chrono::system_clock::time_point t, const char* format);

// `text` made safe for a terminal: control characters (a sender may put
// escape sequences in a subject) become U+FFFD, and so do bytes that are
// not UTF-8.
std::string Printable(const std::string& text);

}  // namespace ctl

#endif  // MAILFORUM_CLI_COMMAND_SUPPORT_H_
