// mailforumd_testing: mailforumd with the test hook of the crash-loop breaker
// (daemon/mailbox_worker.h). Built with the tests only and never installed:
// no configuration, flag or environment of the real mailforumd can enable it.
//
// MAILFORUM_TEST_HANG_ON=TEXT makes the worker hang for ever (as a CPU bomb
// would) before deciding any message whose raw bytes contain TEXT; the test
// then kills the process with SIGKILL, as systemd's watchdog would. It says
// so once on stderr ("mailforumd_testing: hanging ..."), which the watchdog
// test waits for.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "daemon/app.h"

int main(int argc, char** argv) {
  mailforumd::Options options;
  if (const char* mark = std::getenv("MAILFORUM_TEST_HANG_ON"); mark != nullptr && *mark != '\0') {
    options.before_decide = [text = std::string(mark)](std::string_view raw) {
      if (raw.find(text) == std::string_view::npos) return;
      std::fputs("mailforumd_testing: hanging before deciding a marked message\n", stderr);
      for (;;) pause();
    };
  }
  return mailforumd::Main(argc, argv, std::move(options));
}
