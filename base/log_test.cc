#include "base/log.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace base {
namespace {

TEST(LogFormat, TextHasTimeLevelMessageAndFields) {
  uint32_t uid = 42;
  std::string line =
      FormatLogLine(LogLevel::kInfo, LogFormat::kText, false, "2026-12-05T10:00:00.000Z", "message decided",
                    {{"mailbox", "help"}, {"uid", uid}, {"outcome", "posted"}});
  EXPECT_EQ(line, "2026-12-05T10:00:00.000Z INFO message decided mailbox=help uid=42 outcome=posted\n");
}

TEST(LogFormat, TextQuotesValuesThatWouldSplitAField) {
  std::string line = FormatLogLine(LogLevel::kWarning, LogFormat::kText, false, "T", "m",
                                   {{"a", ""}, {"b", "x y"}, {"c", "k=v"}, {"d", "say \"hi\" \\o/"}});
  EXPECT_EQ(line, "T WARN m a=\"\" b=\"x y\" c=\"k=v\" d=\"say \\\"hi\\\" \\\\o/\"\n");
}

TEST(LogFormat, ControlCharactersNeverForgeARecord) {
  std::string line = FormatLogLine(LogLevel::kError, LogFormat::kText, false, "T", "a\nb\rc",
                                   {{"subject", "x\nT INFO forged"}});
  EXPECT_EQ(line, "T ERROR a b c subject=\"x T INFO forged\"\n");
  EXPECT_EQ(line.find('\n'), line.size() - 1);
}

TEST(LogFormat, JournalGetsPriorityPrefixAndNoTimestamp) {
  EXPECT_EQ(FormatLogLine(LogLevel::kError, LogFormat::kText, true, "", "boom", {}), "<3>boom\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kWarning, LogFormat::kText, true, "", "w", {}), "<4>w\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kInfo, LogFormat::kText, true, "", "i", {{"k", "v"}}), "<6>i k=v\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kDebug, LogFormat::kText, true, "", "d", {}), "<7>d\n");
  EXPECT_EQ(FormatLogLine(LogLevel::kInfo, LogFormat::kJson, true, "", "i", {}),
            "<6>{\"level\":\"info\",\"msg\":\"i\"}\n");
}

TEST(LogFormat, JsonIsOneValidObjectPerLine) {
  int64_t thread = 7;
  std::string line = FormatLogLine(
      LogLevel::kInfo, LogFormat::kJson, false, "2026-12-05T10:00:00.000Z", "message \"decided\"\n",
      {{"mailbox", "help"}, {"thread", thread}, {"subject", "caf\xc3\xa9\t\x01"}});
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["time"], "2026-12-05T10:00:00.000Z");
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "message \"decided\"\n");
  EXPECT_EQ(j["mailbox"], "help");
  EXPECT_EQ(j["thread"], 7);  // a number, not a string
  EXPECT_EQ(j["subject"], "caf\xc3\xa9\t\x01");
}

TEST(LogFormat, JsonReplacesBytesThatAreNotUtf8) {
  // Latin-1 "é", a lone continuation byte, an overlong "/", a truncated sequence, a surrogate.
  std::string line = FormatLogLine(LogLevel::kInfo, LogFormat::kJson, false, "T", "m",
                                   {{"v", "caf\xe9 \x80 \xc0\xaf \xe2\x82 \xed\xa0\x80"}});
  auto j = nlohmann::json::parse(line);  // throws on invalid UTF-8
  std::string v = j["v"];
  EXPECT_EQ(v.find("caf\xef\xbf\xbd "), 0u) << v;
  EXPECT_EQ(v.find('\xe9'), std::string::npos);
}

TEST(LogLevelAndFormat, SettersRoundTrip) {
  SetLogFormat(LogFormat::kJson);
  EXPECT_EQ(GetLogFormat(), LogFormat::kJson);
  SetLogFormat(LogFormat::kText);
  EXPECT_EQ(GetLogFormat(), LogFormat::kText);
}

}  // namespace
}  // namespace base
