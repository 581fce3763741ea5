#include "daemon/app.h"

#include <getopt.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/exit_codes.h"
#include "base/log.h"
#include "base/memory.h"
#include "base/metrics.h"
#include "config/config.h"
#include "daemon/heartbeat.h"
#include "daemon/mailbox_worker.h"
#include "daemon/outbox_worker.h"
#include "daemon/reload_plan.h"
#include "daemon/systemd_notify.h"
#include "daemon/web_service.h"
#include "engine/mail_options_from_config.h"
#include "engine/pipeline_config.h"
#include "forum/model.h"
#include "forum/store.h"
#include "mail/library_init.h"
#include "mail/reply_token.h"

namespace mailforumd {
namespace {

using Deadline = std::chrono::steady_clock::time_point;

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
  for (const auto& c : cfg.categories) out.push_back(forum::Category{c.slug, c.name, c.description, c.is_public});
  return out;
}

int ExitCodeFor(const base::Error& error) {
  switch (error.kind) {
    case base::ErrorKind::kConfig: return base::kExitConfig;
    case base::ErrorKind::kTransient: return base::kExitTempFail;
    default: return base::kExitSoftware;
  }
}

// The public reply address of a thread (what the web shows in its mailto: link).
std::function<std::string(int64_t)> ReplyAddressFor(const config::Config& cfg) {
  return [reply_to = cfg.smtp.reply_to, key = cfg.secrets.reply_key.reveal()](int64_t thread_id) {
    if (thread_id <= 0 || static_cast<uint64_t>(thread_id) > mail::kMaxTokenThreadId) return std::string();
    return engine::BareAddress(mail::ReplyAddress(reply_to, static_cast<uint64_t>(thread_id), key));
  };
}

// Connects, checks the schema, synchronises categories, applies the search
// language and gives threads without one their public reply address.
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
  // Without web: the index still exists (for a web started later): 'simple'.
  if (auto language = (*store)->SetSearchLanguage(cfg.web.enabled ? cfg.web.search_language : "simple");
      !language.ok()) {
    base::LogError("web.search_language: " + language.error().message);
    return ExitCodeFor(language.error());
  }
  const auto address_for = ReplyAddressFor(cfg);
  for (;;) {
    auto filled = (*store)->FillReplyAddresses(address_for, 1000);
    if (!filled) {
      base::LogError(filled.error().message);
      return ExitCodeFor(filled.error());
    }
    if (*filled < 1000) break;
  }
  return base::kExitOk;
}

OutboxOptions OutboxOptionsFor(const config::Config& cfg) {
  OutboxOptions o;
  o.dsn = cfg.database.dsn.reveal();
  o.smtp = engine::SmtpOptionsFor(cfg.smtp);
  o.from = cfg.smtp.from;
  o.reply_to_template = cfg.smtp.reply_to;
  o.reply_key = cfg.secrets.reply_key.reveal();
  o.bounce_template = engine::VerpTemplate(cfg);
  o.instance_name = cfg.instance.name;
  o.base_url = cfg.instance.base_url;
  o.domain = cfg.instance.domain;
  if (cfg.instance.base_url.starts_with("https://")) o.unsubscribe_base_url = cfg.instance.base_url;
  for (const auto& c : cfg.categories)
    o.list_addresses.insert(o.list_addresses.end(), c.lists.begin(), c.lists.end());
  o.batch = cfg.outbox.batch;
  o.lease = cfg.outbox.lease;
  o.retry_base = cfg.outbox.retry_base;
  o.max_age = cfg.outbox.max_age;
  o.suppress_score = cfg.outbox.suppress_score;
  o.loop_breaker.address_threshold = cfg.outbox.loop_threshold;
  o.loop_breaker.domain_threshold = cfg.outbox.loop_domain_threshold;
  o.loop_breaker.window = cfg.outbox.loop_window;
  o.loop_breaker.cooldown = cfg.outbox.loop_cooldown;
  return o;
}

WorkerOptions WorkerOptionsFor(const config::Config& cfg, const config::MailboxConfig& box) {
  WorkerOptions o;
  o.imap = engine::ImapOptionsFor(box);
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
  o.quarantine_keep_bytes = cfg.limits.quarantine_keep_bytes;
  o.max_batch_bytes = cfg.limits.max_batch_bytes;
  o.reply_address_for = ReplyAddressFor(cfg);

  o.pipeline = engine::PipelineConfigFor(cfg, box);
  return o;
}

// --once: one pass over every mailbox, in parallel, then the outbound mail
// that is due. 0 when all succeeded, 75 otherwise.
int RunOnce(const config::Config& cfg, const Options& run) {
  const auto database = std::make_shared<MailboxDatabase>(cfg.database.dsn.reveal(),
                                                          static_cast<size_t>(cfg.database.mailbox_pool));
  std::vector<std::unique_ptr<MailboxWorker>> workers;
  for (const auto& box : cfg.mailboxes) {
    WorkerOptions options = WorkerOptionsFor(cfg, box);
    options.database = database;
    options.before_decide = run.before_decide;
    workers.push_back(std::make_unique<MailboxWorker>(std::move(options)));
  }
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
  auto sent = OutboxWorker(OutboxOptionsFor(cfg)).RunOnce();
  if (!sent) {
    base::LogError(sent.error().message);
    return base::kExitTempFail;
  }
  base::LogInfo("outbox: " + std::to_string(sent->sent) + " sent, " + std::to_string(sent->retried) +
                " to retry, " + std::to_string(sent->failed) + " failed, " +
                std::to_string(sent->suppressed) + " suppressed");
  return rc;
}

// The daemon's threads: one worker per mailbox and the outbox worker, which
// they wake; each beats its heartbeat in `heartbeats` (which outlives them).
// A reload (Reload) starts, stops and restarts only the loops its plan
// names and hands every kept mailbox its new settings.
// Thread-safety: everything from the main thread; NotifyOutbox from any.
class Workers {
 public:
  Workers(const config::Config& cfg, const Options& run, Heartbeats& heartbeats)
      : run_(run),
        heartbeats_(heartbeats),
        database_(std::make_shared<MailboxDatabase>(cfg.database.dsn.reveal(),
                                                    static_cast<size_t>(cfg.database.mailbox_pool))) {
    StartOutbox(cfg);
    for (const auto& box : cfg.mailboxes) StartMailbox(cfg, box);
  }
  // Tells every loop to stop, without waiting (WaitStopped waits).
  void StopAll() {
    for (auto& m : mailboxes_) m->worker->Stop();
    std::lock_guard<std::mutex> lock(outbox_mu_);
    if (outbox_) outbox_->Stop();
  }
  // Waits until every loop has ended or `deadline` passed; the names of the
  // loops still running then ("mailbox help", "outbox"), in no set order.
  std::vector<std::string> WaitStopped(Deadline deadline) {
    std::unique_lock<std::mutex> lock(done_mu_);
    done_.wait_until(lock, deadline, [this] { return running_.empty(); });
    return std::vector<std::string>(running_.begin(), running_.end());
  }

  // Stops every worker and waits for them, without a bound: only after WaitStopped found none running.
  ~Workers() {
    std::vector<std::string> all;
    for (const auto& m : mailboxes_) all.push_back(m->worker->name());
    StopMailboxes(all, std::nullopt);
    StopOutbox(std::nullopt);
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Takes the workers from the configuration they run to `next` as `plan`
  // (PlanReload; not restart_all) says. Stopping a loop waits for its batch
  // in hand, until `deadline`: the loops still running then (wedged; the
  // reload stops there and the caller must exit), else none.
  std::vector<std::string> Reload(const config::Config& next, const ReloadPlan& plan, Deadline deadline) {
    std::vector<std::string> ending = plan.stop;
    ending.insert(ending.end(), plan.restart.begin(), plan.restart.end());
    if (auto wedged = StopMailboxes(ending, deadline); !wedged.empty()) return wedged;
    if (plan.restart_outbox) {
      if (auto wedged = StopOutbox(deadline); !wedged.empty()) return wedged;
      StartOutbox(next);
    }
    for (const std::string& name : plan.keep) {
      const config::MailboxConfig* box = next.FindMailbox(name);
      Mailbox* m = Find(name);
      if (box != nullptr && m != nullptr) m->worker->Update(OptionsFor(next, *box, *m->beat));
    }
    for (const auto& box : next.mailboxes) {
      if (Find(box.name) == nullptr) StartMailbox(next, box);
    }
    // In the new file's order, as STATUS= and the logs count them.
    std::vector<std::unique_ptr<Mailbox>> ordered;
    for (const auto& box : next.mailboxes) {
      for (auto& m : mailboxes_) {
        if (m && m->worker->name() == box.name) ordered.push_back(std::move(m));
      }
    }
    mailboxes_ = std::move(ordered);
    return {};
  }

  size_t mailboxes() const { return mailboxes_.size(); }
  size_t mailboxes_up() const {
    size_t up = 0;
    for (const auto& m : mailboxes_) up += m->beat->up() ? 1 : 0;
    return up;
  }
  int64_t outbox_backlog() {
    std::lock_guard<std::mutex> lock(outbox_mu_);
    return outbox_ ? outbox_->backlog() : -1;
  }

 private:
  struct Mailbox {
    std::unique_ptr<MailboxWorker> worker;
    Heartbeat* beat = nullptr;  // in heartbeats_
    std::thread thread;
  };

  // The worker's options from `cfg`, with the daemon's hooks.
  WorkerOptions OptionsFor(const config::Config& cfg, const config::MailboxConfig& box,
                           Heartbeat& heartbeat) {
    WorkerOptions options = WorkerOptionsFor(cfg, box);
    options.database = database_;
    options.heartbeat = &heartbeat;
    // A pass beats before each message it decides: a long first import is progress, not a wedge.
    options.before_decide = [&heartbeat, hook = run_.before_decide](std::string_view raw) {
      heartbeat.Beat();
      if (hook) hook(raw);
    };
    // Through this, not the outbox worker itself: a reload may replace it while a pass runs.
    options.on_mail_queued = [this] { NotifyOutbox(); };
    return options;
  }

  void StartMailbox(const config::Config& cfg, const config::MailboxConfig& box) {
    auto m = std::make_unique<Mailbox>();
    m->beat = &heartbeats_.Add("mailbox " + box.name);
    m->worker = std::make_unique<MailboxWorker>(OptionsFor(cfg, box, *m->beat));
    m->thread = Spawn(LoopName(box.name), [w = m->worker.get()] { w->Run(); });
    mailboxes_.push_back(std::move(m));
  }

  // Stops the named mailboxes' workers together, waits for them (until
  // `deadline`, if any) and forgets them. The loops still running at the
  // deadline ("mailbox help"): then none is forgotten or joined.
  std::vector<std::string> StopMailboxes(const std::vector<std::string>& names,
                                         std::optional<Deadline> deadline) {
    std::vector<Mailbox*> ending;
    std::vector<std::string> loops;
    for (const std::string& name : names) {
      if (Mailbox* m = Find(name)) {
        ending.push_back(m);
        loops.push_back(LoopName(name));
      }
    }
    for (Mailbox* m : ending) m->worker->Stop();
    if (auto wedged = WaitEnded(loops, deadline); !wedged.empty()) return wedged;
    for (Mailbox* m : ending) {
      m->thread.join();
      heartbeats_.Remove(*m->beat);
    }
    std::erase_if(mailboxes_, [&](const std::unique_ptr<Mailbox>& m) {
      return std::find(ending.begin(), ending.end(), m.get()) != ending.end();
    });
    return {};
  }

  // Waits until none of `loops` runs or `deadline` (if any) passed; those still running then.
  std::vector<std::string> WaitEnded(const std::vector<std::string>& loops, std::optional<Deadline> deadline) {
    auto ended = [&] {
      return std::none_of(loops.begin(), loops.end(), [&](const std::string& l) { return running_.count(l) > 0; });
    };
    std::unique_lock<std::mutex> lock(done_mu_);
    if (deadline) {
      done_.wait_until(lock, *deadline, ended);
    } else {
      done_.wait(lock, ended);
    }
    std::vector<std::string> wedged;
    for (const std::string& l : loops) {
      if (running_.count(l) > 0) wedged.push_back(l);
    }
    return wedged;
  }

  static std::string LoopName(const std::string& mailbox) { return "mailbox " + mailbox; }

  Mailbox* Find(const std::string& name) {
    for (auto& m : mailboxes_) {
      if (m && m->worker->name() == name) return m.get();
    }
    return nullptr;
  }

  void StartOutbox(const config::Config& cfg) {
    OutboxOptions o = OutboxOptionsFor(cfg);
    outbox_beat_ = &heartbeats_.Add("outbox");
    o.heartbeat = outbox_beat_;
    auto worker = std::make_unique<OutboxWorker>(std::move(o));
    outbox_thread_ = Spawn("outbox", [w = worker.get()] { w->Run(); });
    std::lock_guard<std::mutex> lock(outbox_mu_);
    outbox_ = std::move(worker);
  }

  // Stops the outbox worker and waits for it (until `deadline`, if any): {"outbox"} when it still runs then.
  std::vector<std::string> StopOutbox(std::optional<Deadline> deadline) {
    {
      std::lock_guard<std::mutex> lock(outbox_mu_);
      if (outbox_) outbox_->Stop();
    }
    if (auto wedged = WaitEnded({"outbox"}, deadline); !wedged.empty()) return wedged;
    if (outbox_thread_.joinable()) outbox_thread_.join();
    std::lock_guard<std::mutex> lock(outbox_mu_);
    outbox_.reset();
    if (outbox_beat_ != nullptr) heartbeats_.Remove(*outbox_beat_);
    outbox_beat_ = nullptr;
    return {};
  }

  // A thread running `loop`, counted in running_ under `name` until it returns.
  std::thread Spawn(const std::string& name, std::function<void()> loop) {
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      running_.insert(name);
    }
    return std::thread([this, name, loop = std::move(loop)] {
      loop();
      std::lock_guard<std::mutex> lock(done_mu_);
      running_.erase(name);
      done_.notify_all();
    });
  }

  void NotifyOutbox() {
    std::lock_guard<std::mutex> lock(outbox_mu_);
    if (outbox_) outbox_->Notify();
  }

  const Options& run_;
  Heartbeats& heartbeats_;
  const std::shared_ptr<MailboxDatabase> database_;
  std::mutex outbox_mu_;
  std::unique_ptr<OutboxWorker> outbox_;  // guarded by outbox_mu_ (written by the main thread only)
  Heartbeat* outbox_beat_ = nullptr;
  std::thread outbox_thread_;
  std::vector<std::unique_ptr<Mailbox>> mailboxes_;
  std::mutex done_mu_;
  std::condition_variable done_;
  std::multiset<std::string> running_;  // guarded by done_mu_: the loops whose thread has not ended
};

// The web view when the configuration has a web: section (else null).
base::Result<std::unique_ptr<WebService>> StartWeb(const config::Config& cfg) {
  if (!cfg.web.enabled) return std::unique_ptr<WebService>();
  return WebService::Start(cfg);
}

// STATUS=: "2/3 mailboxes up, outbox backlog 5" (backlog "?" before it is counted).
std::string StatusLine(Workers& workers) {
  const int64_t backlog = workers.outbox_backlog();
  return std::to_string(workers.mailboxes_up()) + "/" + std::to_string(workers.mailboxes()) +
         " mailboxes up, outbox backlog " + (backlog < 0 ? std::string("?") : std::to_string(backlog));
}

const base::Gauge kHeapInUse{"mailforum_heap_in_use_bytes",
                             "Bytes of the heap (malloc) in use, read every 10 s by the main thread."};
const base::Gauge kHeapHeld{"mailforum_heap_held_bytes",
                            "Bytes the heap holds from the system, in use or free, read every 10 s."};
const base::Counter kHeapReturned{"mailforum_heap_returned_bytes_total",
                                  "Resident bytes of free heap given back to the system."};

// Gives free heap back to the system (base/memory.h says why it is kept):
// about every 10 s (the main thread's tick; more often under systemd's
// watchdog, so at most every kEvery), when the heap keeps more than kSlack
// free, which after an outage's backlog is what its batches' message bodies,
// parsed trees and statements used, freed but resident. RSS then follows the
// work in hand instead of the largest burst so far (the soak, issue 13;
// docs/admin-guide.md, "Memory"). A trim walks the free chunks of every
// arena, each under its lock, and gives back whole free pages: small next to
// a pass, and on the main thread, which has nothing else to do.
class HeapKeeper {
 public:
  HeapKeeper() { Read(); }  // the gauges have a value from the start

  void Tick() {
    const auto now = std::chrono::steady_clock::now();
    if (now < next_) return;
    next_ = now + kEvery;
    const base::HeapStats heap = Read();
    if (!base::HeapWorthTrimming(heap, kSlack)) return;
    const uint64_t returned = base::ReturnFreeHeap();
    kHeapReturned.Add({}, static_cast<double>(returned));
    if (returned >= kSlack) {
      base::LogInfo("memory: gave " + std::to_string(returned >> 20) +
                    " MiB of free heap back to the system (heap in use " + std::to_string(heap.in_use >> 20) +
                    " MiB, held " + std::to_string(heap.held >> 20) + " MiB)");
    }
  }

 private:
  static base::HeapStats Read() {
    const base::HeapStats heap = base::ReadHeapStats();
    kHeapInUse.Set({}, static_cast<double>(heap.in_use));
    kHeapHeld.Set({}, static_cast<double>(heap.held));
    return heap;
  }

  static constexpr std::chrono::seconds kEvery{9};
  static constexpr uint64_t kSlack = 8u << 20;
  std::chrono::steady_clock::time_point next_{};
};

// The main thread's watch over the loops: every tick it probes the web,
// pets systemd's watchdog when no loop is late (Heartbeats::Late with half
// the watchdog interval as grace), refreshes STATUS= when it changed and
// tends the heap (HeapKeeper).
class Supervisor {
 public:
  Supervisor() : watchdog_(WatchdogInterval()) {}

  // How long the main thread may wait for a signal between ticks.
  std::chrono::milliseconds tick() const {
    if (!watchdog_) return std::chrono::seconds(10);
    return std::max(std::chrono::milliseconds(10),
                    std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_ / 4));
  }

  void Tick(const Heartbeats& heartbeats, Workers& workers, WebService* web, Heartbeat* web_beat) {
    if (web != nullptr && web_beat != nullptr) web->Probe(*web_beat, tick());
    if (watchdog_) {
      const std::string late =
          LateMessage(heartbeats.Late(std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_ / 2)));
      if (late.empty()) NotifyWatchdog();
      if (late != late_) {
        if (!late.empty()) base::LogError(late);
        if (late.empty()) base::LogInfo("watchdog: every loop makes progress again; pinging");
        late_ = late;
      }
    }
    const std::string status = StatusLine(workers);
    if (status != status_) {
      NotifyStatus(status);
      status_ = status;
    }
    heap_.Tick();
  }
  // After READY=1 carried the status.
  void StatusSent(std::string status) { status_ = std::move(status); }

 private:
  const std::optional<std::chrono::microseconds> watchdog_;
  std::string late_;
  std::string status_;
  HeapKeeper heap_;
};

// "2 s", or "1500 ms" when not whole seconds.
std::string DurationText(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

// Exits at once (kExitSoftware) because `loops` did not stop within `bound`: their threads cannot be
// joined, and what they had not committed stays in the inbox (or comes back after its lease).
[[noreturn]] void ExitWedged(const std::string& during, std::chrono::milliseconds bound,
                             const std::vector<std::string>& loops) {
  std::string names;
  for (const std::string& n : loops) names += (names.empty() ? "" : ", ") + n;
  base::LogError(during + "not stopped within " + DurationText(bound) + ": " + names +
                 "; exiting without them (what they had not committed stays in the inbox)");
  std::fflush(nullptr);
  std::_Exit(base::kExitSoftware);
}

void Usage(FILE* out) {
  std::fputs(
      "usage: mailforumd -c FILE [--once]\n"
      "  -c, --config FILE  the configuration (see docs/configuration.md)\n"
      "      --once         process what is pending, then exit\n"
      "  -h, --help         this text\n"
      "signals: SIGHUP re-reads FILE (a broken file is refused; only changed mailboxes restart),\n"
      "  SIGTERM/SIGINT finish the batch in hand and stop within daemon.stop_timeout\n"
      "exit: 0 stopped; 70 a loop did not stop in time; 75 PostgreSQL unreachable at start;\n"
      "  78 configuration or schema error (see mailforumd(8))\n",
      out);
}

}  // namespace

int Main(int argc, char** argv, Options options) {
  static const option kLong[] = {{"config", required_argument, nullptr, 'c'},
                                 {"once", no_argument, nullptr, 'o'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  for (int c; (c = getopt_long(argc, argv, "c:h", kLong, nullptr)) != -1;) {
    switch (c) {
      case 'c': options.config_path = optarg; break;
      case 'o': options.once = true; break;
      case 'h': Usage(stdout); return base::kExitOk;
      default: Usage(stderr); return base::kExitUsage;
    }
  }
  if (options.config_path.empty() || optind != argc) {
    Usage(stderr);
    return base::kExitUsage;
  }
  // Block the signals the daemon waits for before any thread exists, so every
  // thread inherits the mask and only sigwait() in Run() receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Before any thread: the thresholds that keep large buffers off the heap (base/memory.h). Not glibc's
  // malloc (a sanitizer's): nothing to tune.
  (void)base::TuneHeapForDaemon();
  mail::InitializeMailLibraries();
  RaiseOpenFileLimit();
  return Run(options);
}

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
  base::SetLogFormat(cfg.log.format);

  if (int rc = PrepareDatabase(cfg); rc != base::kExitOk) return rc;
  base::LogInfo("mailforumd started: " + std::to_string(cfg.mailboxes.size()) + " mailbox(es), " +
                std::to_string(cfg.categories.size()) + " categories");
  if (options.once) return RunOnce(cfg, options);

  // Destroyed after the web and the workers, whose loops beat them.
  auto heartbeats = std::make_unique<Heartbeats>();
  auto workers = std::make_unique<Workers>(cfg, options, *heartbeats);
  auto web = StartWeb(cfg);
  if (!web) {
    base::LogError(web.error().message);
    return ExitCodeFor(web.error());
  }
  Heartbeat* web_beat = *web ? &heartbeats->Add("web") : nullptr;
  Supervisor supervisor;
  // The database was reached and its schema checked (PrepareDatabase).
  NotifyReady(StatusLine(*workers));
  supervisor.StatusSent(StatusLine(*workers));

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  for (;;) {
    const auto tick = supervisor.tick();
    const timespec timeout{static_cast<time_t>(tick.count() / 1000),
                           static_cast<long>(tick.count() % 1000) * 1000000};
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig < 0) {
      supervisor.Tick(*heartbeats, *workers, web->get(), web_beat);
      continue;
    }
    if (sig == SIGHUP) {
      NotifyReloading();
      config::LoadResult reloaded = config::LoadConfigFile(options.config_path);
      ReportDiagnostics(reloaded);
      if (reloaded.ok()) {
        // Mail in flight is safe: a stopped worker finishes its batch in hand (committed) and the rest is
        // fetched again; outbound mail being sent is released, or comes back after its lease.
        config::Config next = std::move(*reloaded.config);
        const ReloadPlan plan = PlanReload(cfg, next);
        base::SetLogLevel(next.log.level);
        base::SetLogFormat(next.log.format);
        if (PrepareDatabase(next) != base::kExitOk)
          base::LogError("reload: the database is not ready; workers retry");
        if (plan.restart_web) {
          web->reset();
          if (web_beat != nullptr) heartbeats->Remove(*web_beat);
          web_beat = nullptr;
        }
        // A loop that does not stop within daemon.stop_timeout (wedged) must not hold the daemon up for
        // ever, deaf to signals: it exits, and the service manager starts it again.
        const auto deadline = std::chrono::steady_clock::now() + cfg.daemon.stop_timeout;
        if (plan.restart_all) {
          workers->StopAll();
          if (auto wedged = workers->WaitStopped(deadline); !wedged.empty())
            ExitWedged("reload: ", cfg.daemon.stop_timeout, wedged);
          workers.reset();
          workers = std::make_unique<Workers>(next, options, *heartbeats);
        } else if (auto wedged = workers->Reload(next, plan, deadline); !wedged.empty()) {
          ExitWedged("reload: ", cfg.daemon.stop_timeout, wedged);
        }
        if (plan.restart_web) {
          web = StartWeb(next);
          if (!web) {
            base::LogError("reload: " + web.error().message + "; the web stays off until the next reload");
            web = std::unique_ptr<WebService>();
          }
          web_beat = *web ? &heartbeats->Add("web") : nullptr;
        }
        cfg = std::move(next);
        base::LogInfo("configuration reloaded from " + options.config_path + ": " + plan.Summary());
      } else {
        base::LogError("reload failed: keeping the previous configuration");
      }
      NotifyReady(StatusLine(*workers));
      supervisor.StatusSent(StatusLine(*workers));
      continue;
    }
    base::LogInfo(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    NotifyStopping();
    // Each loop finishes its batch in hand (committed), closes its sessions and ends; one that does not end
    // within daemon.stop_timeout (a wedged worker) must not hold the stop up until systemd's SIGKILL.
    const auto deadline = std::chrono::steady_clock::now() + cfg.daemon.stop_timeout;
    workers->StopAll();
    web->reset();
    if (const std::vector<std::string> running = workers->WaitStopped(deadline); !running.empty())
      ExitWedged("", cfg.daemon.stop_timeout, running);
    workers.reset();
    base::LogInfo("stopped");
    return base::kExitOk;
  }
}

}  // namespace mailforumd
