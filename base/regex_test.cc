#include "base/regex.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace base {
namespace {

TEST(RegexTest, MatchesAnywhereInTheText) {
  auto re = Regex::Compile(R"(\b(vpn|laptop)\b)");
  ASSERT_TRUE(re.ok()) << re.error().message;
  EXPECT_TRUE(re->PartialMatch("my laptop is broken"));
  EXPECT_FALSE(re->PartialMatch("laptops"));
  EXPECT_EQ(re->pattern(), R"(\b(vpn|laptop)\b)");
}

TEST(RegexTest, InlineCaseInsensitiveFlag) {
  auto re = Regex::Compile(R"((?i)^\s*(\[action\]|action( item)?:))");
  ASSERT_TRUE(re.ok()) << re.error().message;
  EXPECT_TRUE(re->PartialMatch("  ACTION ITEM: renew the certificate"));
  EXPECT_TRUE(re->PartialMatch("[Action] call the vendor"));
  EXPECT_FALSE(re->PartialMatch("Re: no action needed"));
}

TEST(RegexTest, AnchorsAndNewlines) {
  auto line_start = Regex::Compile("^urgent");
  ASSERT_TRUE(line_start.ok());
  EXPECT_FALSE(line_start->PartialMatch("hello\nurgent"));
  auto multi_line = Regex::Compile("(?m)^urgent");
  ASSERT_TRUE(multi_line.ok());
  EXPECT_TRUE(multi_line->PartialMatch("hello\nurgent"));
}

TEST(RegexTest, MatchesTextWithEmbeddedNulBytes) {
  auto re = Regex::Compile("b$");
  ASSERT_TRUE(re.ok());
  EXPECT_TRUE(re->PartialMatch(std::string_view("a\0b", 3)));
}

TEST(RegexTest, CompileErrorSaysWhatIsWrong) {
  auto missing_paren = Regex::Compile("(abc");
  ASSERT_FALSE(missing_paren.ok());
  EXPECT_EQ(missing_paren.error().kind, ErrorKind::kInvalidInput);
  EXPECT_EQ(missing_paren.error().message, "invalid regular expression: missing ): (abc");

  auto repetition = Regex::Compile("a**");
  ASSERT_FALSE(repetition.ok());
  EXPECT_EQ(repetition.error().message, "invalid regular expression: bad repetition operator: **");
}

TEST(RegexTest, BacktrackingPatternStaysFastOnHostileInput) {
  // (a+)+$ takes exponential time in a backtracking engine on "aaaa...b".
  auto re = Regex::Compile("(a+)+$");
  ASSERT_TRUE(re.ok());
  std::string hostile(100000, 'a');
  hostile += 'b';
  EXPECT_FALSE(re->PartialMatch(hostile));
}

TEST(RegexTest, CopiesShareTheProgramAcrossThreads) {
  auto re = Regex::Compile("(?i)password");
  ASSERT_TRUE(re.ok());
  Regex copy = *re;
  std::vector<std::thread> threads;
  std::vector<int> hits(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&copy, &hits, t] {
      for (int i = 0; i < 1000; ++i)
        hits[static_cast<size_t>(t)] += copy.PartialMatch("Reset my PASSWORD please");
    });
  }
  for (auto& thread : threads) thread.join();
  for (int h : hits) EXPECT_EQ(h, 1000);
  EXPECT_EQ(copy.pattern(), re->pattern());
}

}  // namespace
}  // namespace base
