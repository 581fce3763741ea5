// mailforumctl: the admin tool. A table of subcommands (name, description,
// handler); each handler lives in cli/commands.h.
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "base/exit_codes.h"
#include "cli/commands.h"
#include "mail/library_init.h"

namespace {

struct Command {
  const char* name;
  const char* description;
  bool needs_config;
  std::function<int(const std::string& config_path)> run;
};

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"check-config", "validate a configuration file; exit 0, or 78 with file:line:col errors", true,
       ctl::CheckConfig},
      {"migrate", "upgrade the database schema to this version of mailforum", true, ctl::Migrate},
  };
  return kCommands;
}

}  // namespace

int main(int argc, char** argv) {
  mail::InitializeMailLibraries();
  CLI::App app{"mailforumctl: administer a mailforum email-to-forum gateway"};
  app.require_subcommand(1);
  std::string config_path;
  int exit_code = base::kExitOk;
  for (const Command& command : Commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.description);
    if (command.needs_config) {
      sub->add_option("-c,--config", config_path, "configuration file")->required();
    }
    sub->callback([&command, &config_path, &exit_code] { exit_code = command.run(config_path); });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? base::kExitOk : base::kExitUsage;
  }
  return exit_code;
}
