// Logging to standard error, one line per record.
//
// A record is a message and optional key=value fields (mailbox, uid,
// message_id, thread, post, outcome, rule, duration_ms, ...). Two formats:
// - text (default): "2026-11-25T10:00:00.123Z INFO message key=value key=\"a b\"";
//   a value is quoted (with \" and \\ escaped) when it is empty or holds a
//   space, '"', '=' or '\\'.
// - json: one object per line, {"time":…,"level":"info","msg":…,"key":"value",…}.
// Under systemd (JOURNAL_STREAM set) each line starts with a "<N>" priority
// prefix that journald understands (<3> error, <4> warning, <6> info, <7>
// debug) and carries no timestamp (the journal adds one).
// Control characters never reach the output (a newline would forge a record),
// and bytes that are not UTF-8 become U+FFFD in json.
// Never pass a secret to these functions: the configuration keeps secrets in
// config::Secret, which has no way to be printed. Never log body text at info.
//
// Thread-safety: all functions may be called from any thread; lines never interleave.
#ifndef MAILFORUM_BASE_LOG_H_
#define MAILFORUM_BASE_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace base {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };
enum class LogFormat { kText = 0, kJson = 1 };

// Records below `level` are dropped. Default: kInfo.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Default: kText.
void SetLogFormat(LogFormat format);
LogFormat GetLogFormat();

// One key=value field of a record. Numbers are written bare in json.
struct LogField {
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(v) {}
  LogField(std::string_view k, const char* v) : key(k), value(v) {}
  template <typename N, typename = std::enable_if_t<std::is_integral_v<N> && !std::is_same_v<N, bool>>>
  LogField(std::string_view k, N n) : key(k), value(std::to_string(n)), number(true) {}
  std::string_view key;  // [a-z_]+ by convention
  std::string value;
  bool number = false;
};
using LogFields = std::initializer_list<LogField>;

void Log(LogLevel level, std::string_view message, LogFields fields = {});
inline void LogDebug(std::string_view m, LogFields f = {}) { Log(LogLevel::kDebug, m, f); }
inline void LogInfo(std::string_view m, LogFields f = {}) { Log(LogLevel::kInfo, m, f); }
inline void LogWarning(std::string_view m, LogFields f = {}) { Log(LogLevel::kWarning, m, f); }
inline void LogError(std::string_view m, LogFields f = {}) { Log(LogLevel::kError, m, f); }

// The line Log writes (with its '\n'), for tests. `journal`: with the
// priority prefix instead of the timestamp; `time` is the timestamp text.
std::string FormatLogLine(LogLevel level, LogFormat format, bool journal, std::string_view time,
                          std::string_view message, LogFields fields);

}  // namespace base

#endif  // MAILFORUM_BASE_LOG_H_
