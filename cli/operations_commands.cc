// mailforumctl trace and quarantine: reading the audit trail, and giving
// quarantined mail a second chance.
#include <cstdio>
#include <memory>
#include <string>

#include "base/exit_codes.h"
#include "cli/command_support.h"
#include "cli/commands.h"
#include "cli/operations_format.h"
#include "cli/recording_lookup.h"
#include "engine/pipeline.h"
#include "engine/pipeline_config.h"

namespace ctl {
namespace {

// How many inbound messages and outbound mails `trace ADDRESS` shows.
constexpr int kAddressTraceLimit = 50;

void Print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// The quarantined message `inbound_id` with its raw bytes; otherwise prints
// why not and returns nullopt with `exit_code` set.
std::optional<forum::StoredInbound> QuarantinedMessage(forum::Store& store, const std::string& command,
                                                       int64_t inbound_id, int& exit_code) {
  auto found = store.GetInbound(inbound_id);
  if (!found) {
    exit_code = Fail(command, found.error());
    return std::nullopt;
  }
  exit_code = base::kExitFailure;
  const std::string id = std::to_string(inbound_id);
  if (!found->has_value()) {
    std::fprintf(stderr, "mailforumctl %s: there is no inbound message #%s\n", command.c_str(), id.c_str());
    return std::nullopt;
  }
  const forum::StoredInbound& message = **found;
  if (message.record.outcome != forum::Outcome::kQuarantined || !message.raw) {
    std::fprintf(
        stderr, "mailforumctl %s: inbound message #%s is not quarantined (%s); its raw bytes are not kept\n",
        command.c_str(), id.c_str(), std::string(forum::OutcomeName(message.record.outcome)).c_str());
    return std::nullopt;
  }
  exit_code = base::kExitOk;
  return std::move(found).value();
}

}  // namespace

int Trace(const std::string& config_path, const std::string& target, Format format) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("trace", store.error());

  // "<id>" is a Message-ID; without brackets it may be either (both contain '@'): the Message-ID wins.
  std::string key = target;
  const bool bracketed = key.size() >= 2 && key.front() == '<' && key.back() == '>';
  if (bracketed) key = key.substr(1, key.size() - 2);
  auto message = (*store)->TraceMessage(key);
  if (!message) return Fail("trace", message.error());
  if (bracketed || !message->empty()) {
    Print(format == Format::kJson ? TraceJson(*message) : TraceText(*message));
    return message->empty() ? base::kExitFailure : base::kExitOk;
  }
  auto address = (*store)->TraceAddress(key, kAddressTraceLimit);
  if (!address) return Fail("trace", address.error());
  Print(format == Format::kJson ? TraceJson(*address) : TraceText(*address));
  return address->empty() ? base::kExitFailure : base::kExitOk;
}

int QuarantineList(const std::string& config_path, Format format) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("quarantine list", store.error());
  auto records = (*store)->ListQuarantined();
  if (!records) return Fail("quarantine list", records.error());
  Print(format == Format::kJson ? QuarantineListJson(*records) : QuarantineListText(*records));
  return base::kExitOk;
}

int QuarantineShow(const std::string& config_path, int64_t inbound_id) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail("quarantine show", store.error());
  int exit_code = base::kExitOk;
  auto message = QuarantinedMessage(**store, "quarantine show", inbound_id, exit_code);
  if (!message) return exit_code;
  // The description on stderr, the message alone on stdout: `show ID > msg.eml` keeps it byte for byte.
  std::fputs(InboundSummaryLine(message->record).c_str(), stderr);
  Print(*message->raw);
  return std::fflush(stdout) == 0 ? base::kExitOk : base::kExitSoftware;
}

int QuarantineRetry(const std::string& config_path, int64_t inbound_id, Format format) {
  const std::string command = "quarantine retry";
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  auto store = OpenStore(*cfg);
  if (!store) return Fail(command, store.error());
  int exit_code = base::kExitOk;
  auto message = QuarantinedMessage(**store, command, inbound_id, exit_code);
  if (!message) return exit_code;
  const forum::InboundRecord& record = message->record;
  const config::MailboxConfig* box = cfg->FindMailbox(record.mailbox);
  if (box == nullptr) {
    std::fprintf(stderr, "mailforumctl %s: mailbox '%s' of inbound message #%lld is no longer configured\n",
                 command.c_str(), record.mailbox.c_str(), static_cast<long long>(inbound_id));
    return base::kExitConfig;
  }

  RecordingLookup lookup(store->get());
  const engine::PipelineConfig pipeline = engine::PipelineConfigFor(*cfg, *box);
  auto decided =
      engine::Decide(engine::FetchedMessage{record.uidvalidity, record.uid, *message->raw}, pipeline, lookup);
  if (!decided) return Fail(command, decided.error());
  // A decision made without the forum's answers (no thread match, no rate limit) must not be recorded.
  if (lookup.error()) return Fail(command, *lookup.error());

  RetryReport report;
  report.inbound_id = inbound_id;
  report.rule = decided->rule;
  report.reason = decided->reason;
  if (decided->outcome != forum::Outcome::kQuarantined) {
    auto recorded = (*store)->ReprocessInbound(inbound_id, *decided, cfg->instance.domain);
    if (!recorded) return Fail(command, recorded.error());
    report.outcome = recorded->outcome;
    report.thread_id = recorded->thread_id;
    report.post_id = recorded->post_id;
  }
  Print(format == Format::kJson ? RetryJson(report) : RetryText(report));
  return base::kExitOk;
}

}  // namespace ctl
