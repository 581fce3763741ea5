// Logging to standard error, one line per record.
//
// Under systemd (JOURNAL_STREAM set) each line starts with a "<N>" priority
// prefix that journald understands, and carries no timestamp (the journal adds
// one); elsewhere lines read "2026-11-25T10:00:00.123Z INFO message".
// Never pass a secret to these functions: the configuration keeps secrets in
// config::Secret, which has no way to be printed.
//
// Thread-safety: all functions may be called from any thread; lines never interleave.
#ifndef MAILFORUM_BASE_LOG_H_
#define MAILFORUM_BASE_LOG_H_

#include <string_view>

namespace base {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Records below `level` are dropped. Default: kInfo.
void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();

void Log(LogLevel level, std::string_view message);
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

}  // namespace base

#endif  // MAILFORUM_BASE_LOG_H_
