// mailforumctl's subcommands, each a function returning the process exit code
// (base/exit_codes.h). Output for people goes to stdout; diagnostics to stderr.
#ifndef MAILFORUM_CLI_COMMANDS_H_
#define MAILFORUM_CLI_COMMANDS_H_

#include <string>

namespace ctl {

// check-config -c FILE: prints every diagnostic as file:line:col: message;
// 0 when the file has no errors (warnings allowed), 78 otherwise.
int CheckConfig(const std::string& config_path);

// migrate -c FILE: upgrades the database named by the configuration to this
// build's schema. 0 when current afterwards; 78 for a bad configuration or a
// newer schema; 75 when PostgreSQL is unreachable.
int Migrate(const std::string& config_path);

}  // namespace ctl

#endif  // MAILFORUM_CLI_COMMANDS_H_
