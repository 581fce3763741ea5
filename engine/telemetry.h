// What the engine tells its operators about its work: one log line per
// message decided (key=value fields: mailbox, uid, message_id, thread, post,
// outcome, rule, duration_ms) and the process's Prometheus counters
// (base/metrics.h), rendered by the web listener's /metrics.
//
// Never logs body text or a sender's address at info level.
#ifndef MAILFORUM_ENGINE_TELEMETRY_H_
#define MAILFORUM_ENGINE_TELEMETRY_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "base/result.h"
#include "forum/inbound.h"

namespace engine {

// `count` messages (`bytes` in all) fetched from `mailbox`.
void CountFetched(const std::string& mailbox, size_t count, uint64_t bytes);

// `item` was recorded (`recorded`: what the ledger did, or its error, after
// which the message is quarantined), `fetch_to_commit` after its batch was
// fetched: logs it and counts it.
void ReportDecided(const std::string& mailbox, const forum::InboundItem& item,
                   const base::Result<forum::RecordResult>& recorded,
                   std::chrono::nanoseconds fetch_to_commit);

// The loop circuit breaker started holding mail to an address.
void CountLoopBreakerPause();

// An outbound mail's SMTP result: the reply code when there was one
// (2xx, 4xx, 5xx), "connection" when there was none.
void CountSmtpResult(std::optional<int> reply_code);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_TELEMETRY_H_
