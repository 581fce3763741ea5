// mailforumd: the email-to-forum gateway daemon. Thin: see daemon/app.h.
#include <getopt.h>
#include <signal.h>

#include <cstdio>
#include <string>

#include "base/exit_codes.h"
#include "daemon/app.h"
#include "mail/library_init.h"

namespace {

void Usage(FILE* out) {
  std::fputs(
      "usage: mailforumd -c FILE [--once]\n"
      "  -c, --config FILE  the configuration (see docs/configuration.md)\n"
      "      --once         process what is pending, then exit\n"
      "  -h, --help         this text\n",
      out);
}

}  // namespace

int main(int argc, char** argv) {
  mailforumd::Options options;
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
  mail::InitializeMailLibraries();
  return mailforumd::Run(options);
}
