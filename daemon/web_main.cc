// mailforum-web: the web view alone (see daemon/web_service.h), for running
// it apart from mailforumd (and as many times as needed behind a load
// balancer). It reads mailforumd's configuration file but needs only the
// database: the SMTP and IMAP passwords and the reply key are never read.
// Runs until SIGTERM or SIGINT.
#include <getopt.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "base/exit_codes.h"
#include "base/log.h"
#include "config/config.h"
#include "daemon/web_service.h"

namespace {

void Usage(FILE* out) {
  std::fputs(
      "usage: mailforum-web -c FILE\n"
      "  -c, --config FILE  mailforumd's configuration (see docs/configuration.md); its web: section\n"
      "  -h, --help         this text\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  static const option kLong[] = {{"config", required_argument, nullptr, 'c'},
                                 {"help", no_argument, nullptr, 'h'},
                                 {nullptr, 0, nullptr, 0}};
  std::string path;
  for (int c; (c = getopt_long(argc, argv, "c:h", kLong, nullptr)) != -1;) {
    switch (c) {
      case 'c': path = optarg; break;
      case 'h': Usage(stdout); return base::kExitOk;
      default: Usage(stderr); return base::kExitUsage;
    }
  }
  if (path.empty() || optind != argc) {
    Usage(stderr);
    return base::kExitUsage;
  }
  // Before any thread: only sigwait() below receives these.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  config::LoadOptions load;
  load.secrets = config::LoadOptions::Secrets::kDatabaseOnly;
  config::LoadResult loaded = config::LoadConfigFile(path, load);
  for (const auto& d : loaded.diagnostics) {
    base::Log(d.severity == config::Diagnostic::Severity::kError ? base::LogLevel::kError : base::LogLevel::kWarning,
              d.ToString());
  }
  if (!loaded.ok()) {
    base::LogError("not starting: " + path + " has errors");
    return base::kExitConfig;
  }
  config::Config cfg = *loaded.config;
  // The reply key verifies the one-click unsubscribe links (issue 12). The
  // web needs only the database: when the key cannot be read here, the
  // links answer 404 (mailforumd's own web: section serves them then).
  config::LoadOptions with_key;
  with_key.secrets = config::LoadOptions::Secrets::kDatabaseAndReplyKey;
  if (config::LoadResult keyed = config::LoadConfigFile(path, with_key); keyed.ok()) {
    cfg.secrets = keyed.config->secrets;
  } else {
    base::LogWarning("the reply key cannot be read here: unsubscribe links (/unsubscribe/...) answer 404");
  }
  base::SetLogLevel(cfg.log.level);
  base::SetLogFormat(cfg.log.format);
  if (!cfg.web.enabled) base::LogWarning(path + " has no web: section; serving on the default " + cfg.web.listen);
  mailforumd::RaiseOpenFileLimit();
  auto service = mailforumd::WebService::Start(cfg);
  if (!service) {
    base::LogError(service.error().message);
    return service.error().kind == base::ErrorKind::kTransient ? base::kExitTempFail : base::kExitConfig;
  }
  base::LogInfo("mailforum-web started");
  for (int sig = 0;;) {
    if (sigwait(&signals, &sig) == 0) {
      base::LogInfo(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
      break;
    }
  }
  service->reset();
  return base::kExitOk;
}
