// The rules engine: which of a mailbox's routing rules decides what happens to
// an inbound message (DESIGN.md §1, issue 4 "Rules"). First match wins.
//
// This is forum's own rule model: forum/ may not see config/, so the daemon
// converts the loaded configuration into these structs
// (daemon/rules_from_config.h), and tests build them by hand. The matchers
// mean what config::Matcher's do.
//
// Subjects, bodies and headers are written by strangers: regexes are
// base::Regex (RE2, linear time), so no rule can be made to run for long.
//
// Pure: no I/O, no clock. Thread-safety: rules are plain values; any number of
// threads may match the same rules at once.
#ifndef MAILFORUM_FORUM_RULES_H_
#define MAILFORUM_FORUM_RULES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/regex.h"
#include "mail/message.h"

namespace forum {

// What a rule does with the messages it matches.
enum class RuleAction {
  kThread,      // Post it: a new thread in the rule's category, or an answer in its thread.
  kIgnore,      // Record it and do nothing else.
  kReject,      // Record it and send the sender a rejection notice (at most once a day).
  kQuarantine,  // Record it with its raw bytes and move it to the quarantine folder.
};

// "thread", "ignore", "reject" or "quarantine", as in the configuration.
std::string_view RuleActionName(RuleAction action);

// A condition over an inbound message; a tree whose inner nodes are all/any/not.
// Which fields apply depends on `kind`; the others stay empty. Every string
// comparison below is ASCII case-insensitive, so hand-built rules need not
// lower-case their values.
struct Matcher {
  enum class Kind {
    kAll,             // Every child matches (true when there are none).
    kAny,             // At least one child matches (false when there are none).
    kNot,             // No child matches; the configuration gives exactly one.
    kFrom,            // The address part of From is one of `values`.
    kFromDomain,      // The domain of the From address is one of `values`, exactly: mail
                      // from "eu.example.com" does not match "example.com" (list each
                      // subdomain that should), so a rule admits no more than it names.
    kTo,              // The address part of some To address is one of `values`.
    kCc,              // The address part of some Cc address is one of `values`.
    kSubject,         // `regex` matches somewhere in the decoded subject.
    kBody,            // `regex` matches somewhere in Message::text_body.
    kHeader,          // `regex` matches somewhere in the decoded value of some header
                      // named `header_name`; never true when there is no such header.
    kHasAttachment,   // Whether the message has an attachment (Message::attachments) equals `flag`.
    kSizeOver,        // Message::raw_size is greater than `size` bytes.
    kClassification,  // RuleFacts::classification is one of `values`.
    kDmarc,           // RuleFacts::dmarc is one of `values`.
  };
  Kind kind = Kind::kAll;
  // kAll, kAny, kNot.
  std::vector<Matcher> children;
  // kFrom, kTo, kCc: addresses (local@domain); kFromDomain: domains;
  // kClassification: mail::MessageKindName() names ("normal", "auto_reply",
  // "bounce", "feedback", "delivery_notice"); kDmarc: mail::DmarcVerdictName()
  // names ("pass", "fail", "none", "temperror", "permerror").
  std::vector<std::string> values;
  // kSubject, kBody, kHeader. A leaf of these kinds without a regex never matches.
  std::optional<base::Regex> regex;
  // kHeader: the field name, e.g. "X-Priority".
  std::string header_name;
  // kHasAttachment.
  bool flag = false;
  // kSizeOver.
  std::uint64_t size = 0;
};

// One routing rule of a mailbox.
struct Rule {
  // Unique within the mailbox; shown in traces and dry runs.
  std::string name;
  // nullopt: the rule matches every message.
  std::optional<Matcher> match;
  RuleAction action = RuleAction::kThread;
  // Slug of the category for new threads (kThread only).
  std::string category;
  // Tags put on new threads (kThread only).
  std::vector<std::string> tags;
  // Text for the rejection notice (kReject only). Empty: a generic text.
  std::string reason;
  // 1-based line of the rule in the configuration file; 0 when unknown.
  int line = 0;
};

// What the rules look at: the message and the verdicts computed before the
// rules run. Borrows everything; it must not outlive what it refers to.
struct RuleFacts {
  const mail::Message& message;
  // mail::MessageKindName() of the classifier's verdict.
  std::string_view classification;
  // mail::DmarcVerdictName() of the trusted DMARC result.
  std::string_view dmarc;
};

// True when `matcher` holds for `facts`.
bool Matches(const Matcher& matcher, const RuleFacts& facts);

// The first rule in `rules` that matches `facts` (a rule without `match`
// matches everything), or nullptr when none does. The pointer is into `rules`.
const Rule* FirstMatch(const std::vector<Rule>& rules, const RuleFacts& facts);

// One line saying why `rule` matches `facts`, or why it does not, for
// `mailforumctl route` and traces, e.g.
//   rule 'it' (line 14): subject matches (?i)\b(vpn|laptop|password)\b
//   rule 'outsiders' (line 12): from domain gmail.com is not in [example.com]
//   rule 'it' (line 14): does not match: subject does not match (?i)\bvpn\b
// For all/any/not it names the conditions that decided. Values taken from
// the message are cut to a bounded length and control characters become
// spaces, so the line stays one short line whatever the sender wrote.
std::string ExplainMatch(const Rule& rule, const RuleFacts& facts);

}  // namespace forum

#endif  // MAILFORUM_FORUM_RULES_H_
