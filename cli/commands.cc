#include "cli/commands.h"

#include <cstdio>
#include <string>

#include "base/exit_codes.h"
#include "config/config.h"
#include "forum/migrations.h"
#include "forum/store.h"

namespace ctl {
namespace {

// Prints the diagnostics to stderr; returns the configuration when it has no errors.
std::optional<config::Config> LoadAndReport(const std::string& path) {
  config::LoadResult loaded = config::LoadConfigFile(path);
  for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.ToString().c_str());
  return std::move(loaded.config);
}

int ExitCodeFor(const base::Error& error) {
  switch (error.kind) {
    case base::ErrorKind::kConfig: return base::kExitConfig;
    case base::ErrorKind::kTransient: return base::kExitTempFail;
    default: return base::kExitSoftware;
  }
}

}  // namespace

int CheckConfig(const std::string& config_path) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  std::printf("%s: ok (%zu mailbox(es), %zu categories)\n", config_path.c_str(), cfg->mailboxes.size(),
              cfg->categories.size());
  return base::kExitOk;
}

int Migrate(const std::string& config_path) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = forum::Store::Connect(cfg->database.dsn.reveal());
  if (!store) {
    std::fprintf(stderr, "mailforumctl migrate: %s\n", store.error().message.c_str());
    return ExitCodeFor(store.error());
  }
  auto applied = (*store)->Migrate();
  if (!applied) {
    std::fprintf(stderr, "mailforumctl migrate: %s\n", applied.error().message.c_str());
    return ExitCodeFor(applied.error());
  }
  for (int v : *applied) std::printf("applied migration %04d\n", v);
  std::printf("schema is at version %d\n", forum::RequiredSchemaVersion());
  return base::kExitOk;
}

}  // namespace ctl
