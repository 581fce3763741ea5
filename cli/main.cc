// mailforumctl: the admin tool. A table of subcommands (name, description,
// what it takes, handler); each handler lives in cli/commands.h.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/exit_codes.h"
#include "cli/commands.h"
#include "mail/library_init.h"

namespace {

// Everything a subcommand may take; each reads only what it declares.
struct Arguments {
  std::string config_path;  // -c, --config FILE
  std::string file;         // a message file
  std::string mailbox;      // --mailbox NAME
  std::string target;       // a Message-ID or an address
  std::string address;      // an address
  int64_t id = 0;           // an inbound message id or an outbox row id
  std::string status;       // --status S
  bool json = false;        // --json
};

// What a subcommand takes besides its name (a set of these bits).
enum Takes : unsigned {
  kConfig = 1u << 0,
  kFile = 1u << 1,
  kMailbox = 1u << 2,
  kTarget = 1u << 3,
  kId = 1u << 4,
  kJson = 1u << 5,
  kOutboxId = 1u << 6,
  kStatus = 1u << 7,
  kAddress = 1u << 8,
  kOptionalMailbox = 1u << 9,  // --mailbox NAME, not required
};

struct Command {
  const char* group;  // the parent command ("quarantine"), or nullptr for a top-level one
  const char* name;
  const char* description;
  unsigned takes;
  std::function<int(const Arguments&)> run;
};

// What the groups of subcommands are for.
const std::map<std::string, std::string>& GroupDescriptions() {
  static const std::map<std::string, std::string> kGroups = {
      {"quarantine", "list, show or retry quarantined messages"},
      {"outbox", "list outbound mail and its fate, or requeue one"},
      {"suppressions", "list or clear the bounce scores that stop mail to an address"},
      {"subscriptions", "list or clear what an address unsubscribed from"},
  };
  return kGroups;
}

ctl::Format FormatOf(const Arguments& a) { return a.json ? ctl::Format::kJson : ctl::Format::kText; }

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {nullptr, "check-config", "validate a configuration file; exit 0, or 78 with file:line:col errors",
       kConfig, [](const Arguments& a) { return ctl::CheckConfig(a.config_path); }},
      {nullptr, "migrate", "upgrade the database schema to this version of mailforum", kConfig,
       [](const Arguments& a) { return ctl::Migrate(a.config_path); }},
      {nullptr, "parse", "print what mailforum makes of a message file, as JSON", kFile,
       [](const Arguments& a) { return ctl::ParseFile(a.file); }},
      {nullptr, "trim", "trim quoted history and signature from a body on standard input", 0,
       [](const Arguments&) { return ctl::TrimStdin(); }},
      {nullptr, "route", "dry run: what the daemon would do with a message in a mailbox (changes nothing)",
       kConfig | kMailbox | kFile | kJson,
       [](const Arguments& a) { return ctl::Route(a.config_path, a.mailbox, a.file, FormatOf(a)); }},
      {nullptr, "trace", "the life of a message (by Message-ID) or what is known about an address",
       kConfig | kTarget | kJson,
       [](const Arguments& a) { return ctl::Trace(a.config_path, a.target, FormatOf(a)); }},
      {nullptr, "test-connection",
       "check the database, every mailbox's IMAP server (or --mailbox's) and SMTP as the daemon will use "
       "them; exit 0 only when all work",
       kConfig | kOptionalMailbox,
       [](const Arguments& a) { return ctl::TestConnection(a.config_path, a.mailbox); }},
      {nullptr, "status", "each mailbox's health and the outbox backlog, as /healthz reports them",
       kConfig | kJson, [](const Arguments& a) { return ctl::Status(a.config_path, FormatOf(a)); }},
      {"quarantine", "list", "list the quarantined messages", kConfig | kJson,
       [](const Arguments& a) { return ctl::QuarantineList(a.config_path, FormatOf(a)); }},
      {"quarantine", "show", "a quarantined message's reason (stderr) and raw bytes (stdout)", kConfig | kId,
       [](const Arguments& a) { return ctl::QuarantineShow(a.config_path, a.id); }},
      {"quarantine", "retry",
       "run a quarantined message through the pipeline again with the current configuration",
       kConfig | kId | kJson,
       [](const Arguments& a) { return ctl::QuarantineRetry(a.config_path, a.id, FormatOf(a)); }},
      {"outbox", "list", "outbound mail not yet sent (or with --status), newest first",
       kConfig | kStatus | kJson,
       [](const Arguments& a) { return ctl::OutboxList(a.config_path, a.status, FormatOf(a)); }},
      {"outbox", "retry", "send an outbound mail again (same Message-ID and bytes)", kConfig | kOutboxId,
       [](const Arguments& a) { return ctl::OutboxRetry(a.config_path, a.id); }},
      {"suppressions", "list", "addresses with a bounce score, and which get no more mail", kConfig | kJson,
       [](const Arguments& a) { return ctl::SuppressionsList(a.config_path, FormatOf(a)); }},
      {"suppressions", "clear", "forget an address's bounce score, so that mail to it is sent again",
       kConfig | kAddress,
       [](const Arguments& a) { return ctl::SuppressionsClear(a.config_path, a.address); }},
      {"subscriptions", "list", "what an address unsubscribed from (threads, categories, acknowledgements)",
       kConfig | kAddress | kJson,
       [](const Arguments& a) { return ctl::SubscriptionsList(a.config_path, a.address, FormatOf(a)); }},
      {"subscriptions", "clear", "forget an address's unsubscriptions, so that it gets all its mail again",
       kConfig | kAddress,
       [](const Arguments& a) { return ctl::SubscriptionsClear(a.config_path, a.address); }},
  };
  return kCommands;
}

}  // namespace

int main(int argc, char** argv) {
  mail::InitializeMailLibraries();
  CLI::App app{"mailforumctl: administer a mailforum email-to-forum gateway"};
  app.require_subcommand(1);
  Arguments args;
  int exit_code = base::kExitOk;
  std::map<std::string, CLI::App*> groups;
  for (const Command& command : Commands()) {
    CLI::App* parent = &app;
    if (command.group != nullptr) {
      CLI::App*& group = groups[command.group];
      if (group == nullptr) {
        group = app.add_subcommand(command.group, GroupDescriptions().at(command.group));
        group->require_subcommand(1);
        // `quarantine -c FILE list` and `quarantine list -c FILE` both work.
        group->fallthrough();
        group->add_option("-c,--config", args.config_path, "configuration file")->required();
      }
      parent = group;
    }
    CLI::App* sub = parent->add_subcommand(command.name, command.description);
    if ((command.takes & kConfig) && command.group == nullptr) {
      sub->add_option("-c,--config", args.config_path, "configuration file")->required();
    }
    if (command.takes & kMailbox) sub->add_option("--mailbox", args.mailbox, "mailbox name")->required();
    if (command.takes & kOptionalMailbox) {
      sub->add_option("--mailbox", args.mailbox, "check only this mailbox (and the database and SMTP)");
    }
    if (command.takes & kFile) sub->add_option("file", args.file, "message file (.eml)")->required();
    if (command.takes & kTarget) {
      sub->add_option("target", args.target, "a Message-ID (<...> optional) or an address")->required();
    }
    if (command.takes & kId) sub->add_option("id", args.id, "inbound message id")->required();
    if (command.takes & kOutboxId) {
      sub->add_option("id", args.id, "outbound mail id (outbox list)")->required();
    }
    if (command.takes & kAddress) sub->add_option("address", args.address, "an email address")->required();
    if (command.takes & kStatus) {
      sub->add_option("--status", args.status, "pending, sent, failed, suppressed, bounced or all");
    }
    if (command.takes & kJson) sub->add_flag("--json", args.json, "print JSON for machines");
    sub->callback([&command, &args, &exit_code] { exit_code = command.run(args); });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? base::kExitOk : base::kExitUsage;
  }
  return exit_code;
}
