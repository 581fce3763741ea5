// ParseThreadCommands: which lines are commands, and what is left of the text.
#include "engine/thread_commands.h"

#include <gtest/gtest.h>

namespace engine {
namespace {

using C = ThreadCommand;

TEST(ThreadCommandsTest, TextWithoutCommandsIsUnchanged) {
  const ThreadCommands r = ParseThreadCommands("Thanks, that worked.\n\nAlice");
  EXPECT_TRUE(r.commands.empty());
  EXPECT_EQ(r.rest, "Thanks, that worked.\n\nAlice");
}

TEST(ThreadCommandsTest, CommandLinesAreTakenInAnyCaseWithSurroundingWhitespace) {
  const ThreadCommands r = ParseThreadCommands("Thanks, that worked.\r\n\r\n  #Resolved \r\n\t#ACCEPT\n");
  EXPECT_EQ(r.commands, (std::vector<C>{C::kResolve, C::kAccept}));
  EXPECT_EQ(r.rest, "Thanks, that worked.");
}

TEST(ThreadCommandsTest, OnlyCommandsLeaveNothing) {
  const ThreadCommands r = ParseThreadCommands("#reopen");
  EXPECT_EQ(r.commands, (std::vector<C>{C::kReopen}));
  EXPECT_EQ(r.rest, "");
}

TEST(ThreadCommandsTest, CommandsInsideOtherTextAreText) {
  const std::string body = "#resolved thanks\n> #resolved\nsee #accept\n#resolve\n# resolved";
  const ThreadCommands r = ParseThreadCommands(body);
  EXPECT_TRUE(r.commands.empty());
  EXPECT_EQ(r.rest, body);
}

TEST(ThreadCommandsTest, BlankLinesBetweenKeptTextStay) {
  const ThreadCommands r = ParseThreadCommands("\nOne\n#resolved\n\nTwo\n\n");
  EXPECT_EQ(r.commands, (std::vector<C>{C::kResolve}));
  EXPECT_EQ(r.rest, "One\n\nTwo");
}

TEST(MuteCommandTest, OnlyAWholeReplyOfOneMuteOrUnmuteLineIsACommand) {
  EXPECT_EQ(ParseMuteCommand("#mute"), MuteCommand::kMute);
  EXPECT_EQ(ParseMuteCommand("\n  #MUTE \r\n\n"), MuteCommand::kMute);
  EXPECT_EQ(ParseMuteCommand("#unmute"), MuteCommand::kUnmute);
  EXPECT_FALSE(ParseMuteCommand(""));
  EXPECT_FALSE(ParseMuteCommand("#mute please"));
  EXPECT_FALSE(ParseMuteCommand("#mute\nThanks!"));
  EXPECT_FALSE(ParseMuteCommand("#mute\n#mute"));
  EXPECT_FALSE(ParseMuteCommand("> #mute"));
  EXPECT_FALSE(ParseMuteCommand("#muted"));
}

}  // namespace
}  // namespace engine
