#include "daemon/reload_plan.h"

namespace mailforumd {
namespace {

// What a mailbox's IMAP session is made from: the worker connects with it and creates these folders.
bool SameSession(const config::MailboxConfig& a, const config::MailboxConfig& b) {
  return a.imap == b.imap && a.after == b.after && a.quarantine_folder == b.quarantine_folder;
}

bool SameOutbox(const config::Config& a, const config::Config& b) {
  return a.smtp == b.smtp && a.outbox == b.outbox && a.secrets == b.secrets && a.instance == b.instance;
}

std::vector<std::string> MailboxNames(const config::Config& cfg) {
  std::vector<std::string> names;
  for (const auto& box : cfg.mailboxes) names.push_back(box.name);
  return names;
}

bool SameWeb(const config::Config& a, const config::Config& b) {
  return a.web == b.web && a.instance == b.instance && a.categories == b.categories &&
         MailboxNames(a) == MailboxNames(b) && a.outbox.suppress_score == b.outbox.suppress_score;
}

std::string List(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

std::string ReloadPlan::Summary() const {
  return std::string(restart_all ? "database changed, everything restarted; " : "") +
         "mailboxes started: " + List(start) + "; stopped: " + List(stop) + "; restarted: " + List(restart) +
         "; kept: " + List(keep) + "; outbox " + (restart_outbox ? "restarted" : "kept") + "; web " +
         (restart_web ? "restarted" : "kept");
}

ReloadPlan PlanReload(const config::Config& old, const config::Config& next) {
  ReloadPlan plan;
  if (!(old.database == next.database)) {
    plan.restart_all = true;
    plan.stop = MailboxNames(old);
    plan.start = MailboxNames(next);
    plan.restart_outbox = true;
    plan.restart_web = true;
    return plan;
  }
  for (const auto& box : old.mailboxes) {
    if (next.FindMailbox(box.name) == nullptr) plan.stop.push_back(box.name);
  }
  for (const auto& box : next.mailboxes) {
    const config::MailboxConfig* before = old.FindMailbox(box.name);
    if (before == nullptr) {
      plan.start.push_back(box.name);
    } else if (SameSession(*before, box)) {
      plan.keep.push_back(box.name);
    } else {
      plan.restart.push_back(box.name);
    }
  }
  plan.restart_outbox = !SameOutbox(old, next);
  plan.restart_web = !SameWeb(old, next);
  return plan;
}

}  // namespace mailforumd
