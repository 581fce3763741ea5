// mailforumd's composition root: loads the configuration, checks the
// database schema, synchronises the categories, starts one MailboxWorker
// thread per configured mailbox and one OutboxWorker thread (sending
// answers, notifications, acknowledgements and rejection notices; the
// mailbox workers wake it when they queue mail), and runs until
// SIGTERM/SIGINT, on which every loop finishes its batch in hand and ends
// within daemon.stop_timeout (or the daemon names it and exits 70). SIGHUP reloads the configuration (a
// broken new file is reported and the old one kept): only the loops whose settings changed restart
// (daemon/reload_plan.h); kept mailboxes keep their IMAP sessions. --once makes one pass over every mailbox,
// then sends the outbound mail that is due. Under systemd it sends READY=1, STATUS=, RELOADING=1, STOPPING=1
// and pets the watchdog only while every worker loop beats its heartbeat (docs/systemd.md).
#ifndef MAILFORUM_DAEMON_APP_H_
#define MAILFORUM_DAEMON_APP_H_

#include <functional>
#include <string>
#include <string_view>

namespace mailforumd {

struct Options {
  std::string config_path;  // -c FILE
  bool once = false;        // --once: process what is pending, then exit
  // Test hook (see WorkerOptions::before_decide): only test programs set it; no configuration or flag can.
  std::function<void(std::string_view raw)> before_decide;
};

// mailforumd's main(): parses the command line into `options` (which may
// carry test hooks), blocks the signals Run() waits for, initialises the mail
// libraries and runs. Returns the process exit code.
int Main(int argc, char** argv, Options options);

// Runs the daemon; returns the process exit code (base/exit_codes.h):
// 0 on a clean stop (a stop with a loop still running at daemon.stop_timeout
// ends the process with 70 instead of returning), 78 for configuration or schema errors, 75 when
// PostgreSQL cannot be reached at start (systemd restarts us), or when
// --once could not finish a mailbox or reach the SMTP server.
// Precondition: called from main() with SIGTERM, SIGINT and SIGHUP blocked in
// every thread (main blocks them before anything starts a thread).
int Run(const Options& options);

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_APP_H_
