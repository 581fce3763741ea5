#include "base/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

namespace base {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::atomic<LogFormat> g_format{LogFormat::kText};
std::mutex g_mutex;

bool UnderJournal() {
  static const bool under = std::getenv("JOURNAL_STREAM") != nullptr;
  return under;
}

// syslog priorities: debug 7, info 6, warning 4, error 3.
int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 7;
    case LogLevel::kInfo:
      return 6;
    case LogLevel::kWarning:
      return 4;
    case LogLevel::kError:
      return 3;
  }
  return 6;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}

const char* JsonLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
  return buf;
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Text: control characters become spaces (one record is one line).
void AppendText(std::string& out, std::string_view s) {
  for (char c : s) out += IsControl(static_cast<unsigned char>(c)) ? ' ' : c;
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || IsControl(static_cast<unsigned char>(c)))
      return true;
  }
  return false;
}

void AppendTextValue(std::string& out, std::string_view v) {
  if (!NeedsQuotes(v)) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += IsControl(static_cast<unsigned char>(c)) ? ' ' : c;
  }
  out += '"';
}

// The length of the well-formed UTF-8 sequence at s[i], or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n = 0;
  unsigned min = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2, min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3, min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  unsigned cp = c & (0xff >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (IsControl(c)) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    const size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out += '"';
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level); }
LogLevel GetLogLevel() { return g_level.load(); }
void SetLogFormat(LogFormat format) { g_format.store(format); }
LogFormat GetLogFormat() { return g_format.load(); }

std::string FormatLogLine(LogLevel level, LogFormat format, bool journal, std::string_view time,
                          std::string_view message, LogFields fields) {
  std::string line;
  if (journal) line = "<" + std::to_string(SyslogPriority(level)) + ">";
  if (format == LogFormat::kJson) {
    line += '{';
    if (!journal) {
      line += "\"time\":";
      AppendJsonString(line, time);
      line += ',';
    }
    line += "\"level\":\"";
    line += JsonLevelName(level);
    line += "\",\"msg\":";
    AppendJsonString(line, message);
    for (const LogField& f : fields) {
      line += ',';
      AppendJsonString(line, f.key);
      line += ':';
      if (f.number) {
        line += f.value;
      } else {
        AppendJsonString(line, f.value);
      }
    }
    line += "}\n";
    return line;
  }
  if (!journal) {
    line += time;
    line += ' ';
    line += LevelName(level);
    line += ' ';
  }
  AppendText(line, message);
  for (const LogField& f : fields) {
    line += ' ';
    AppendText(line, f.key);
    line += '=';
    AppendTextValue(line, f.value);
  }
  line += '\n';
  return line;
}

void Log(LogLevel level, std::string_view message, LogFields fields) {
  if (level < g_level.load()) return;
  const bool journal = UnderJournal();
  const std::string line =
      FormatLogLine(level, g_format.load(), journal, journal ? std::string() : Timestamp(), message, fields);
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace base
