// How mailforumctl's operations commands (route, trace, quarantine) print
// what they found: readable text for people, and JSON (--json) for machines.
// Pure: the commands gather the facts, these functions only format them.
//
// Text output passes every value that came from mail (subjects, addresses,
// reasons) through Printable(), so a hostile subject cannot send escape
// sequences to the operator's terminal. JSON output is valid UTF-8 (bytes
// that are not become U+FFFD). Times are UTC, "2024-05-01 10:00:00Z" in
// text and "2024-05-01T10:00:00Z" in JSON.
//
// Thread-safety: pure functions over plain values.
#ifndef MAILFORUM_CLI_OPERATIONS_FORMAT_H_
#define MAILFORUM_CLI_OPERATIONS_FORMAT_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "forum/admin.h"
#include "forum/inbound.h"
#include "forum/reader.h"

namespace ctl {

// Everything `route` found out about one message (a dry run of the pipeline).
struct RouteReport {
  std::string mailbox;
  // Decide's decision, exactly as the daemon would record it.
  forum::InboundItem item;
  // The classifier's signal ("" for normal mail).
  std::string classification_why;

  // Whether the mailbox's rules were consulted: not for mail quarantined
  // before it could be parsed, nor for machine mail or our own.
  bool rules_consulted = false;
  // mail::DmarcVerdictName() of the trusted DMARC result (when consulted).
  std::string dmarc;
  // One rule the message was checked against, in order.
  struct RuleStep {
    std::string name;
    int line = 0;        // in the configuration file; 0 when unknown
    std::string action;  // "thread", "ignore", "reject" or "quarantine"
    bool matched = false;
    std::string explanation;  // forum::ExplainMatch()
  };
  // The rules up to and including the one that decided (all of them when none did).
  std::vector<RuleStep> rules;

  // How the thread was found (for posted mail).
  enum class Match { kNone, kToken, kReferences, kNewThread };
  Match match = Match::kNone;
  // A reply token that verified, naming this thread (even when it does not exist).
  std::optional<int64_t> token_thread;
  // kReferences: the In-Reply-To/References id that is known.
  std::string matched_message_id;
  // kToken, kReferences: the thread, when the database could describe it.
  std::optional<forum::ThreadSummary> thread;

  // An outbound mail the daemon would queue.
  struct Send {
    std::string kind;  // "answer", "notification", "acknowledgement" or "rejection"
    std::string recipient;
    std::string skipped;  // why it would not be queued after all; "" when it would
  };
  std::vector<Send> sends;

  // The message recorded before under the same message key: the daemon
  // would record this copy as a duplicate and do nothing else.
  std::optional<forum::InboundRecord> duplicate_of;

  // Why the database could not answer ("" when it answered everything): then
  // thread matching, the rate limit and duplicate detection assumed that
  // nothing is known.
  std::string database_error;
};

std::string RouteText(const RouteReport& report);
std::string RouteJson(const RouteReport& report);

// `trace`: the life of a Message-ID, or what is known about an address.
std::string TraceText(const forum::MessageTrace& trace);
std::string TraceJson(const forum::MessageTrace& trace);
std::string TraceText(const forum::AddressTrace& trace);
std::string TraceJson(const forum::AddressTrace& trace);

// `quarantine list`: id, mailbox, UID, received_at, from, subject, reason, size.
std::string QuarantineListText(const std::vector<forum::InboundRecord>& records);
std::string QuarantineListJson(const std::vector<forum::InboundRecord>& records);

// `quarantine show`: one line on the message (printed apart from its raw bytes).
std::string InboundSummaryLine(const forum::InboundRecord& record);

// `quarantine retry`: what became of the message.
struct RetryReport {
  int64_t inbound_id = 0;
  forum::Outcome outcome = forum::Outcome::kQuarantined;  // kQuarantined: nothing changed
  std::string rule;
  std::string reason;
  std::optional<int64_t> thread_id;
  std::optional<int64_t> post_id;
};
std::string RetryText(const RetryReport& report);
std::string RetryJson(const RetryReport& report);

// `outbox list`: the mails as trace shows them, under a line that says how
// many there are and which (`what`, e.g. "not yet sent").
std::string OutboxListText(const std::vector<forum::OutboxRecord>& rows, const std::string& what);
std::string OutboxListJson(const std::vector<forum::OutboxRecord>& rows);

// `suppressions list`: each address's bounce score, and whether it reaches
// `threshold` (outbox.suppress_score), so that no more mail goes to it.
std::string SuppressionsText(const std::vector<forum::SuppressionRecord>& rows, double threshold);
std::string SuppressionsJson(const std::vector<forum::SuppressionRecord>& rows, double threshold);

// `subscriptions list ADDRESS`: what `address` unsubscribed from (rows of forum/subscriptions.h).
std::string UnsubscriptionsText(const std::string& address, const std::vector<forum::Unsubscription>& rows);
std::string UnsubscriptionsJson(const std::vector<forum::Unsubscription>& rows);

// `status`: the health of each mailbox (forum::ReportMailboxes) and the outbox
// backlog, as /healthz reports them, for a person (a table) or a machine.
std::string StatusText(const std::vector<forum::MailboxReport>& mailboxes, const forum::ServiceHealth& health,
                       std::chrono::seconds failure_limit);
std::string StatusJson(const std::vector<forum::MailboxReport>& mailboxes, const forum::ServiceHealth& health,
                       std::chrono::seconds failure_limit);

// "2024-05-01 10:00:00Z" (UTC).
std::string TextTime(std::chrono::system_clock::time_point t);

}  // namespace ctl

#endif  // MAILFORUM_CLI_OPERATIONS_FORMAT_H_
