// What a SIGHUP reload must restart (issue 11 item 2): the pure comparison
// of the running configuration with the new one. A mailbox whose connection
// settings changed (its imap: section, after:, quarantine_folder) gets a new
// worker and IMAP session; every other kept mailbox keeps its worker and
// session and takes the new rules, categories, limits and other settings at
// the start of its next pass (MailboxWorker::Update). The outbox worker and
// the web restart only when what they are built from changed.
//
// Pure. Thread-safety: a function over values.
#ifndef MAILFORUM_DAEMON_RELOAD_PLAN_H_
#define MAILFORUM_DAEMON_RELOAD_PLAN_H_

#include <string>
#include <vector>

#include "config/config.h"

namespace mailforumd {

struct ReloadPlan {
  // database: changed: the mailboxes share their database connections, so
  // every loop restarts (all of `next`'s mailboxes are in `start`, all of the
  // old in `stop`, and both restart flags are set).
  bool restart_all = false;
  std::vector<std::string> start;    // new mailboxes, in `next`'s order
  std::vector<std::string> stop;     // removed mailboxes, in the old order
  std::vector<std::string> restart;  // connection settings changed: a new session
  std::vector<std::string> keep;     // same session; new settings from the next pass
  bool restart_outbox = false;       // smtp, outbox, secrets, instance or database changed
  bool restart_web = false;          // web, instance, database, categories, the mailbox names or
                                     // outbox.suppress_score changed (the web's health and pages use them)

  // For the journal: "mailboxes started: a; stopped: none; restarted: b; kept: c, d; outbox kept; web
  // restarted".
  std::string Summary() const;
};

// The plan that takes a daemon running `old` to `next`. Secrets compare by
// value (a password file rewritten with a new password restarts its mailbox).
ReloadPlan PlanReload(const config::Config& old, const config::Config& next);

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_RELOAD_PLAN_H_
