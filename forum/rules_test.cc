#include "forum/rules.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace forum {
namespace {

using Kind = Matcher::Kind;

Matcher Leaf(Kind kind, std::vector<std::string> values) {
  Matcher m;
  m.kind = kind;
  m.values = std::move(values);
  return m;
}

Matcher Re(Kind kind, const std::string& pattern, std::string header_name = "") {
  Matcher m;
  m.kind = kind;
  m.header_name = std::move(header_name);
  auto regex = base::Regex::Compile(pattern);
  if (!regex.ok()) {
    ADD_FAILURE() << pattern << ": " << regex.error().message;
    return m;
  }
  m.regex = std::move(regex).value();
  return m;
}

Matcher Attachment(bool flag) {
  Matcher m;
  m.kind = Kind::kHasAttachment;
  m.flag = flag;
  return m;
}

Matcher SizeOver(std::uint64_t size) {
  Matcher m;
  m.kind = Kind::kSizeOver;
  m.size = size;
  return m;
}

Matcher Tree(Kind kind, std::vector<Matcher> children) {
  Matcher m;
  m.kind = kind;
  m.children = std::move(children);
  return m;
}

Rule MakeRule(std::string name, std::optional<Matcher> match, RuleAction action, int line) {
  Rule r;
  r.name = std::move(name);
  r.match = std::move(match);
  r.action = action;
  r.line = line;
  return r;
}

// A plain question from alice@example.com to help@example.com.
mail::Message Question() {
  mail::Message m;
  m.from = mail::Address{"Alice Example", "Alice@Example.COM"};
  m.to = {{"Help", "help@example.com"}, {"", "it@example.com"}};
  m.cc = {{"Bob", "bob@example.org"}};
  m.subject = "My laptop will not start";
  m.text_body = "Hello,\nthe VPN client crashes.\n";
  m.html_body = "<p>secret-html-only</p>";
  m.headers = {{"From", "Alice Example <Alice@Example.COM>"},
               {"X-Priority", "3 (Normal)"},
               {"Received", "from a.example by b.example"},
               {"Received", "from c.example by mx.example.com"},
               {"Subject", "My laptop will not start"}};
  m.raw_size = 2048;
  return m;
}

class RulesTest : public ::testing::Test {
 protected:
  bool Match(const Matcher& m) const { return Matches(m, RuleFacts{message_, classification_, dmarc_}); }
  std::string Why(const Rule& r) const {
    return ExplainMatch(r, RuleFacts{message_, classification_, dmarc_});
  }

  mail::Message message_ = Question();
  std::string classification_ = "normal";
  std::string dmarc_ = "pass";
};

TEST(RuleActionTest, Names) {
  EXPECT_EQ(RuleActionName(RuleAction::kThread), "thread");
  EXPECT_EQ(RuleActionName(RuleAction::kIgnore), "ignore");
  EXPECT_EQ(RuleActionName(RuleAction::kReject), "reject");
  EXPECT_EQ(RuleActionName(RuleAction::kQuarantine), "quarantine");
}

TEST_F(RulesTest, FromComparesTheAddressCaseInsensitively) {
  EXPECT_TRUE(Match(Leaf(Kind::kFrom, {"alice@example.com"})));
  EXPECT_TRUE(Match(Leaf(Kind::kFrom, {"bob@example.com", "ALICE@example.com"})));
  EXPECT_FALSE(Match(Leaf(Kind::kFrom, {"bob@example.com"})));
  EXPECT_FALSE(Match(Leaf(Kind::kFrom, {"Alice Example"})));  // The display name is not the address.
  EXPECT_FALSE(Match(Leaf(Kind::kFrom, {"alice@example.com.evil.net"})));
  message_.from.reset();
  EXPECT_FALSE(Match(Leaf(Kind::kFrom, {"alice@example.com"})));
  EXPECT_FALSE(Match(Leaf(Kind::kFrom, {""})));
  message_.from = mail::Address{"Undisclosed", ""};
  EXPECT_FALSE(Match(Leaf(Kind::kFrom, {""})));
}

TEST_F(RulesTest, FromDomainIsExact) {
  EXPECT_TRUE(Match(Leaf(Kind::kFromDomain, {"example.com"})));
  EXPECT_TRUE(Match(Leaf(Kind::kFromDomain, {"example.org", "EXAMPLE.com"})));
  EXPECT_FALSE(Match(Leaf(Kind::kFromDomain, {"com"})));
  EXPECT_FALSE(Match(Leaf(Kind::kFromDomain, {"ample.com"})));
  message_.from->address = "carol@eu.example.com";
  EXPECT_FALSE(Match(Leaf(Kind::kFromDomain, {"example.com"})));  // Subdomains are not included.
  EXPECT_TRUE(Match(Leaf(Kind::kFromDomain, {"eu.example.com"})));
  message_.from->address = "mallory@badexample.com";
  EXPECT_FALSE(Match(Leaf(Kind::kFromDomain, {"example.com"})));
  message_.from->address = "\"odd@local\"@example.com";
  EXPECT_TRUE(Match(Leaf(Kind::kFromDomain, {"example.com"})));
  message_.from->address = "no-at-sign";
  EXPECT_FALSE(Match(Leaf(Kind::kFromDomain, {"no-at-sign"})));
  EXPECT_FALSE(Match(Leaf(Kind::kFromDomain, {""})));
}

TEST_F(RulesTest, ToAndCcLookAtEveryAddressOfTheirOwnField) {
  EXPECT_TRUE(Match(Leaf(Kind::kTo, {"IT@example.com"})));
  EXPECT_TRUE(Match(Leaf(Kind::kTo, {"help@example.com"})));
  EXPECT_FALSE(Match(Leaf(Kind::kTo, {"bob@example.org"})));
  EXPECT_TRUE(Match(Leaf(Kind::kCc, {"bob@example.org"})));
  EXPECT_FALSE(Match(Leaf(Kind::kCc, {"help@example.com"})));
  message_.cc.clear();
  EXPECT_FALSE(Match(Leaf(Kind::kCc, {"bob@example.org"})));
}

TEST_F(RulesTest, SubjectAndBodyRegexes) {
  EXPECT_TRUE(Match(Re(Kind::kSubject, R"((?i)\b(vpn|laptop|password)\b)")));
  EXPECT_FALSE(Match(Re(Kind::kSubject, R"(\bLaptop\b)")));  // Case-sensitive unless (?i).
  EXPECT_FALSE(Match(Re(Kind::kSubject, "^laptop")));
  EXPECT_TRUE(Match(Re(Kind::kBody, "(?i)vpn client")));
  EXPECT_TRUE(Match(Re(Kind::kBody, "(?m)^the VPN")));
  EXPECT_FALSE(Match(Re(Kind::kBody, "secret-html-only")));  // Only the text body is read.
  EXPECT_FALSE(Match(Re(Kind::kBody, "laptop")));            // The body is not the subject.
  message_.subject = "Grüße aus Köln: Drucker kaputt";
  EXPECT_TRUE(Match(Re(Kind::kSubject, "(?i)GRÜSSE|grüße")));
  EXPECT_TRUE(Match(Re(Kind::kSubject, "^Gr.ße")));  // '.' is one UTF-8 character.
  Matcher no_regex;
  no_regex.kind = Kind::kSubject;
  EXPECT_FALSE(Match(no_regex));
}

TEST_F(RulesTest, HeaderRegexOverEveryFieldOfThatName) {
  EXPECT_TRUE(Match(Re(Kind::kHeader, "^3", "x-priority")));
  EXPECT_FALSE(Match(Re(Kind::kHeader, "^1", "X-Priority")));
  EXPECT_TRUE(Match(Re(Kind::kHeader, "by mx\\.example\\.com$", "Received")));  // The second one.
  EXPECT_FALSE(Match(Re(Kind::kHeader, "", "X-Spam-Flag")));  // Missing: even "" does not match.
  EXPECT_TRUE(Match(Tree(Kind::kNot, {Re(Kind::kHeader, "", "X-Spam-Flag")})));
}

TEST_F(RulesTest, HasAttachment) {
  EXPECT_TRUE(Match(Attachment(false)));
  EXPECT_FALSE(Match(Attachment(true)));
  message_.attachments.push_back({});
  EXPECT_TRUE(Match(Attachment(true)));
  EXPECT_FALSE(Match(Attachment(false)));
}

TEST_F(RulesTest, SizeOverIsStrict) {
  EXPECT_TRUE(Match(SizeOver(2047)));
  EXPECT_FALSE(Match(SizeOver(2048)));
  EXPECT_FALSE(Match(SizeOver(10'000'000)));
  EXPECT_TRUE(Match(SizeOver(0)));
}

TEST_F(RulesTest, ClassificationAndDmarc) {
  EXPECT_TRUE(Match(Leaf(Kind::kClassification, {"normal"})));
  EXPECT_FALSE(Match(Leaf(Kind::kClassification, {"bounce", "auto_reply"})));
  classification_ = "auto_reply";
  EXPECT_TRUE(Match(Leaf(Kind::kClassification, {"bounce", "auto_reply"})));
  EXPECT_TRUE(Match(Leaf(Kind::kDmarc, {"pass"})));
  EXPECT_FALSE(Match(Leaf(Kind::kDmarc, {"fail", "temperror"})));
  dmarc_ = "temperror";
  EXPECT_TRUE(Match(Leaf(Kind::kDmarc, {"fail", "TempError"})));
  dmarc_ = "";
  EXPECT_FALSE(Match(Leaf(Kind::kDmarc, {""})));
}

TEST_F(RulesTest, AllAnyNotNest) {
  const Matcher from_us = Leaf(Kind::kFromDomain, {"example.com"});
  const Matcher it_words = Re(Kind::kSubject, "(?i)laptop");
  const Matcher boss = Leaf(Kind::kFrom, {"boss@example.com"});
  EXPECT_TRUE(Match(Tree(Kind::kAll, {from_us, it_words})));
  EXPECT_FALSE(Match(Tree(Kind::kAll, {from_us, boss})));
  EXPECT_TRUE(Match(Tree(Kind::kAny, {boss, it_words})));
  EXPECT_FALSE(Match(Tree(Kind::kAny, {boss, Attachment(true)})));
  EXPECT_FALSE(Match(Tree(Kind::kNot, {from_us})));
  EXPECT_TRUE(Match(Tree(Kind::kNot, {boss})));
  // all(from_domain, any(from boss, not(has_attachment)), not(not(subject)))
  const Matcher tree =
      Tree(Kind::kAll, {from_us, Tree(Kind::kAny, {boss, Tree(Kind::kNot, {Attachment(true)})}),
                        Tree(Kind::kNot, {Tree(Kind::kNot, {it_words})})});
  EXPECT_TRUE(Match(tree));
  message_.attachments.push_back({});
  EXPECT_FALSE(Match(tree));
  message_.from->address = "boss@example.com";
  EXPECT_TRUE(Match(tree));
  // Empty inner nodes: all of nothing holds, any of nothing does not.
  EXPECT_TRUE(Match(Tree(Kind::kAll, {})));
  EXPECT_FALSE(Match(Tree(Kind::kAny, {})));
  EXPECT_TRUE(Match(Tree(Kind::kNot, {})));
}

TEST_F(RulesTest, FirstMatchWins) {
  const std::vector<Rule> rules = {
      MakeRule("outsiders", Tree(Kind::kNot, {Leaf(Kind::kFromDomain, {"example.com"})}), RuleAction::kReject,
               12),
      MakeRule("machines", Leaf(Kind::kClassification, {"auto_reply", "bounce"}), RuleAction::kIgnore, 13),
      MakeRule("it", Re(Kind::kSubject, R"((?i)\b(vpn|laptop|password)\b)"), RuleAction::kThread, 14),
      MakeRule("it-body", Re(Kind::kBody, "(?i)vpn"), RuleAction::kQuarantine, 15),
      MakeRule("rest", std::nullopt, RuleAction::kThread, 16),
  };
  RuleFacts facts{message_, "normal", "pass"};
  EXPECT_EQ(FirstMatch(rules, facts), &rules[2]);

  RuleFacts bounce{message_, "bounce", "pass"};
  EXPECT_EQ(FirstMatch(rules, bounce), &rules[1]);

  mail::Message outsider = Question();
  outsider.from->address = "someone@gmail.com";
  EXPECT_EQ(FirstMatch(rules, RuleFacts{outsider, "bounce", "none"}), &rules[0]);

  mail::Message other = Question();
  other.subject = "Lunch?";
  other.text_body = "Pizza.";
  EXPECT_EQ(FirstMatch(rules, RuleFacts{other, "normal", "pass"}), &rules[4]);
}

TEST_F(RulesTest, NoRuleMatches) {
  const std::vector<Rule> rules = {
      MakeRule("boss", Leaf(Kind::kFrom, {"boss@example.com"}), RuleAction::kThread, 3),
      MakeRule("big", SizeOver(1'000'000), RuleAction::kQuarantine, 4),
  };
  EXPECT_EQ(FirstMatch(rules, RuleFacts{message_, "normal", "pass"}), nullptr);
  EXPECT_EQ(FirstMatch({}, RuleFacts{message_, "normal", "pass"}), nullptr);
}

TEST_F(RulesTest, ExplainsMatches) {
  EXPECT_EQ(
      Why(MakeRule("it", Re(Kind::kSubject, R"((?i)\b(vpn|laptop|password)\b)"), RuleAction::kThread, 14)),
      R"(rule 'it' (line 14): subject matches (?i)\b(vpn|laptop|password)\b)");
  EXPECT_EQ(Why(MakeRule("rest", std::nullopt, RuleAction::kThread, 16)),
            "rule 'rest' (line 16): matches every message");
  EXPECT_EQ(Why(MakeRule("hand-built", std::nullopt, RuleAction::kThread, 0)),
            "rule 'hand-built': matches every message");
  EXPECT_EQ(Why(MakeRule("us", Leaf(Kind::kFromDomain, {"example.com"}), RuleAction::kThread, 2)),
            "rule 'us' (line 2): from domain Example.COM is in [example.com]");
  EXPECT_EQ(Why(MakeRule("to", Leaf(Kind::kTo, {"x@example.com", "it@example.com"}), RuleAction::kThread, 2)),
            "rule 'to' (line 2): to includes it@example.com");
  EXPECT_EQ(Why(MakeRule("prio", Re(Kind::kHeader, "^3", "X-Priority"), RuleAction::kThread, 2)),
            "rule 'prio' (line 2): header X-Priority matches ^3");
  EXPECT_EQ(Why(MakeRule("small", Tree(Kind::kNot, {SizeOver(4096)}), RuleAction::kThread, 2)),
            "rule 'small' (line 2): size 2048 bytes is not over 4096");
  EXPECT_EQ(Why(MakeRule("both",
                         Tree(Kind::kAll, {Leaf(Kind::kDmarc, {"pass"}),
                                           Leaf(Kind::kClassification, {"normal"}), Attachment(false)}),
                         RuleAction::kThread, 7)),
            "rule 'both' (line 7): dmarc pass is in [pass] and classification normal is in [normal] and "
            "has no attachment");
  EXPECT_EQ(Why(MakeRule("either",
                         Tree(Kind::kAny, {Leaf(Kind::kFrom, {"boss@example.com"}),
                                           Re(Kind::kBody, "(?i)vpn"), Re(Kind::kSubject, "laptop")}),
                         RuleAction::kThread, 8)),
            "rule 'either' (line 8): body matches (?i)vpn");
}

TEST_F(RulesTest, ExplainsMisses) {
  EXPECT_EQ(Why(MakeRule("outsiders", Tree(Kind::kNot, {Leaf(Kind::kFromDomain, {"example.com"})}),
                         RuleAction::kReject, 12)),
            "rule 'outsiders' (line 12): does not match: from domain Example.COM is in [example.com]");
  message_.from->address = "someone@gmail.com";
  EXPECT_EQ(Why(MakeRule("outsiders", Tree(Kind::kNot, {Leaf(Kind::kFromDomain, {"example.com"})}),
                         RuleAction::kReject, 12)),
            "rule 'outsiders' (line 12): from domain gmail.com is not in [example.com]");
  EXPECT_EQ(Why(MakeRule("boss", Leaf(Kind::kFrom, {"boss@example.com"}), RuleAction::kThread, 3)),
            "rule 'boss' (line 3): does not match: from someone@gmail.com is not in [boss@example.com]");
  EXPECT_EQ(Why(MakeRule("it", Re(Kind::kSubject, R"(\bvpn\b)"), RuleAction::kThread, 14)),
            R"(rule 'it' (line 14): does not match: subject does not match \bvpn\b)");
  EXPECT_EQ(Why(MakeRule("spam", Re(Kind::kHeader, "YES", "X-Spam-Flag"), RuleAction::kIgnore, 4)),
            "rule 'spam' (line 4): does not match: there is no X-Spam-Flag header");
  EXPECT_EQ(Why(MakeRule("urgent", Re(Kind::kHeader, "^1", "X-Priority"), RuleAction::kThread, 5)),
            "rule 'urgent' (line 5): does not match: no X-Priority header matches ^1");
  EXPECT_EQ(Why(MakeRule("cc", Leaf(Kind::kCc, {"x@example.com"}), RuleAction::kThread, 6)),
            "rule 'cc' (line 6): does not match: cc has none of [x@example.com]");
  EXPECT_EQ(
      Why(MakeRule("neither",
                   Tree(Kind::kAny, {Leaf(Kind::kDmarc, {"fail"}), Attachment(true), SizeOver(1 << 20)}),
                   RuleAction::kThread, 8)),
      "rule 'neither' (line 8): does not match: dmarc pass is not in [fail] and has no attachment and "
      "size 2048 bytes is not over 1048576");
  EXPECT_EQ(
      Why(MakeRule("first-fails",
                   Tree(Kind::kAll, {Re(Kind::kSubject, "laptop"), Leaf(Kind::kClassification, {"bounce"}),
                                     Leaf(Kind::kDmarc, {"fail"})}),
                   RuleAction::kThread, 9)),
      "rule 'first-fails' (line 9): does not match: classification normal is not in [bounce]");
  message_.from.reset();
  EXPECT_EQ(Why(MakeRule("boss", Leaf(Kind::kFrom, {"boss@example.com"}), RuleAction::kThread, 3)),
            "rule 'boss' (line 3): does not match: there is no From address");
}

TEST_F(RulesTest, ExplanationsStayOneShortLine) {
  message_.from->address = "evil\r\nX-Injected: yes@" + std::string(1 << 20, 'x') + ".example";
  std::vector<std::string> many;
  for (int i = 0; i < 50; ++i) many.push_back("d" + std::to_string(i) + ".example");
  const std::string why = Why(MakeRule("many", Leaf(Kind::kFrom, many), RuleAction::kThread, 1));
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  EXPECT_EQ(why.find('\r'), std::string::npos) << why;
  EXPECT_LT(why.size(), 1000u) << why;
  EXPECT_NE(why.find("... 42 more]"), std::string::npos) << why;
  // A cut never splits a UTF-8 character.
  message_.from->address = std::string(99, 'a') + "é@example.com";
  const std::string cut = Why(MakeRule("x", Leaf(Kind::kFrom, {"b@example.com"}), RuleAction::kThread, 1));
  EXPECT_NE(cut.find(std::string(99, 'a') + "... is not in"), std::string::npos) << cut;
}

TEST_F(RulesTest, HostileInputFinishes) {
  // Patterns that make a backtracking engine run for ages; RE2 is linear.
  message_.subject = std::string(1 << 20, 'a') + "!";
  message_.text_body = message_.subject;
  message_.headers.push_back({"X-Long", message_.subject});
  for (const char* pattern : {"(a+)+$", "(a|aa)+$", "(a*)*b", "(.*a){20}$", "^(a|a?)+$"}) {
    EXPECT_FALSE(Match(Re(Kind::kSubject, pattern))) << pattern;
    EXPECT_FALSE(Match(Re(Kind::kBody, pattern))) << pattern;
    EXPECT_FALSE(Match(Re(Kind::kHeader, pattern, "X-Long"))) << pattern;
  }
  EXPECT_TRUE(Match(Re(Kind::kSubject, "(a+)+!$")));
  const std::string why =
      Why(MakeRule("redos", Tree(Kind::kAny, {Re(Kind::kSubject, "(a+)+$"), Re(Kind::kBody, "(a|aa)+$")}),
                   RuleAction::kIgnore, 3));
  EXPECT_EQ(why,
            "rule 'redos' (line 3): does not match: subject does not match (a+)+$ and body does not match "
            "(a|aa)+$");
}

}  // namespace
}  // namespace forum
