// mailforumctl outbox, suppressions, subscriptions and status: outbound mail
// and its fate, the bounce scores and unsubscriptions that stop it, and the
// service's health.
#include <cstdio>
#include <string>
#include <vector>

#include "base/exit_codes.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/operations_format.h"
#include "forum/reader.h"

namespace ctl {
namespace {

// How many mails `outbox list` shows.
constexpr int kOutboxListLimit = 200;

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

}  // namespace

int OutboxList(const std::string& config_path, const std::string& status, Format format) {
  std::vector<std::string> statuses;
  std::string what = status;
  if (status.empty()) {
    statuses = {"pending", "failed", "suppressed", "bounced"};
    what = "not sent";
  } else if (status == "all") {
    what = "all";
  } else if (status == "pending" || status == "sent" || status == "failed" || status == "suppressed" ||
             status == "bounced") {
    statuses = {status};
  } else {
    std::fprintf(stderr,
                 "mailforumctl outbox list: unknown status '%s'; expected pending, sent, failed, suppressed, "
                 "bounced or all\n",
                 Printable(status).c_str());
    return base::kExitUsage;
  }
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("outbox list", store.error());
  auto rows = (*store)->ListOutbox(statuses, kOutboxListLimit);
  if (!rows) return Fail("outbox list", rows.error());
  Print(format == Format::kJson ? OutboxListJson(*rows) : OutboxListText(*rows, what));
  return base::kExitOk;
}

int OutboxRetry(const std::string& config_path, int64_t outbox_id) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("outbox retry", store.error());
  if (auto requeued = (*store)->RetryOutbox(outbox_id); !requeued.ok()) {
    return Fail("outbox retry", requeued.error());
  }
  std::printf("outbound mail #%lld is queued again; a running mailforumd sends it within seconds\n",
              static_cast<long long>(outbox_id));
  return base::kExitOk;
}

int SuppressionsList(const std::string& config_path, Format format) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("suppressions list", store.error());
  auto rows = (*store)->ListSuppressions();
  if (!rows) return Fail("suppressions list", rows.error());
  Print(format == Format::kJson ? SuppressionsJson(*rows, cfg->outbox.suppress_score)
                                : SuppressionsText(*rows, cfg->outbox.suppress_score));
  return base::kExitOk;
}

int SuppressionsClear(const std::string& config_path, const std::string& address) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("suppressions clear", store.error());
  auto cleared = (*store)->ClearSuppression(address);
  if (!cleared) return Fail("suppressions clear", cleared.error());
  if (!*cleared) {
    std::fprintf(stderr, "mailforumctl suppressions clear: %s has no bounce score\n",
                 Printable(address).c_str());
    return base::kExitFailure;
  }
  std::printf("%s: bounce score cleared; mail to it is sent again\n", Printable(address).c_str());
  return base::kExitOk;
}

int SubscriptionsList(const std::string& config_path, const std::string& address, Format format) {
  constexpr int kLimit = 1000;
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("subscriptions list", store.error());
  auto rows = (*store)->ListUnsubscriptions(address, kLimit);
  if (!rows) return Fail("subscriptions list", rows.error());
  Print(format == Format::kJson ? UnsubscriptionsJson(*rows) : UnsubscriptionsText(address, *rows));
  return base::kExitOk;
}

int SubscriptionsClear(const std::string& config_path, const std::string& address) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("subscriptions clear", store.error());
  auto cleared = (*store)->ClearUnsubscriptions(address);
  if (!cleared) return Fail("subscriptions clear", cleared.error());
  if (*cleared == 0) {
    std::fprintf(stderr, "mailforumctl subscriptions clear: %s is unsubscribed from nothing\n",
                 Printable(address).c_str());
    return base::kExitFailure;
  }
  std::printf("%s: %lld unsubscription(s) cleared; it gets all its mail again\n", Printable(address).c_str(),
              static_cast<long long>(*cleared));
  return base::kExitOk;
}

int Status(const std::string& config_path, Format format) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto reader = forum::Reader::Connect(cfg->database.dsn.reveal());
  if (!reader) return Fail("status", reader.error());
  auto health = (*reader)->Health(cfg->outbox.suppress_score);
  if (!health) return Fail("status", health.error());
  std::vector<std::string> configured;
  for (const auto& box : cfg->mailboxes) configured.push_back(box.name);
  const auto limit = std::chrono::duration_cast<std::chrono::seconds>(cfg->web.health_failure_after);
  const auto reports = forum::ReportMailboxes(*health, configured, limit);
  Print(format == Format::kJson ? StatusJson(reports, *health, limit) : StatusText(reports, *health, limit));
  for (const auto& m : reports) {
    if (m.condition == forum::MailboxCondition::kFailed) return base::kExitFailure;
  }
  return base::kExitOk;
}

}  // namespace ctl
