#include "daemon/reload_plan.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>
#include <vector>

namespace mailforumd {
namespace {

using Names = std::vector<std::string>;

// Two mailboxes (help and sales), a web and the outbox; each parameter replaces its part of the file.
std::string Yaml(
    const std::string& help_imap = "host: imap.example.com, username: help, password_env: MFTEST_PW",
    const std::string& help_rules = "[{name: all, action: thread, category: general}]",
    const std::string& extra_mailbox = "", const std::string& smtp_from = "help@example.com",
    const std::string& web = "{listen: '127.0.0.1:8080'}",
    const std::string& categories = "[{slug: general, name: General}]",
    const std::string& dsn_env = "MFTEST_DSN") {
  return "instance: {domain: example.com, base_url: 'https://help.example.com'}\n"
         "database: {dsn_env: " +
         dsn_env +
         "}\n"
         "secrets: {reply_key_env: MFTEST_KEY}\n"
         "smtp: {host: smtp.example.com, username: u, password_env: MFTEST_PW, from: " +
         smtp_from +
         ", reply_to: 'help+{token}@example.com'}\n"
         "categories: " +
         categories +
         "\n"
         "web: " +
         web +
         "\n"
         "mailboxes:\n"
         "  - name: help\n"
         "    imap: {" +
         help_imap +
         "}\n"
         "    rules: " +
         help_rules +
         "\n"
         "  - name: sales\n"
         "    imap: {host: imap.example.com, username: sales, password_env: MFTEST_PW}\n"
         "    rules: [{name: all, action: thread, category: general}]\n" +
         extra_mailbox;
}

class ReloadPlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("MFTEST_DSN", "postgresql://localhost/a", 1);
    setenv("MFTEST_DSN2", "postgresql://localhost/b", 1);
    setenv("MFTEST_KEY", "reply-key-0123456789abcdef0123456789abcdef", 1);
    setenv("MFTEST_PW", "first-password", 1);
  }
  static config::Config Load(const std::string& text) {
    config::LoadResult r = config::LoadConfigString(text, "test.yaml");
    EXPECT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : r.diagnostics[0].ToString());
    return r.ok() ? std::move(*r.config) : config::Config{};
  }
};

TEST_F(ReloadPlanTest, TheSameFileKeepsEverything) {
  const ReloadPlan plan = PlanReload(Load(Yaml()), Load(Yaml()));
  EXPECT_FALSE(plan.restart_all);
  EXPECT_EQ(plan.keep, (Names{"help", "sales"}));
  EXPECT_EQ(plan.start, Names{});
  EXPECT_EQ(plan.stop, Names{});
  EXPECT_EQ(plan.restart, Names{});
  EXPECT_FALSE(plan.restart_outbox);
  EXPECT_FALSE(plan.restart_web);
  EXPECT_EQ(
      plan.Summary(),
      "mailboxes started: none; stopped: none; restarted: none; kept: help, sales; outbox kept; web kept");
}

TEST_F(ReloadPlanTest, ARuleChangeKeepsTheSession) {
  const ReloadPlan plan =
      PlanReload(Load(Yaml()), Load(Yaml("host: imap.example.com, username: help, password_env: MFTEST_PW",
                                         "[{name: none, action: ignore}]")));
  EXPECT_EQ(plan.keep, (Names{"help", "sales"}));
  EXPECT_EQ(plan.restart, Names{});
  EXPECT_FALSE(plan.restart_outbox);
  EXPECT_FALSE(plan.restart_web);
}

TEST_F(ReloadPlanTest, ConnectionSettingsRestartOnlyTheirMailbox) {
  const config::Config old = Load(Yaml());
  for (const char* imap :
       {"host: imap2.example.com, username: help, password_env: MFTEST_PW",
        "host: imap.example.com, port: 1993, username: help, password_env: MFTEST_PW",
        "host: imap.example.com, username: help2, password_env: MFTEST_PW",
        "host: imap.example.com, username: help, password_env: MFTEST_PW, folder: Support",
        "host: imap.example.com, username: help, password_env: MFTEST_PW, idle: false",
        "host: imap.example.com, username: help, password_env: MFTEST_PW, poll_interval: 5s"}) {
    const ReloadPlan plan = PlanReload(old, Load(Yaml(imap)));
    EXPECT_EQ(plan.restart, Names{"help"}) << imap;
    EXPECT_EQ(plan.keep, Names{"sales"}) << imap;
    EXPECT_FALSE(plan.restart_outbox) << imap;
    EXPECT_FALSE(plan.restart_web) << imap;
  }
}

TEST_F(ReloadPlanTest, ANewPasswordRestartsEveryLoopThatLogsInWithIt) {
  const config::Config old = Load(Yaml());
  setenv("MFTEST_PW", "second-password", 1);
  const ReloadPlan plan = PlanReload(old, Load(Yaml()));
  EXPECT_EQ(plan.restart, (Names{"help", "sales"}));
  EXPECT_TRUE(plan.restart_outbox);  // smtp logs in with it too
  EXPECT_FALSE(plan.restart_web);
}

TEST_F(ReloadPlanTest, MailboxesAddedAndRemoved) {
  const std::string third =
      "  - name: jobs\n"
      "    imap: {host: imap.example.com, username: jobs, password_env: MFTEST_PW}\n"
      "    rules: [{name: all, action: thread, category: general}]\n";
  const config::Config two = Load(Yaml());
  const config::Config three = Load(Yaml("host: imap.example.com, username: help, password_env: MFTEST_PW",
                                         "[{name: all, action: thread, category: general}]", third));
  ReloadPlan plan = PlanReload(two, three);
  EXPECT_EQ(plan.start, Names{"jobs"});
  EXPECT_EQ(plan.keep, (Names{"help", "sales"}));
  EXPECT_TRUE(plan.restart_web) << "the web's health lists the mailboxes";
  EXPECT_FALSE(plan.restart_outbox);
  plan = PlanReload(three, two);
  EXPECT_EQ(plan.stop, Names{"jobs"});
  EXPECT_EQ(plan.start, Names{});
  EXPECT_EQ(plan.keep, (Names{"help", "sales"}));
}

TEST_F(ReloadPlanTest, OutboxAndWebRestartOnlyForTheirOwnSections) {
  const config::Config old = Load(Yaml());
  const std::string imap = "host: imap.example.com, username: help, password_env: MFTEST_PW";
  const std::string rules = "[{name: all, action: thread, category: general}]";
  ReloadPlan plan = PlanReload(old, Load(Yaml(imap, rules, "", "other@example.com")));
  EXPECT_TRUE(plan.restart_outbox);
  EXPECT_FALSE(plan.restart_web);
  EXPECT_EQ(plan.keep, (Names{"help", "sales"}));

  plan = PlanReload(old, Load(Yaml(imap, rules, "", "help@example.com", "{listen: '127.0.0.1:8081'}")));
  EXPECT_FALSE(plan.restart_outbox);
  EXPECT_TRUE(plan.restart_web);
  EXPECT_EQ(plan.keep, (Names{"help", "sales"}));

  plan = PlanReload(old, Load(Yaml(imap, rules, "", "help@example.com", "{listen: '127.0.0.1:8080'}",
                                   "[{slug: general, name: Everything}]")));
  EXPECT_FALSE(plan.restart_outbox);
  EXPECT_TRUE(plan.restart_web) << "a category's name is on the web's pages";
  EXPECT_EQ(plan.keep, (Names{"help", "sales"}));
}

TEST_F(ReloadPlanTest, ANewDatabaseRestartsEverything) {
  const std::string imap = "host: imap.example.com, username: help, password_env: MFTEST_PW";
  const std::string rules = "[{name: all, action: thread, category: general}]";
  const ReloadPlan plan =
      PlanReload(Load(Yaml()), Load(Yaml(imap, rules, "", "help@example.com", "{listen: '127.0.0.1:8080'}",
                                         "[{slug: general, name: General}]", "MFTEST_DSN2")));
  EXPECT_TRUE(plan.restart_all);
  EXPECT_EQ(plan.stop, (Names{"help", "sales"}));
  EXPECT_EQ(plan.start, (Names{"help", "sales"}));
  EXPECT_EQ(plan.keep, Names{});
  EXPECT_TRUE(plan.restart_outbox);
  EXPECT_TRUE(plan.restart_web);
}

}  // namespace
}  // namespace mailforumd
