#include "cli/commands.h"

#include <cstdio>
#include <string>

#include "base/exit_codes.h"
#include "cli/command_support.h"
#include "config/config.h"
#include "forum/migrations.h"
#include "forum/store.h"

namespace ctl {

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
  if (!store) return Fail("migrate", store.error());
  auto applied = (*store)->Migrate();
  if (!applied) return Fail("migrate", applied.error());
  for (int v : *applied) std::printf("applied migration %04d\n", v);
  std::printf("schema is at version %d\n", forum::RequiredSchemaVersion());
  return base::kExitOk;
}

}  // namespace ctl
