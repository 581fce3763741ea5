#include "daemon/app.h"

#include <signal.h>

#include <string>
#include <vector>

#include "base/exit_codes.h"
#include "base/log.h"
#include "config/config.h"
#include "daemon/systemd_notify.h"
#include "forum/model.h"
#include "forum/store.h"

namespace mailforumd {
namespace {

void ReportDiagnostics(const config::LoadResult& loaded) {
  for (const auto& d : loaded.diagnostics) {
    if (d.severity == config::Diagnostic::Severity::kError) {
      base::LogError(d.ToString());
    } else {
      base::LogWarning(d.ToString());
    }
  }
}

std::vector<forum::Category> ForumCategories(const config::Config& cfg) {
  std::vector<forum::Category> out;
  for (const auto& c : cfg.categories) out.push_back(forum::Category{c.slug, c.name, c.description});
  return out;
}

int ExitCodeFor(const base::Error& error) {
  switch (error.kind) {
    case base::ErrorKind::kConfig: return base::kExitConfig;
    case base::ErrorKind::kTransient: return base::kExitTempFail;
    default: return base::kExitSoftware;
  }
}

// Connects, checks the schema and synchronises categories.
int PrepareDatabase(const config::Config& cfg) {
  auto store = forum::Store::Connect(cfg.database.dsn.reveal());
  if (!store) {
    base::LogError(store.error().message);
    return ExitCodeFor(store.error());
  }
  if (auto schema = (*store)->CheckSchema(); !schema.ok()) {
    base::LogError(schema.error().message);
    return ExitCodeFor(schema.error());
  }
  if (auto synced = (*store)->SyncCategories(ForumCategories(cfg)); !synced.ok()) {
    base::LogError(synced.error().message);
    return ExitCodeFor(synced.error());
  }
  return base::kExitOk;
}

}  // namespace

int Run(const Options& options) {
  config::LoadResult loaded = config::LoadConfigFile(options.config_path);
  ReportDiagnostics(loaded);
  if (!loaded.ok()) {
    base::LogError("not starting: " + options.config_path + " has errors (check with `mailforumctl check-config -c " +
                   options.config_path + "`)");
    return base::kExitConfig;
  }
  config::Config cfg = std::move(*loaded.config);
  base::SetLogLevel(cfg.log.level);

  if (int rc = PrepareDatabase(cfg); rc != base::kExitOk) return rc;
  base::LogInfo("mailforumd started: " + std::to_string(cfg.mailboxes.size()) + " mailbox(es), " +
                std::to_string(cfg.categories.size()) + " categories");
  if (options.once) {
    base::LogInfo("--once: ingestion is not implemented yet (see README, Status); exiting");
    return base::kExitOk;
  }
  NotifyReady("running");

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  for (;;) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      NotifyReloading();
      config::LoadResult reloaded = config::LoadConfigFile(options.config_path);
      ReportDiagnostics(reloaded);
      if (reloaded.ok()) {
        cfg = std::move(*reloaded.config);
        base::SetLogLevel(cfg.log.level);
        base::LogInfo("configuration reloaded from " + options.config_path);
      } else {
        base::LogError("reload failed: keeping the previous configuration");
      }
      NotifyReady("running");
      continue;
    }
    base::LogInfo(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    NotifyStopping();
    return base::kExitOk;
  }
}

}  // namespace mailforumd
