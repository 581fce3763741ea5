#include "engine/rules_from_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mail/auth_results.h"
#include "mail/classifier.h"
#include "mail/message.h"
#include "tests/support/test_env.h"

namespace engine {
namespace {

// Rules for every matcher kind, nested, written as an operator would. Line
// numbers matter: the rules start on line 11.
constexpr char kConfig[] = R"yaml(instance: {domain: example.com, base_url: "https://help.example.com"}
database: {dsn_file: db.dsn}
secrets: {reply_key_file: reply.key}
smtp: {host: smtp.example.com, from: help@example.com, reply_to: "help+{token}@example.com"}
categories: [{slug: actions, name: Action items}, {slug: it, name: IT}, {slug: general, name: General}]
auth: {trusted_authserv_ids: [MX.example.com]}
mailboxes:
  - name: help
    imap: {host: imap.example.com, username: help@example.com, password_file: imap.pass}
    rules:
      - {name: machines, match: {classification: [auto_reply, bounce, feedback, delivery_notice]}, action: ignore}
      - {name: spoofed, match: {all: [{from_domain: [example.com]}, {dmarc: [fail, temperror]}]}, action: quarantine}
      - {name: outsiders, match: {not: {from_domain: [Example.COM]}}, action: reject, reason: "Staff only."}
      - {name: huge, match: {size_over: 10MB}, action: quarantine}
      - name: urgent
        match:
          any:
            - {header: {name: X-Priority, regex: "^1"}}
            - {to: [urgent@example.com]}
            - {cc: [Urgent@Example.com]}
        action: thread
        category: actions
        tags: [urgent, vip]
      - {name: action-items, match: {subject: "(?i)^\\s*(\\[action\\]|action( item)?:)"}, action: thread,
         category: actions, tags: [action-item]}
      - {name: it, match: {subject: "(?i)\\b(vpn|laptop|password)\\b"}, action: thread, category: it}
      - {name: invoices, match: {has_attachment: true, body: "(?i)invoice"}, action: thread, category: general}
      - {name: boss, match: {from: [Boss@Example.com]}, action: thread, category: general}
      - {name: rest, action: thread, category: general}
)yaml";

class RulesFromConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = mftest::MakeTempDir("mf-rules-test-");
    const std::string& dir = dir_;
    std::ofstream(dir + "/db.dsn") << "postgresql://mailforum@localhost/mailforum\n";
    std::ofstream(dir + "/reply.key") << "reply-key-0123456789abcdef0123456789abcdef\n";
    std::ofstream(dir + "/imap.pass") << "imap-secret\n";
    config::LoadResult loaded = config::LoadConfigString(kConfig, dir + "/mailforum.yaml");
    std::string problems;
    for (const config::Diagnostic& d : loaded.diagnostics) problems += d.ToString() + "\n";
    ASSERT_TRUE(loaded.ok()) << problems;
    config_ = std::move(*loaded.config);
    rules_ = RulesFromConfig(config_.mailboxes.at(0).rules);
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  // The name of the rule that decides `message`, or "(none)".
  std::string Route(const mail::Message& message, std::string_view classification = "normal") const {
    const std::string dmarc(
        mail::DmarcVerdictName(mail::TrustedDmarc(message, config_.auth.trusted_authserv_ids)));
    const forum::Rule* rule = forum::FirstMatch(rules_, forum::RuleFacts{message, classification, dmarc});
    return rule ? rule->name : "(none)";
  }

  std::string dir_;
  config::Config config_;
  std::vector<forum::Rule> rules_;
};

// A plain question from a colleague, DMARC-checked by our MTA.
mail::Message Colleague() {
  mail::Message m;
  m.from = mail::Address{"Carol", "carol@example.com"};
  m.to = {{"Help", "help@example.com"}};
  m.subject = "Printer on floor 3";
  m.text_body = "It is out of toner.";
  // As the parser fills them: Authentication-Results and From are read from the raw value.
  const std::string results = "mx.example.com; spf=pass smtp.mailfrom=example.com; dmarc=pass";
  const std::string from = "Carol <carol@example.com>";
  m.headers = {{"Authentication-Results", results, results}, {"From", from, from}};
  m.raw_size = 4000;
  return m;
}

TEST_F(RulesFromConfigTest, CopiesEveryRuleField) {
  ASSERT_EQ(rules_.size(), 10u);
  std::vector<std::string> names;
  for (const forum::Rule& r : rules_) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"machines", "spoofed", "outsiders", "huge", "urgent",
                                             "action-items", "it", "invoices", "boss", "rest"}));
  EXPECT_EQ(rules_[0].action, forum::RuleAction::kIgnore);
  EXPECT_EQ(rules_[0].line, 11);
  EXPECT_EQ(rules_[1].action, forum::RuleAction::kQuarantine);
  EXPECT_EQ(rules_[2].action, forum::RuleAction::kReject);
  EXPECT_EQ(rules_[2].reason, "Staff only.");
  EXPECT_EQ(rules_[4].action, forum::RuleAction::kThread);
  EXPECT_EQ(rules_[4].category, "actions");
  EXPECT_EQ(rules_[4].tags, (std::vector<std::string>{"urgent", "vip"}));
  EXPECT_EQ(rules_[4].line, 15);
  EXPECT_EQ(rules_[6].line, 26);
  EXPECT_FALSE(rules_[9].match.has_value());

  using Kind = forum::Matcher::Kind;
  const forum::Matcher& machines = *rules_[0].match;
  EXPECT_EQ(machines.kind, Kind::kClassification);
  EXPECT_EQ(machines.values,
            (std::vector<std::string>{"auto_reply", "bounce", "feedback", "delivery_notice"}));
  const forum::Matcher& spoofed = *rules_[1].match;
  EXPECT_EQ(spoofed.kind, Kind::kAll);
  ASSERT_EQ(spoofed.children.size(), 2u);
  EXPECT_EQ(spoofed.children[0].kind, Kind::kFromDomain);
  EXPECT_EQ(spoofed.children[1].kind, Kind::kDmarc);
  EXPECT_EQ(spoofed.children[1].values, (std::vector<std::string>{"fail", "temperror"}));
  const forum::Matcher& urgent = *rules_[4].match;
  EXPECT_EQ(urgent.kind, Kind::kAny);
  ASSERT_EQ(urgent.children.size(), 3u);
  EXPECT_EQ(urgent.children[0].kind, Kind::kHeader);
  EXPECT_EQ(urgent.children[0].header_name, "X-Priority");
  ASSERT_TRUE(urgent.children[0].regex.has_value());
  EXPECT_EQ(urgent.children[0].regex->pattern(), "^1");
  EXPECT_EQ(urgent.children[2].values, std::vector<std::string>{"urgent@example.com"});
  const forum::Matcher& huge = *rules_[3].match;
  EXPECT_EQ(huge.kind, Kind::kSizeOver);
  EXPECT_EQ(huge.size, 10'000'000u);
  const forum::Matcher& invoices = *rules_[7].match;
  ASSERT_EQ(invoices.children.size(), 2u);
  EXPECT_EQ(invoices.children[0].kind, Kind::kHasAttachment);
  EXPECT_TRUE(invoices.children[0].flag);
  EXPECT_EQ(invoices.children[1].kind, Kind::kBody);
}

struct RouteCase {
  const char* label;
  std::function<void(mail::Message&)> edit;
  const char* classification;
  const char* expected;
};

TEST_F(RulesFromConfigTest, RoutesLikeTheConfigurationSays) {
  const RouteCase cases[] = {
      {"plain question", [](mail::Message&) {}, "normal", "rest"},
      {"bounce", [](mail::Message&) {}, "bounce", "machines"},
      {"out of office", [](mail::Message& m) { m.from->address = "x@gmail.com"; }, "auto_reply", "machines"},
      {"dmarc fail from a trusted MTA",
       [](mail::Message& m) {
         m.headers[0].value = m.headers[0].raw_value = "MX.Example.com (Postfix) 1; dmarc=fail (p=reject)";
       },
       "normal", "spoofed"},
      {"dmarc fail claimed by a stranger",
       [](mail::Message& m) {
         m.headers.insert(m.headers.begin(), {"Authentication-Results", "evil.example.net; dmarc=fail",
                                              "evil.example.net; dmarc=fail"});
       },
       "normal", "rest"},
      {"outsider", [](mail::Message& m) { m.from->address = "someone@gmail.com"; }, "normal", "outsiders"},
      {"subdomain is an outsider", [](mail::Message& m) { m.from->address = "a@eu.example.com"; }, "normal",
       "outsiders"},
      {"upper-case domain is ours", [](mail::Message& m) { m.from->address = "Carol@EXAMPLE.com"; }, "normal",
       "rest"},
      {"huge", [](mail::Message& m) { m.raw_size = 10'000'001; }, "normal", "huge"},
      {"priority header",
       [](mail::Message& m) {
         m.headers.push_back({"x-priority", "1 (Highest)"});
       },
       "normal", "urgent"},
      {"to urgent",
       [](mail::Message& m) {
         m.to.push_back({"", "URGENT@example.com"});
       },
       "normal", "urgent"},
      {"cc urgent",
       [](mail::Message& m) {
         m.cc.push_back({"", "urgent@example.com"});
       },
       "normal", "urgent"},
      {"action item", [](mail::Message& m) { m.subject = "  [Action] renew the certificates"; }, "normal",
       "action-items"},
      {"it question", [](mail::Message& m) { m.subject = "VPN drops every hour"; }, "normal", "it"},
      {"invoice with attachment",
       [](mail::Message& m) {
         m.text_body = "The INVOICE is attached.";
         m.attachments.push_back({});
       },
       "normal", "invoices"},
      {"invoice without attachment", [](mail::Message& m) { m.text_body = "Where is the invoice?"; },
       "normal", "rest"},
      {"boss", [](mail::Message& m) { m.from->address = "boss@example.com"; }, "normal", "boss"},
  };
  for (const RouteCase& c : cases) {
    mail::Message m = Colleague();
    c.edit(m);
    EXPECT_EQ(Route(m, c.classification), c.expected) << c.label;
  }
}

TEST_F(RulesFromConfigTest, ExplainsWithTheFileLine) {
  mail::Message m = Colleague();
  m.subject = "My laptop is slow";
  const std::string dmarc(mail::DmarcVerdictName(mail::TrustedDmarc(m, config_.auth.trusted_authserv_ids)));
  const forum::RuleFacts facts{m, "normal", dmarc};
  const forum::Rule* rule = forum::FirstMatch(rules_, facts);
  ASSERT_NE(rule, nullptr);
  EXPECT_EQ(forum::ExplainMatch(*rule, facts),
            R"(rule 'it' (line 26): subject matches (?i)\b(vpn|laptop|password)\b)");
}

TEST(RulesFromConfigNamesTest, EnumNamesAgreeAcrossModules) {
  // forum compares names: the classifier's and the configuration's must be the same words.
  const std::pair<config::Classification, mail::MessageKind> kinds[] = {
      {config::Classification::kNormal, mail::MessageKind::kNormal},
      {config::Classification::kAutoReply, mail::MessageKind::kAutoReply},
      {config::Classification::kBounce, mail::MessageKind::kBounce},
      {config::Classification::kFeedback, mail::MessageKind::kFeedback},
      {config::Classification::kDeliveryNotice, mail::MessageKind::kDeliveryNotice},
  };
  for (const auto& [c, k] : kinds) EXPECT_EQ(config::ClassificationName(c), mail::MessageKindName(k));
  const std::pair<config::DmarcResult, mail::DmarcVerdict> verdicts[] = {
      {config::DmarcResult::kPass, mail::DmarcVerdict::kPass},
      {config::DmarcResult::kFail, mail::DmarcVerdict::kFail},
      {config::DmarcResult::kNone, mail::DmarcVerdict::kNone},
      {config::DmarcResult::kTempError, mail::DmarcVerdict::kTempError},
      {config::DmarcResult::kPermError, mail::DmarcVerdict::kPermError},
  };
  for (const auto& [c, v] : verdicts) EXPECT_EQ(config::DmarcResultName(c), mail::DmarcVerdictName(v));
  const std::pair<config::RuleAction, forum::RuleAction> actions[] = {
      {config::RuleAction::kThread, forum::RuleAction::kThread},
      {config::RuleAction::kIgnore, forum::RuleAction::kIgnore},
      {config::RuleAction::kReject, forum::RuleAction::kReject},
      {config::RuleAction::kQuarantine, forum::RuleAction::kQuarantine},
  };
  for (const auto& [c, f] : actions) {
    EXPECT_EQ(config::RuleActionName(c), forum::RuleActionName(f));
    config::Rule rule;
    rule.action = c;
    EXPECT_EQ(RulesFromConfig({rule}).at(0).action, f);
  }
  EXPECT_TRUE(RulesFromConfig({}).empty());
}

}  // namespace
}  // namespace engine
