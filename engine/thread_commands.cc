#include "engine/thread_commands.h"

#include <optional>

#include "base/ascii.h"

namespace engine {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view Strip(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::optional<ThreadCommand> CommandOf(std::string_view line) {
  const std::string word = base::AsciiLower(Strip(line));
  if (word == "#resolved") return ThreadCommand::kResolve;
  if (word == "#reopen") return ThreadCommand::kReopen;
  if (word == "#accept") return ThreadCommand::kAccept;
  return std::nullopt;
}

}  // namespace

std::optional<MuteCommand> ParseMuteCommand(std::string_view body) {
  std::string word;  // the one non-blank line
  while (!body.empty()) {
    const size_t end = body.find('\n');
    const std::string_view line = Strip(body.substr(0, end));
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    if (line.empty()) continue;
    if (!word.empty()) return std::nullopt;
    word = base::AsciiLower(line);
  }
  if (word == "#mute") return MuteCommand::kMute;
  if (word == "#unmute") return MuteCommand::kUnmute;
  return std::nullopt;
}

ThreadCommands ParseThreadCommands(std::string_view body) {
  ThreadCommands out;
  std::vector<std::string_view> kept;
  while (!body.empty()) {
    const size_t end = body.find('\n');
    const std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    if (auto command = CommandOf(line)) {
      out.commands.push_back(*command);
    } else {
      kept.push_back(line);
    }
  }
  if (out.commands.empty()) {
    for (size_t i = 0; i < kept.size(); ++i)
      out.rest += std::string(kept[i]) + (i + 1 < kept.size() ? "\n" : "");
    return out;
  }
  auto blank = [](std::string_view l) { return Strip(l).empty(); };
  size_t first = 0;
  size_t last = kept.size();
  while (first < last && blank(kept[first])) ++first;
  while (last > first && blank(kept[last - 1])) --last;
  for (size_t i = first; i < last; ++i) out.rest += std::string(kept[i]) + (i + 1 < last ? "\n" : "");
  // The line end of the last kept line, when the command lines followed it.
  while (!out.rest.empty() && out.rest.back() == '\r') out.rest.pop_back();
  return out;
}

}  // namespace engine
