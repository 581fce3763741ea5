#include "cli/operations_format.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/command_support.h"
#include "web/views.h"

namespace ctl {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr char kJsonTime[] = "%Y-%m-%dT%H:%M:%SZ";

std::string Dump(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n"; }

json JsonTime(Clock::time_point t) { return UtcTime(t, kJsonTime); }

template <typename T>
json OrNull(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json OrNull(const std::optional<Clock::time_point>& t) { return t ? JsonTime(*t) : json(nullptr); }

// null for "" (no such value), the text otherwise.
json NullIfEmpty(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

std::string Outcome(forum::Outcome outcome) { return std::string(forum::OutcomeName(outcome)); }

// "<id>", or "(none)" for a message without one.
std::string Angled(const std::string& message_id) {
  return message_id.empty() ? "(none)" : "<" + Printable(message_id) + ">";
}

std::string Quoted(const std::string& text) { return "\"" + Printable(text) + "\""; }

// A "label: value" line, values aligned; an empty label continues the field above.
std::string Field(const std::string& label, const std::string& value, const std::string& indent = "") {
  std::string line = indent + label + (label.empty() ? "" : ":");
  if (line.size() < indent.size() + 16) line.resize(indent.size() + 16, ' ');
  return line + " " + value + "\n";
}

// --- threads, posts, outbox ---

std::string ThreadText(const forum::ThreadSummary& t) {
  return "thread #" + std::to_string(t.id) + " [" + Printable(t.category) + "] " + Quoted(t.subject) + " (" +
         t.status + ", opened by " + Printable(t.author_address) + ")";
}

json ThreadJson(const forum::ThreadSummary& t) {
  return {{"id", t.id},
          {"category", t.category},
          {"subject", t.subject},
          {"status", t.status},
          {"author", t.author_address}};
}

std::string PostText(const forum::PostRecord& p) {
  return "post #" + std::to_string(p.id) + " " + Angled(p.message_id) + " in " + ThreadText(p.thread);
}

json PostJson(const std::optional<forum::PostRecord>& p) {
  if (!p) return nullptr;
  return {{"id", p->id},
          {"message_id", p->message_id},
          {"author", p->author_address},
          {"created_at", JsonTime(p->created_at)},
          {"thread", ThreadJson(p->thread)}};
}

std::string OutboxText(const forum::OutboxRecord& o, const std::string& indent) {
  std::string line = indent + "#" + std::to_string(o.id) + " " + std::string(forum::Name(o.kind)) + " to " +
                     Printable(o.recipient) + " " + Angled(o.message_id) + ": " + o.status + ", " +
                     std::to_string(o.attempts) + (o.attempts == 1 ? " attempt" : " attempts");
  if (o.sent_at) {
    line += ", sent " + TextTime(*o.sent_at);
  } else if (o.status == "pending") {
    line += ", next try " + TextTime(o.next_attempt_at);
  }
  line += "\n";
  if (!o.last_error.empty()) {
    std::string error = Printable(o.last_error);
    if (o.last_reply_code) error = std::to_string(*o.last_reply_code) + " " + error;
    line += indent + "  last error: " + error + "\n";
  }
  return line;
}

json OutboxJson(const std::vector<forum::OutboxRecord>& rows) {
  json out = json::array();
  for (const auto& o : rows) {
    out.push_back({{"id", o.id},
                   {"kind", forum::Name(o.kind)},
                   {"recipient", o.recipient},
                   {"message_id", o.message_id},
                   {"status", o.status},
                   {"attempts", o.attempts},
                   {"last_error", NullIfEmpty(o.last_error)},
                   {"last_reply_code", OrNull(o.last_reply_code)},
                   {"thread_id", OrNull(o.thread_id)},
                   {"post_id", OrNull(o.post_id)},
                   {"created_at", JsonTime(o.created_at)},
                   {"next_attempt_at", JsonTime(o.next_attempt_at)},
                   {"sent_at", OrNull(o.sent_at)}});
  }
  return out;
}

// --- bounce scores ---

// "2.25 (2 hard, 1 soft), last bounce ...: reason; suppressed since ..."
std::string SuppressionText(const forum::SuppressionRecord& s) {
  std::string score = std::to_string(s.bounce_score);
  score.erase(score.find_last_not_of('0') + 1);
  if (!score.empty() && score.back() == '.') score.pop_back();
  std::string text =
      score + " (" + std::to_string(s.hard_bounces) + " hard, " + std::to_string(s.soft_bounces) + " soft)";
  if (s.last_bounce_at) text += ", last bounce " + TextTime(*s.last_bounce_at);
  if (!s.last_reason.empty()) text += ": " + Printable(s.last_reason);
  if (s.suppressed_at) text += "; suppressed since " + TextTime(*s.suppressed_at);
  return text;
}

json SuppressionJson(const forum::SuppressionRecord& s) {
  return {{"bounce_score", s.bounce_score}, {"hard_bounces", s.hard_bounces},
          {"soft_bounces", s.soft_bounces}, {"last_bounce_at", OrNull(s.last_bounce_at)},
          {"last_reason", s.last_reason},   {"suppressed_at", OrNull(s.suppressed_at)}};
}

// --- inbound messages ---

json InboundJson(const forum::InboundRecord& r) {
  return {{"id", r.id},
          {"mailbox", r.mailbox},
          {"uidvalidity", r.uidvalidity},
          {"uid", r.uid},
          {"received_at", JsonTime(r.received_at)},
          {"message_id", NullIfEmpty(r.message_id)},
          {"message_key", r.message_key},
          {"from", r.from_address},
          {"subject", r.subject},
          {"size", r.size},
          {"classification", forum::Name(r.classification)},
          {"outcome", Outcome(r.outcome)},
          {"rule", NullIfEmpty(r.rule)},
          {"reason", r.reason},
          {"post_id", OrNull(r.post_id)},
          {"post_action_done", r.post_action_done}};
}

std::string InboundTraceText(const forum::InboundTrace& t) {
  const forum::InboundRecord& r = t.inbound;
  const std::string in = "  ";
  std::string out = "inbound #" + std::to_string(r.id) + ": mailbox " + Printable(r.mailbox) +
                    ", UIDVALIDITY " + std::to_string(r.uidvalidity) + ", UID " + std::to_string(r.uid) +
                    ", received " + TextTime(r.received_at) + "\n";
  out += Field("Message-ID", Angled(r.message_id), in);
  out += Field("from", Printable(r.from_address), in);
  out += Field("subject", Quoted(r.subject), in);
  out += Field("size", std::to_string(r.size) + " bytes", in);
  out += Field("classification", std::string(forum::Name(r.classification)), in);
  out += Field("outcome", Outcome(r.outcome), in);
  out += Field("rule", r.rule.empty() ? "(none)" : Printable(r.rule), in);
  out += Field("reason", Printable(r.reason), in);
  out += Field("post-action", r.post_action_done ? "done" : "pending", in);
  if (t.post) {
    out += Field("post", PostText(*t.post), in);
  } else if (r.post_id) {
    out += Field("post", "#" + std::to_string(*r.post_id) + " (deleted)", in);
  }
  if (t.outbox.empty()) {
    out += Field("outbound mail", "none", in);
  } else {
    out += in + "outbound mail:\n";
    for (const auto& o : t.outbox) out += OutboxText(o, in + "  ");
  }
  return out;
}

json InboundTracesJson(const std::vector<forum::InboundTrace>& traces) {
  json out = json::array();
  for (const auto& t : traces) {
    json j = InboundJson(t.inbound);
    j["post"] = PostJson(t.post);
    j["outbox"] = OutboxJson(t.outbox);
    out.push_back(std::move(j));
  }
  return out;
}

// --- route ---

std::string MatchName(RouteReport::Match match) {
  switch (match) {
    case RouteReport::Match::kNone:
      return "none";
    case RouteReport::Match::kToken:
      return "reply_token";
    case RouteReport::Match::kReferences:
      return "references";
    case RouteReport::Match::kNewThread:
      return "new_thread";
  }
  return "none";
}

// Which thread the message joins, for people; "" when it makes no post.
std::string ThreadMatchText(const RouteReport& r) {
  std::string thread;
  if (r.thread) {
    thread = ThreadText(*r.thread);
  } else if (r.item.post && r.item.post->thread_id) {
    thread = "thread #" + std::to_string(*r.item.post->thread_id);
  }
  switch (r.match) {
    case RouteReport::Match::kToken:
      return "reply token -> " + thread;
    case RouteReport::Match::kReferences:
      return "In-Reply-To/References " + Angled(r.matched_message_id) + " -> " + thread;
    case RouteReport::Match::kNewThread: {
      const forum::PostDraft& post = *r.item.post;
      std::string text =
          "new thread in category '" + Printable(post.category) + "', subject " + Quoted(post.subject);
      if (!post.tags.empty()) {
        text += ", tags";
        for (const auto& tag : post.tags) text += " " + Printable(tag);
      }
      return text;
    }
    case RouteReport::Match::kNone:
      break;
  }
  return "";
}

}  // namespace

std::string TextTime(Clock::time_point t) { return UtcTime(t, "%Y-%m-%d %H:%M:%SZ"); }

std::string RouteText(const RouteReport& r) {
  const forum::InboundItem& item = r.item;
  std::string out;
  out += Field("mailbox", Printable(r.mailbox));
  out += Field("Message-ID", Angled(item.message_id));
  out += Field("from", item.from_address.empty() ? "(none)" : Printable(item.from_address));
  out += Field("subject", Quoted(item.subject));
  out += Field("size", std::to_string(item.size) + " bytes");
  out += Field("classification",
               std::string(forum::Name(item.classification)) +
                   (r.classification_why.empty() ? "" : " (" + Printable(r.classification_why) + ")"));
  if (r.rules_consulted) {
    out += Field("DMARC", r.dmarc + " (trusted Authentication-Results only)");
    out += "rules (first match wins):\n";
    for (const auto& step : r.rules) {
      out += std::string(step.matched ? "  => " : "     ") + step.explanation + "\n";
    }
    if (item.rule.empty()) out += "     no rule matched\n";
  } else {
    out += Field("rules", "not consulted");
  }
  if (!item.rule.empty()) {
    for (const auto& step : r.rules) {
      if (!step.matched) continue;
      out += Field("rule", "'" + Printable(step.name) + "'" +
                               (step.line > 0 ? " (line " + std::to_string(step.line) + ")" : std::string()) +
                               ", action " + step.action);
    }
  }
  const std::string decided = Outcome(item.outcome) + ": " + Printable(item.reason);
  out += Field("outcome", r.duplicate_of ? "duplicate (were it new: " + decided + ")" : decided);
  if (r.duplicate_of) {
    const forum::InboundRecord& d = *r.duplicate_of;
    out += Field("duplicate", "already recorded as inbound #" + std::to_string(d.id) + " (mailbox " +
                                  Printable(d.mailbox) + ", UID " + std::to_string(d.uid) + ", " +
                                  Outcome(d.outcome) + "): this copy would be recorded as a duplicate");
  }
  // A duplicate makes no post, so it joins no thread.
  if (const std::string thread = ThreadMatchText(r); !thread.empty() && !r.duplicate_of) {
    out += Field("thread", thread);
  }
  if (r.match != RouteReport::Match::kToken && r.token_thread) {
    out += Field("reply token", "names thread #" + std::to_string(*r.token_thread) +
                                    (r.database_error.empty() ? ", which does not exist" : " (not checked)"));
  }
  if (r.sends.empty()) {
    out += Field("would send", "nothing");
  } else {
    std::string label = "would send";
    for (const auto& s : r.sends) {
      out += Field(label, s.kind + " to " + Printable(s.recipient) +
                              (s.skipped.empty() ? "" : " (not queued: " + s.skipped + ")"));
      label.clear();
    }
  }
  if (!r.database_error.empty()) {
    out += Field("database",
                 Printable(r.database_error) +
                     "; thread matching, the rate limit and duplicate detection assumed nothing is known");
  }
  out += "(dry run: nothing was changed)\n";
  return out;
}

std::string RouteJson(const RouteReport& r) {
  const forum::InboundItem& item = r.item;
  json rules = json::array();
  for (const auto& step : r.rules) {
    rules.push_back({{"name", step.name},
                     {"line", step.line},
                     {"action", step.action},
                     {"matched", step.matched},
                     {"explanation", step.explanation}});
  }
  json thread = {
      {"match", MatchName(r.match)},
      {"thread_id", item.post && item.post->thread_id ? json(*item.post->thread_id) : json(nullptr)},
      {"token_thread", OrNull(r.token_thread)},
      {"matched_message_id", NullIfEmpty(r.matched_message_id)},
      {"thread", r.thread ? ThreadJson(*r.thread) : json(nullptr)}};
  if (r.match == RouteReport::Match::kNewThread) {
    thread["category"] = item.post->category;
    thread["subject"] = item.post->subject;
    thread["tags"] = item.post->tags;
  }
  json sends = json::array();
  for (const auto& s : r.sends) {
    sends.push_back({{"kind", s.kind},
                     {"recipient", s.recipient},
                     {"queued", s.skipped.empty()},
                     {"skipped", NullIfEmpty(s.skipped)}});
  }
  const std::string_view classification = forum::Name(item.classification);
  return Dump({{"mailbox", r.mailbox},
               {"message_id", NullIfEmpty(item.message_id)},
               {"message_key", item.message_key},
               {"from", item.from_address},
               {"subject", item.subject},
               {"size", item.size},
               {"classification", {{"kind", classification}, {"why", r.classification_why}}},
               {"rules_consulted", r.rules_consulted},
               {"dmarc", r.rules_consulted ? json(r.dmarc) : json(nullptr)},
               {"rules", rules},
               {"rule", NullIfEmpty(item.rule)},
               // What would be recorded, and what the pipeline decided before duplicate detection.
               {"outcome", r.duplicate_of ? Outcome(forum::Outcome::kDuplicate) : Outcome(item.outcome)},
               {"decided_outcome", Outcome(item.outcome)},
               {"reason", item.reason},
               {"duplicate_of", r.duplicate_of ? InboundJson(*r.duplicate_of) : json(nullptr)},
               {"thread", thread},
               {"sends", sends},
               {"database", {{"ok", r.database_error.empty()}, {"error", NullIfEmpty(r.database_error)}}},
               {"dry_run", true}});
}

// --- trace ---

std::string TraceText(const forum::MessageTrace& t) {
  std::string out = "Message-ID " + Angled(t.message_id) + "\n";
  if (t.empty()) return out + "nothing is recorded about this Message-ID\n";
  for (const auto& in : t.inbound) out += "\n" + InboundTraceText(in);
  if (t.outbound_post) out += "\nour Message-ID of " + PostText(*t.outbound_post) + "\n";
  if (!t.outbound.empty()) {
    out += "\noutbound mail with this Message-ID:\n";
    for (const auto& o : t.outbound) out += OutboxText(o, "  ");
  }
  return out;
}

std::string TraceJson(const forum::MessageTrace& t) {
  return Dump({{"message_id", t.message_id},
               {"inbound", InboundTracesJson(t.inbound)},
               {"outbound_post", PostJson(t.outbound_post)},
               {"outbound", OutboxJson(t.outbound)}});
}

// "thread 12 (one-click, 2026-12-05 12:00 UTC), category it (mailto, ...)".
std::string UnsubscribedText(const std::vector<forum::Unsubscription>& rows) {
  std::string out;
  for (const auto& u : rows) {
    out += (out.empty() ? "" : ", ") + Printable(forum::DescribeScope(u.scope)) + " (" + u.source + ", " +
           TextTime(u.created_at) + ")";
  }
  return out;
}

json UnsubscriptionsJsonValue(const std::vector<forum::Unsubscription>& rows) {
  json out = json::array();
  for (const auto& u : rows) {
    out.push_back({{"address", u.address},
                   {"scope", u.scope},
                   {"source", u.source},
                   {"created_at", JsonTime(u.created_at)}});
  }
  return out;
}

std::string TraceText(const forum::AddressTrace& t) {
  std::string out = "address " + Printable(t.address) + "\n";
  if (t.empty()) return out + "nothing is recorded about this address\n";
  if (const auto& s = t.suppression) {
    out += Field("bounce score", SuppressionText(*s));
  } else {
    out += Field("bounce score", "0 (never bounced)");
  }
  out +=
      Field("unsubscribed", t.unsubscriptions.empty() ? "from nothing" : UnsubscribedText(t.unsubscriptions));
  out += "\ninbound messages from this address (newest first): " + std::to_string(t.inbound.size()) + "\n";
  for (const auto& in : t.inbound) out += "\n" + InboundTraceText(in);
  out += "\noutbound mail to this address (newest first): " + std::to_string(t.outbox.size()) + "\n";
  for (const auto& o : t.outbox) out += OutboxText(o, "  ");
  return out;
}

std::string TraceJson(const forum::AddressTrace& t) {
  return Dump({{"address", t.address},
               {"inbound", InboundTracesJson(t.inbound)},
               {"suppression", t.suppression ? SuppressionJson(*t.suppression) : json(nullptr)},
               {"unsubscriptions", UnsubscriptionsJsonValue(t.unsubscriptions)},
               {"outbox", OutboxJson(t.outbox)}});
}

// --- quarantine ---

std::string InboundSummaryLine(const forum::InboundRecord& r) {
  return "#" + std::to_string(r.id) + "  " + Printable(r.mailbox) + " UID " + std::to_string(r.uid) + "  " +
         TextTime(r.received_at) + "  " +
         (r.from_address.empty() ? "(no sender)" : Printable(r.from_address)) + "  " +
         std::to_string(r.size) + " bytes  " + Quoted(r.subject) + "\n    reason: " + Printable(r.reason) +
         "\n";
}

std::string QuarantineListText(const std::vector<forum::InboundRecord>& records) {
  if (records.empty()) return "the quarantine is empty\n";
  std::string out = std::to_string(records.size()) + " quarantined message(s), oldest first:\n";
  for (const auto& r : records) out += InboundSummaryLine(r);
  return out;
}

std::string QuarantineListJson(const std::vector<forum::InboundRecord>& records) {
  json out = json::array();
  for (const auto& r : records) out.push_back(InboundJson(r));
  return Dump(out);
}

// --- outbox and suppressions ---

std::string OutboxListText(const std::vector<forum::OutboxRecord>& rows, const std::string& what) {
  if (rows.empty()) return "no outbound mail (" + what + ")\n";
  std::string out = std::to_string(rows.size()) + " outbound mail(s) (" + what + "), newest first:\n";
  for (const auto& o : rows) out += OutboxText(o, "  ");
  return out;
}

std::string OutboxListJson(const std::vector<forum::OutboxRecord>& rows) { return Dump(OutboxJson(rows)); }

std::string SuppressionsText(const std::vector<forum::SuppressionRecord>& rows, double threshold) {
  if (rows.empty()) return "no address has bounced\n";
  char limit[32];
  std::snprintf(limit, sizeof limit, "%g", threshold);
  std::string out = std::to_string(rows.size()) + " address(es) with a bounce score, highest first; " +
                    "* = suppressed, no mail goes to it (score >= suppress_score " + limit + "):\n";
  for (const auto& s : rows) {
    out +=
        (s.bounce_score >= threshold ? "* " : "  ") + Printable(s.address) + "  " + SuppressionText(s) + "\n";
  }
  return out;
}

std::string SuppressionsJson(const std::vector<forum::SuppressionRecord>& rows, double threshold) {
  json out = json::array();
  for (const auto& s : rows) {
    json j = SuppressionJson(s);
    j["address"] = s.address;
    j["suppressed"] = s.bounce_score >= threshold;
    out.push_back(std::move(j));
  }
  return Dump(out);
}

std::string UnsubscriptionsText(const std::string& address, const std::vector<forum::Unsubscription>& rows) {
  if (rows.empty()) return Printable(address) + " is unsubscribed from nothing: it gets all its mail\n";
  std::string out = Printable(address) + " is unsubscribed from (newest first):\n";
  for (const auto& u : rows) {
    out += "  " + Printable(forum::DescribeScope(u.scope)) + "  by " + u.source + ", " +
           TextTime(u.created_at) + "\n";
  }
  return out;
}

std::string UnsubscriptionsJson(const std::vector<forum::Unsubscription>& rows) {
  return Dump(UnsubscriptionsJsonValue(rows));
}

std::string RetryText(const RetryReport& r) {
  std::string out = "inbound #" + std::to_string(r.inbound_id) + ": ";
  if (r.outcome == forum::Outcome::kQuarantined) {
    return out + "still quarantined (" + Printable(r.reason) + "); nothing was changed\n";
  }
  out += "quarantined -> " + Outcome(r.outcome) + ": " + Printable(r.reason) + "\n";
  if (!r.rule.empty()) out += Field("rule", Printable(r.rule));
  if (r.thread_id) out += Field("thread", "#" + std::to_string(*r.thread_id));
  if (r.post_id) out += Field("post", "#" + std::to_string(*r.post_id));
  return out;
}

std::string RetryJson(const RetryReport& r) {
  return Dump({{"id", r.inbound_id},
               {"changed", r.outcome != forum::Outcome::kQuarantined},
               {"outcome", Outcome(r.outcome)},
               {"rule", NullIfEmpty(r.rule)},
               {"reason", r.reason},
               {"thread_id", OrNull(r.thread_id)},
               {"post_id", OrNull(r.post_id)}});
}

// --- status ---

namespace {

// "45 s", "3 min", "2 h 5 min", "3 d 4 h".
std::string Age(int64_t seconds) {
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 7200) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * 86400) return std::to_string(seconds / 3600) + " h " + std::to_string(seconds % 3600 / 60) + " min";
  return std::to_string(seconds / 86400) + " d " + std::to_string(seconds % 86400 / 3600) + " h";
}

}  // namespace

std::string StatusText(const std::vector<forum::MailboxReport>& mailboxes, const forum::ServiceHealth& health,
                       std::chrono::seconds failure_limit) {
  std::string out = "mailboxes (a mailbox failing longer than " + Age(failure_limit.count()) +
                    " fails the health check):\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-20s %-8s %-14s %-12s %s\n", "NAME", "STATE", "LAST SUCCESS", "FAILING",
                "LAST ERROR");
  out += line;
  for (const auto& m : mailboxes) {
    std::string success = "-", failing = "-", error = "-";
    if (m.health != nullptr) {
      if (m.health->last_success_age) success = Age(*m.health->last_success_age) + " ago";
      if (m.health->failing_for > 0) {
        failing = Age(m.health->failing_for);
        error = Printable(m.health->last_error);
      }
    } else {
      success = "never contacted";
    }
    std::snprintf(line, sizeof line, "  %-20s %-8s %-14s %-12s ", Printable(m.name).c_str(),
                  std::string(forum::MailboxConditionName(m.condition)).c_str(), success.c_str(), failing.c_str());
    out += line + error + "\n";
  }
  out += "outbox: " + std::to_string(health.outbox_due) + " due now";
  if (health.oldest_due_age) out += " (the oldest for " + Age(*health.oldest_due_age) + ")";
  out += ", " + std::to_string(health.outbox_pending) + " pending in all; " +
         std::to_string(health.suppressed_addresses) + " address(es) suppressed after bounces\n";
  return out;
}

std::string StatusJson(const std::vector<forum::MailboxReport>& mailboxes, const forum::ServiceHealth& health,
                       std::chrono::seconds failure_limit) {
  return web::HealthJson(mailboxes, health, failure_limit);
}

}  // namespace ctl
