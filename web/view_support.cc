#include "web/view_support.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <system_error>

#include "web/html.h"

namespace web {
namespace {

// Code points of `text` (valid UTF-8) up to `n` of them, as bytes.
size_t PrefixBytes(std::string_view text, size_t n) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == n) return i;
    ++chars;
  }
  return text.size();
}

bool IsBlank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// libstdc++'s system_clock counts nanoseconds in 64 bits: about ±292 years
// around 1970. A cursor beyond that would overflow on conversion.
constexpr int64_t kMaxCursorMicros = 9'000'000'000'000'000;

}  // namespace

std::string AuthorLabel(const forum::Author& author, AuthorDisplay display) {
  // A display name that holds an "@" may well be the address itself
  // ("jo@example.com" <jo@example.com>): it is masked like one.
  if (display == AuthorDisplay::kName) {
    std::string name = CleanLine(author.name);
    if (!IsBlank(name) && name.find('@') == std::string::npos) return name;
  }
  const size_t at = author.address.rfind('@');
  if (author.address.empty() || at == std::string::npos) return "Anonymous";
  const std::string local = CleanLine(std::string_view(author.address).substr(0, at));
  const std::string domain = CleanLine(std::string_view(author.address).substr(at + 1));
  const size_t local_chars = CountChars(local);
  const size_t keep = local_chars <= 2 ? 1 : 2;
  return local.substr(0, PrefixBytes(local, keep)) + "\xE2\x80\xA6@" + domain;
}

std::string EncodeCursor(const forum::ThreadCursor& cursor) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(cursor.last_post_at.time_since_epoch()).count();
  return std::to_string(micros) + "." + std::to_string(cursor.id);
}

std::optional<forum::ThreadCursor> DecodeCursor(std::string_view text) {
  const size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size()) return std::nullopt;
  int64_t micros = 0;
  int64_t id = 0;
  const char* end = text.data() + dot;
  auto [p1, e1] = std::from_chars(text.data(), end, micros);
  if (e1 != std::errc() || p1 != end) return std::nullopt;
  const char* id_begin = end + 1;
  const char* id_end = text.data() + text.size();
  if (*id_begin == '-' || *id_begin == '+') return std::nullopt;
  auto [p2, e2] = std::from_chars(id_begin, id_end, id);
  if (e2 != std::errc() || p2 != id_end) return std::nullopt;
  if (micros > kMaxCursorMicros || micros < -kMaxCursorMicros) return std::nullopt;
  forum::ThreadCursor cursor;
  cursor.last_post_at = forum::Timestamp(
      std::chrono::duration_cast<forum::Timestamp::duration>(std::chrono::microseconds(micros)));
  cursor.id = id;
  return cursor;
}

namespace internal {
namespace {

struct Civil {
  int year;
  unsigned month, day, hour, minute, second;
};

Civil ToCivil(forum::Timestamp t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto days_part = floor<days>(secs);
  const year_month_day ymd{days_part};
  const hh_mm_ss hms{secs - days_part};
  return Civil{static_cast<int>(ymd.year()),
               static_cast<unsigned>(ymd.month()),
               static_cast<unsigned>(ymd.day()),
               static_cast<unsigned>(hms.hours().count()),
               static_cast<unsigned>(hms.minutes().count()),
               static_cast<unsigned>(hms.seconds().count())};
}

}  // namespace

std::string Iso8601(forum::Timestamp t) {
  const Civil c = ToCivil(t);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02uZ", c.year, c.month, c.day, c.hour, c.minute,
                c.second);
  return buf;
}

std::string HumanTime(forum::Timestamp t) {
  const Civil c = ToCivil(t);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02u:%02u UTC", c.year, c.month, c.day, c.hour, c.minute);
  return buf;
}

std::string HumanSize(int64_t bytes) {
  if (bytes < 0) bytes = 0;
  if (bytes == 1) return "1 byte";
  if (bytes < 1000) return std::to_string(bytes) + " bytes";
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(bytes) / 1000.0;
  size_t unit = 0;
  while (value >= 999.95 && unit + 1 < std::size(kUnits)) {
    value /= 1000.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, value < 10 ? "%.1f %s" : "%.0f %s", value, kUnits[unit]);
  return buf;
}

std::string ThreadPath(int64_t thread_id) { return "/t/" + std::to_string(thread_id); }

std::string CategoryPath(std::string_view slug) { return "/c/" + PercentEncode(slug); }

std::string AttachmentPath(int64_t thread_id, int64_t post_id, int position) {
  return ThreadPath(thread_id) + "/attachments/" + std::to_string(post_id) + "/" + std::to_string(position);
}

std::string QueryString(const std::vector<std::pair<std::string_view, std::string>>& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    out.push_back(out.empty() ? '?' : '&');
    out.append(PercentEncode(name));
    out.push_back('=');
    out.append(PercentEncode(value));
  }
  return out;
}

std::string AbsoluteUrl(const SiteInfo& site, std::string_view path) {
  std::string_view base = site.base_url;
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return std::string(base) + std::string(path);
}

std::string AtomId(const SiteInfo& site, std::string_view path) {
  if (site.base_url.empty()) return "tag:mailforum.invalid,2026:" + std::string(path);
  return AbsoluteUrl(site, path);
}

std::string_view StatusLabel(std::string_view status) {
  if (status == "open") return "Open";
  if (status == "answered") return "Answered";
  if (status == "resolved") return "Resolved";
  return "";
}

std::string DisplaySubject(std::string_view subject) {
  std::string line = CleanLine(subject);
  if (IsBlank(line)) return "(no subject)";
  return line;
}

std::string DisplayAuthor(const forum::Author& author, AuthorDisplay display) {
  std::string line = CleanLine(AuthorLabel(author, display));
  if (IsBlank(line)) return "Anonymous";
  return line;
}

std::string ReplyCount(int64_t n) { return n == 1 ? "1 reply" : std::to_string(n) + " replies"; }

std::vector<SnippetPiece> SplitSnippet(std::string_view snippet) {
  std::vector<SnippetPiece> pieces;
  bool in_match = false;
  size_t start = 0;
  auto close = [&](size_t end) {
    std::string text = CleanLine(snippet.substr(start, end - start));
    if (!text.empty()) pieces.push_back(SnippetPiece{std::move(text), in_match});
  };
  for (size_t i = 0; i < snippet.size(); ++i) {
    const char c = snippet[i];
    if (c != forum::kMatchBegin && c != forum::kMatchEnd) continue;
    // Markers are ASCII bytes, so splitting here never cuts a UTF-8 sequence.
    close(i);
    start = i + 1;
    if (c == forum::kMatchBegin) in_match = true;
    if (c == forum::kMatchEnd) in_match = false;
  }
  close(snippet.size());
  return pieces;
}

}  // namespace internal
}  // namespace web
