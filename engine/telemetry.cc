#include "engine/telemetry.h"

#include "base/log.h"
#include "base/metrics.h"

namespace engine {
namespace {

const base::Counter kFetched{
    "mailforum_messages_fetched_total", "Messages fetched from IMAP, by mailbox.", {"mailbox"}};
const base::Counter kFetchedBytes{
    "mailforum_fetched_bytes_total", "Bytes of messages fetched from IMAP, by mailbox.", {"mailbox"}};
const base::Counter kDecided{
    "mailforum_messages_total",
    "Messages decided and committed, by mailbox and outcome (posted, ignored, rejected, "
    "quarantined, machine, duplicate, too_old, unsubscribed).",
    {"mailbox", "outcome"}};
const base::Histogram kFetchToCommit{
    "mailforum_fetch_to_commit_seconds",
    "From the end of a batch's FETCH to the commit of its decisions, per message, by mailbox.",
    {"mailbox"},
    {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
const base::Counter kLoopPauses{
    "mailforum_loop_breaker_pauses_total",
    "Times the loop circuit breaker started holding automatic mail to an address."};
const base::Counter kSmtpResults{
    "mailforum_smtp_results_total",
    "Outbound mails handed to SMTP, by result class (2xx, 4xx, 5xx, connection: no "
    "reply, the connection or login failed).",
    {"class"}};

}  // namespace

void CountFetched(const std::string& mailbox, size_t count, uint64_t bytes) {
  kFetched.Add({mailbox}, static_cast<double>(count));
  kFetchedBytes.Add({mailbox}, static_cast<double>(bytes));
}

void ReportDecided(const std::string& mailbox, const forum::InboundItem& item,
                   const base::Result<forum::RecordResult>& recorded,
                   std::chrono::nanoseconds fetch_to_commit) {
  const forum::Outcome outcome = recorded ? recorded->outcome : forum::Outcome::kQuarantined;
  const std::string outcome_name(forum::OutcomeName(outcome));
  kDecided.Add({mailbox, outcome_name});
  kFetchToCommit.Observe({mailbox}, std::chrono::duration<double>(fetch_to_commit).count());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(fetch_to_commit).count();
  // Numbers when known, "" otherwise.
  const base::LogField thread = recorded && recorded->thread_id
                                    ? base::LogField("thread", *recorded->thread_id)
                                    : base::LogField("thread", "");
  const base::LogField post =
      recorded && recorded->post_id ? base::LogField("post", *recorded->post_id) : base::LogField("post", "");
  base::LogInfo("message decided", {{"mailbox", mailbox},
                                    {"uid", item.uid},
                                    {"message_id", item.message_id},
                                    thread,
                                    post,
                                    {"outcome", outcome_name},
                                    {"rule", item.rule},
                                    {"classification", forum::Name(item.classification)},
                                    {"duration_ms", ms}});
}

void CountLoopBreakerPause() { kLoopPauses.Add(); }

void CountSmtpResult(std::optional<int> reply_code) {
  std::string cls = "connection";
  if (reply_code && *reply_code >= 200 && *reply_code < 600) cls = std::to_string(*reply_code / 100) + "xx";
  kSmtpResults.Add({cls});
}

}  // namespace engine
