// Thread lifecycle commands written by email (issue 5 item 5): a line that
// consists only of `#resolved`, `#reopen` or `#accept` (any letter case,
// surrounding whitespace allowed). Pure text work; whether a command applies
// (only the thread's author may use them) is the pipeline's decision.
//
// Thread-safety: pure functions.
#ifndef MAILFORUM_ENGINE_THREAD_COMMANDS_H_
#define MAILFORUM_ENGINE_THREAD_COMMANDS_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace engine {

enum class ThreadCommand {
  kResolve,  // #resolved
  kReopen,   // #reopen
  kAccept,   // #accept: the post this mail replies to is the accepted answer
};

struct ThreadCommands {
  std::vector<ThreadCommand> commands;  // in the order written
  // The text without the command lines; blank lines left at its start and
  // end by their removal are dropped too. Equal to the input when there are
  // no commands.
  std::string rest;
};

// A reply whose whole content is one `#mute` or `#unmute` line (any letter
// case, surrounding white space and blank lines allowed): the sender stops,
// or starts again, getting the thread's mail.
enum class MuteCommand { kMute, kUnmute };

// The mute command `body` (a trimmed post body) consists of, or nullopt.
std::optional<MuteCommand> ParseMuteCommand(std::string_view body);

// The command lines of `body` (a trimmed post body, without quoted history)
// and what remains without them. Lines with anything else on them (`#resolved
// thanks`, `> #resolved`) are text, not commands.
ThreadCommands ParseThreadCommands(std::string_view body);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_THREAD_COMMANDS_H_
