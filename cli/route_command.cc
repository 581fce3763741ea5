// mailforumctl route: a dry run of the ingestion pipeline on one message.
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
#include "forum/rules.h"
#include "mail/auth_results.h"
#include "mail/classifier.h"
#include "mail/mime_parser.h"

namespace ctl {
namespace {

// The rules Decide tried, with forum::ExplainMatch's reasons, up to the first that matched.
void ExplainRules(const engine::PipelineConfig& pipeline, const mail::Message& m, RouteReport& report) {
  report.dmarc = std::string(mail::DmarcVerdictName(mail::TrustedDmarc(m, pipeline.trusted_authserv_ids)));
  const forum::RuleFacts facts{m, forum::Name(report.item.classification), report.dmarc};
  for (const forum::Rule& rule : pipeline.rules) {
    const bool matched = !rule.match || forum::Matches(*rule.match, facts);
    report.rules.push_back({rule.name, rule.line, std::string(forum::RuleActionName(rule.action)), matched,
                            forum::ExplainMatch(rule, facts)});
    if (matched) break;
  }
}

// How the thread was found, from what Decide asked the forum.
void ExplainThread(RecordingLookup& lookup, RouteReport& report) {
  report.token_thread = lookup.token_thread();
  const auto& post = report.item.post;
  if (!post) return;
  if (!post->thread_id) {
    report.match = RouteReport::Match::kNewThread;
    return;
  }
  const int64_t thread_id = *post->thread_id;
  if (lookup.token_thread() == thread_id && lookup.token_thread_exists()) {
    report.match = RouteReport::Match::kToken;
  } else {
    report.match = RouteReport::Match::kReferences;
    report.matched_message_id = lookup.matched_message_id();
  }
  if (forum::Store* store = lookup.store()) {
    auto thread = store->FindThread(thread_id);
    if (!lookup.Failed(thread)) report.thread = *thread;
  }
}

// What would be queued: nothing for a duplicate; a rejection at most once per address per day.
void ExplainSends(RecordingLookup& lookup, RouteReport& report) {
  if (forum::Store* store = lookup.store()) {
    auto prior = store->FindInboundByMessageKey(report.item.message_key);
    if (!lookup.Failed(prior)) report.duplicate_of = *prior;
  }
  for (const forum::OutboxDraft& out : report.item.outbox) {
    RouteReport::Send send{std::string(forum::Name(out.kind)), out.recipient, ""};
    if (report.duplicate_of) {
      send.skipped = "a duplicate queues nothing";
    } else if (out.kind == forum::OutboxKind::kRejection && lookup.store() != nullptr) {
      auto sent = lookup.store()->RejectionNoticeSentToday(out.recipient);
      if (!lookup.Failed(sent) && *sent)
        send.skipped = "a rejection notice already went to this address today";
    }
    report.sends.push_back(std::move(send));
  }
}

RouteReport Explain(const engine::PipelineConfig& pipeline, const std::string& raw, forum::InboundItem item,
                    RecordingLookup& lookup) {
  RouteReport report;
  report.mailbox = pipeline.mailbox;
  report.item = std::move(item);
  const forum::InboundItem& decided = report.item;
  // Mail quarantined by no rule never got as far as the rules (too large, not
  // an email, over the MIME limits); machine mail and our own stop before them.
  const bool parsed = !(decided.outcome == forum::Outcome::kQuarantined && decided.rule.empty());
  report.rules_consulted = parsed && decided.outcome != forum::Outcome::kMachine;
  if (parsed) {
    mail::ParseLimits limits;
    limits.max_size = pipeline.max_message_size;
    limits.max_depth = pipeline.max_mime_depth;
    limits.max_parts = pipeline.max_parts;
    const mail::Message m = mail::ParseMessage(raw, limits);
    report.classification_why = mail::Classify(m).why;
    if (report.rules_consulted) ExplainRules(pipeline, m, report);
  }
  ExplainThread(lookup, report);
  ExplainSends(lookup, report);
  return report;
}

}  // namespace

int Route(const std::string& config_path, const std::string& mailbox, const std::string& message_path,
          Format format) {
  auto cfg = LoadAndReport(config_path);
  if (!cfg) return base::kExitConfig;
  const config::MailboxConfig* box = cfg->FindMailbox(mailbox);
  if (box == nullptr) {
    std::string names;
    for (const auto& b : cfg->mailboxes) names += (names.empty() ? "" : ", ") + b.name;
    std::fprintf(stderr, "mailforumctl route: %s has no mailbox '%s' (it has: %s)\n", config_path.c_str(),
                 mailbox.c_str(), names.c_str());
    return base::kExitUsage;
  }
  auto raw = ReadWholeFile(message_path);
  if (!raw) {
    std::fprintf(stderr, "mailforumctl route: %s\n", raw.error().message.c_str());
    return base::kExitDataErr;
  }

  // Reads only, on a session PostgreSQL keeps read-only: the dry run cannot change anything.
  std::unique_ptr<forum::Store> store;
  std::optional<base::Error> database_error;
  auto opened = OpenStore(*cfg);
  if (opened) {
    store = std::move(opened).value();
    if (auto read_only = store->MakeReadOnly(); !read_only) {
      database_error = read_only.error();
      store.reset();
    }
  } else {
    database_error = opened.error();
  }

  RecordingLookup lookup(store.get());
  const engine::PipelineConfig pipeline = engine::PipelineConfigFor(*cfg, *box);
  auto decided = engine::Decide(engine::FetchedMessage{0, 0, *raw}, pipeline, lookup);
  if (!decided) return Fail("route", decided.error());  // the lookup never fails; kept for safety
  RouteReport report = Explain(pipeline, *raw, std::move(decided).value(), lookup);
  if (!database_error && lookup.error()) database_error = lookup.error();
  if (database_error) report.database_error = database_error->message;

  const std::string out = format == Format::kJson ? RouteJson(report) : RouteText(report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (database_error) return Fail("route", *database_error);
  return base::kExitOk;
}

}  // namespace ctl
