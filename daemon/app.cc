#include "daemon/app.h"

#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/exit_codes.h"
#include "base/log.h"
#include "config/config.h"
#include "daemon/mailbox_worker.h"
#include "daemon/pipeline_config.h"
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

mail::ImapOptions::Tls ImapTls(config::TlsMode mode) {
  switch (mode) {
    case config::TlsMode::kImplicit: return mail::ImapOptions::Tls::kImplicit;
    case config::TlsMode::kStartTls: return mail::ImapOptions::Tls::kStartTls;
    case config::TlsMode::kNone: return mail::ImapOptions::Tls::kNone;
  }
  return mail::ImapOptions::Tls::kImplicit;
}

WorkerOptions WorkerOptionsFor(const config::Config& cfg, const config::MailboxConfig& box) {
  WorkerOptions o;
  o.imap.host = box.imap.host;
  o.imap.port = box.imap.port;
  o.imap.tls = ImapTls(box.imap.tls);
  o.imap.ca_file = box.imap.ca_file;
  o.imap.tls_sha256 = box.imap.tls_sha256;
  o.imap.username = box.imap.username;
  if (box.imap.password) o.imap.password = box.imap.password->reveal();
  o.folder = box.imap.folder;
  o.idle = box.imap.idle;
  o.poll_interval = box.imap.poll_interval;
  switch (box.after.action) {
    case config::AfterAction::kSeen: o.after = WorkerOptions::After::kSeen; break;
    case config::AfterAction::kMove: o.after = WorkerOptions::After::kMove; break;
    case config::AfterAction::kDelete: o.after = WorkerOptions::After::kDelete; break;
  }
  o.after_folder = box.after.folder;
  o.quarantine_folder = box.quarantine_folder;
  o.import_max_age = box.import_max_age;
  o.dsn = cfg.database.dsn.reveal();
  o.domain = cfg.instance.domain;

  o.pipeline = PipelineConfigFor(cfg, box);
  return o;
}

// --once: one pass over every mailbox, in parallel. 0 when all succeeded, 75 otherwise.
int RunOnce(const config::Config& cfg) {
  std::vector<std::unique_ptr<MailboxWorker>> workers;
  for (const auto& box : cfg.mailboxes) workers.push_back(std::make_unique<MailboxWorker>(WorkerOptionsFor(cfg, box)));
  std::vector<base::Status> results(workers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = workers[i]->RunOnce(); });
  }
  for (auto& t : threads) t.join();
  int rc = base::kExitOk;
  for (const auto& r : results) {
    if (!r.ok()) {
      base::LogError(r.error().message);
      rc = base::kExitTempFail;
    }
  }
  return rc;
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
  if (options.once) return RunOnce(cfg);

  std::vector<std::unique_ptr<MailboxWorker>> workers;
  std::vector<std::thread> threads;
  for (const auto& box : cfg.mailboxes) {
    workers.push_back(std::make_unique<MailboxWorker>(WorkerOptionsFor(cfg, box)));
    threads.emplace_back([w = workers.back().get()] { w->Run(); });
  }
  auto stop_workers = [&] {
    for (auto& w : workers) w->Stop();
    for (auto& t : threads) t.join();
  };
  NotifyReady("running " + std::to_string(workers.size()) + " mailbox worker(s)");

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
        // Restart the workers with the new configuration; mail in flight is safe (committed or not yet fetched).
        stop_workers();
        workers.clear();
        threads.clear();
        cfg = std::move(*reloaded.config);
        base::SetLogLevel(cfg.log.level);
        if (PrepareDatabase(cfg) != base::kExitOk) base::LogError("reload: the database is not ready; workers retry");
        for (const auto& box : cfg.mailboxes) {
          workers.push_back(std::make_unique<MailboxWorker>(WorkerOptionsFor(cfg, box)));
          threads.emplace_back([w = workers.back().get()] { w->Run(); });
        }
        base::LogInfo("configuration reloaded from " + options.config_path);
      } else {
        base::LogError("reload failed: keeping the previous configuration");
      }
      NotifyReady("running");
      continue;
    }
    base::LogInfo(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    NotifyStopping();
    stop_workers();
    return base::kExitOk;
  }
}

}  // namespace mailforumd
