// mailforumd's composition root: loads the configuration, checks the
// database schema, synchronises the categories, starts one MailboxWorker
// thread per configured mailbox and one OutboxWorker thread (sending
// answers, notifications, acknowledgements and rejection notices; the
// mailbox workers wake it when they queue mail), and runs until
// SIGTERM/SIGINT. SIGHUP reloads the configuration and restarts the workers
// (a broken new file is reported and the old one kept). --once makes one
// pass over every mailbox, then sends the outbound mail that is due.
#ifndef MAILFORUM_DAEMON_APP_H_
#define MAILFORUM_DAEMON_APP_H_

#include <string>

namespace mailforumd {

struct Options {
  std::string config_path;  // -c FILE
  bool once = false;        // --once: process what is pending, then exit
};

// Runs the daemon; returns the process exit code (base/exit_codes.h):
// 0 on a clean stop, 78 for configuration or schema errors, 75 when
// PostgreSQL cannot be reached at start (systemd restarts us), or when
// --once could not finish a mailbox or reach the SMTP server.
// Precondition: called from main() with SIGTERM, SIGINT and SIGHUP blocked in
// every thread (main blocks them before anything starts a thread).
int Run(const Options& options);

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_APP_H_
