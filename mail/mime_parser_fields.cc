#include "mail/mime_parser_fields.h"

#include <algorithm>
#include <cstdint>
#include <map>

#include "mail/charset.h"
#include "mail/mime_parser_codec.h"
#include "mail/mime_parser_text.h"

namespace mail::internal {
namespace {

// Removes line breaks together with the indentation that follows them: what
// unfolding does to text that must not contain spaces (addresses, ids).
std::string RemoveFolds(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' || s[i] == '\n') {
      while (i + 1 < s.size() && IsSpace(s[i + 1])) ++i;
      continue;
    }
    out += s[i];
  }
  return out;
}

// The index of the character a backslash at s[k] escapes: the next one, or the
// first after a fold when a folding line break split the quoted pair.
size_t EscapedIndex(std::string_view s, size_t k) {
  size_t e = k + 1;
  if (e < s.size() && (s[e] == '\r' || s[e] == '\n')) {
    while (e < s.size() && (s[e] == '\r' || s[e] == '\n')) ++e;
    while (e < s.size() && (s[e] == ' ' || s[e] == '\t')) ++e;
    if (e >= s.size()) e = k + 1;
  }
  return e;
}

// Reads the quoted string that starts at s[*i] ('"'), unescaping quoted pairs;
// an unterminated one runs to the end. Leaves *i just past the closing quote.
std::string ReadQuoted(std::string_view s, size_t* i) {
  std::string out;
  size_t k = *i + 1;
  for (; k < s.size() && s[k] != '"'; ++k) {
    if (s[k] == '\\' && k + 1 < s.size()) k = EscapedIndex(s, k);
    out += s[k];
  }
  *i = k < s.size() ? k + 1 : k;
  return out;
}

// Reads the comment that starts at s[*i] ('('), nested comments included as
// written, quoted pairs unescaped; an unterminated one runs to the end.
std::string ReadComment(std::string_view s, size_t* i) {
  std::string out;
  int depth = 1;
  size_t k = *i + 1;
  for (; k < s.size(); ++k) {
    const char c = s[k];
    if (c == '\\' && k + 1 < s.size()) {
      k = EscapedIndex(s, k);
      out += s[k];
      continue;
    }
    if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth == 0) {
      break;
    }
    out += c;
  }
  *i = k < s.size() ? k + 1 : k;
  return out;
}

// --- addresses ---

class MailboxBuilder {
 public:
  void AddPhrase(std::string text, std::string_view raw) {
    raw_phrase_ += raw;
    if (!text.empty()) phrase_.push_back(std::move(text));
  }
  void AddComment(std::string text) {
    if (!text.empty()) comments_.push_back(std::move(text));
  }
  void SetAngle(std::string address) { angle_ = std::move(address); }

  // Appends the mailbox (if there is one) to `out` and starts afresh.
  void Finish(std::vector<Address>* out) {
    Address a;
    const std::string comment = Join(comments_, " ");
    const std::string phrase = Join(phrase_, " ");
    if (angle_) {
      a.address = *angle_;
      a.name = phrase;
    } else if (raw_phrase_.find('@') != std::string::npos) {
      a.address = RemoveFolds(Trim(raw_phrase_));
    } else if (!phrase.empty() && !comment.empty()) {
      a.address = phrase;  // "NO (posting not allowed)": the comment names the word
      a.name = comment;
      Append(out, std::move(a));
      return;
    } else {
      a.name = phrase;
    }
    if (!comment.empty()) a.name = a.name.empty() ? comment : a.name + " (" + comment + ")";
    Append(out, std::move(a));
  }

  void Discard() { *this = MailboxBuilder(); }

 private:
  // Joins pieces with `sep` unless whitespace already separates them.
  static std::string Join(const std::vector<std::string>& pieces, std::string_view sep) {
    std::string out;
    for (const std::string& p : pieces) {
      if (!out.empty() && !IsSpace(out.back()) && !IsSpace(p.front())) out += sep;
      out += p;
    }
    return out;
  }

  void Append(std::vector<Address>* out, Address a) {
    if ((!a.name.empty() || !a.address.empty()) && out->size() < kMaxListItems) out->push_back(std::move(a));
    Discard();
  }

  std::vector<std::string> phrase_;
  std::vector<std::string> comments_;
  std::string raw_phrase_;
  std::optional<std::string> angle_;
};

// The address between angle brackets starting at s[*i] ('<'): comments go to
// `builder`, folds vanish, the ends are trimmed.
std::string ReadAngle(std::string_view s, size_t* i, MailboxBuilder* builder) {
  std::string out;
  size_t k = *i + 1;
  while (k < s.size() && s[k] != '>') {
    if (s[k] == '(') {
      builder->AddComment(DecodeEncodedWords(Trim(ReadComment(s, &k)), WordJoin::kSeparate));
      continue;
    }
    if (s[k] == '"') {
      const size_t start = k;
      ReadQuoted(s, &k);
      out += s.substr(start, k - start);
      continue;
    }
    out += s[k++];
  }
  *i = k < s.size() ? k + 1 : k;
  return std::string(Trim(RemoveFolds(out)));
}

// --- dates ---

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm: days since 1970-01-01 in the proleptic Gregorian calendar.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

int MonthFromName(std::string_view word) {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  static constexpr std::string_view kFull[] = {"january",   "february", "march",    "april",
                                               "may",       "june",     "july",     "august",
                                               "september", "october",  "november", "december"};
  const std::string lower = AsciiLower(word);
  for (int i = 0; i < 12; ++i) {
    if (lower == kMonths[i] || lower == kFull[i]) return i + 1;
  }
  return 0;
}

bool IsWeekday(std::string_view word) {
  static constexpr std::string_view kDays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  const std::string lower = AsciiLower(word.substr(0, 3));
  return std::find(std::begin(kDays), std::end(kDays), lower) != std::end(kDays);
}

// Minutes east of UTC for a named zone (RFC 5322 §4.3); nullopt when unknown.
std::optional<int> NamedZone(std::string_view word) {
  static const std::map<std::string, int, std::less<>> kZones = {
      {"ut", 0},        {"utc", 0},       {"gmt", 0},       {"z", 0},
      {"est", -5 * 60}, {"edt", -4 * 60}, {"cst", -6 * 60}, {"cdt", -5 * 60},
      {"mst", -7 * 60}, {"mdt", -6 * 60}, {"pst", -8 * 60}, {"pdt", -7 * 60}};
  const std::string lower = AsciiLower(word);
  for (size_t len : {size_t{3}, size_t{2}, size_t{1}}) {
    // "EST5EDT" names its standard zone first.
    if (lower.size() < len) continue;
    if (auto it = kZones.find(std::string_view(lower).substr(0, len));
        it != kZones.end() && (len == lower.size() || IsDigit(lower[len]))) {
      return it->second;
    }
  }
  if (auto it = kZones.find(lower); it != kZones.end()) return it->second;
  return std::nullopt;
}

bool ParseNumber(std::string_view s, int* out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

struct DateParts {
  int year = -1, month = 0, day = 0;
  int year_digits = 0;
  int hour = 0, minute = 0, second = 0;
  int zone_minutes = 0;
  bool have_time = false;
};

bool ParseClock(std::string_view token, DateParts* d) {
  int fields[3] = {0, 0, 0};
  int n = 0;
  size_t start = 0;
  while (start <= token.size() && n < 3) {
    size_t colon = token.find(':', start);
    if (colon == std::string_view::npos) colon = token.size();
    std::string_view part = token.substr(start, colon - start);
    if (size_t dot = part.find('.'); dot != std::string_view::npos) part = part.substr(0, dot);  // fractions
    if (!ParseNumber(part, &fields[n++])) return false;
    start = colon + 1;
  }
  if (n < 2) return false;
  d->hour = fields[0];
  d->minute = fields[1];
  d->second = n == 3 ? fields[2] : 0;
  d->have_time = true;
  return true;
}

bool ParseNumericZone(std::string_view token, int* minutes) {
  const int sign = token[0] == '-' ? -1 : 1;
  std::string digits;
  for (char c : token.substr(1)) {
    if (c != ':') digits += c;
  }
  int value = 0;
  if (digits.size() != 4 || !ParseNumber(digits, &value)) return false;
  const int hours = value / 100;
  const int mins = value % 100;
  if (mins >= 60) return false;
  *minutes = sign * (hours * 60 + mins);
  return true;
}

// "2003-07-01" or "2003-07-01T10:52:37Z"-style tokens.
bool ParseIsoToken(std::string_view token, DateParts* d) {
  if (token.size() < 10 || token[4] != '-' || token[7] != '-') return false;
  int y = 0, m = 0, day = 0;
  if (!ParseNumber(token.substr(0, 4), &y) || !ParseNumber(token.substr(5, 2), &m) ||
      !ParseNumber(token.substr(8, 2), &day)) {
    return false;
  }
  d->year = y;
  d->year_digits = 4;
  d->month = m;
  d->day = day;
  if (token.size() > 11 && (token[10] == 'T' || token[10] == 't')) {
    std::string_view rest = token.substr(11);
    size_t zone_at = rest.find_first_of("Zz+-");
    std::string_view clock = rest.substr(0, zone_at);
    if (!ParseClock(clock, d)) return false;
    if (zone_at != std::string_view::npos) {
      std::string_view zone = rest.substr(zone_at);
      if (zone != "Z" && zone != "z" && !ParseNumericZone(zone, &d->zone_minutes)) return false;
    }
  }
  return true;
}

}  // namespace

std::vector<Address> ParseAddressList(std::string_view raw_value) {
  const std::string value = DecodeUndeclared(raw_value);
  const std::string_view s = value;
  std::vector<Address> out;
  MailboxBuilder builder;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    switch (c) {
      case '"': {
        const size_t start = i;
        std::string text = DecodeEncodedWords(ReadQuoted(s, &i), WordJoin::kSeparate);
        builder.AddPhrase(std::move(text), s.substr(start, i - start));
        break;
      }
      case '(':
        builder.AddComment(std::string(Trim(DecodeEncodedWords(ReadComment(s, &i), WordJoin::kSeparate))));
        break;
      case '<':
        builder.SetAngle(ReadAngle(s, &i, &builder));
        break;
      case ',':
      case ';':
        builder.Finish(&out);
        ++i;
        break;
      case ':':
        builder.Discard();  // what came before was a group name
        ++i;
        break;
      default: {
        const size_t start = i;
        while (i < s.size() && s[i] != '"' && s[i] != '(' && s[i] != '<' && s[i] != ',' && s[i] != ';' &&
               s[i] != ':') {
          ++i;
        }
        const std::string_view raw = s.substr(start, i - start);
        builder.AddPhrase(std::string(Trim(DecodeEncodedWords(raw, WordJoin::kSeparate))), raw);
        break;
      }
    }
  }
  builder.Finish(&out);
  return out;
}

std::vector<std::string> ParseIdList(std::string_view raw_value) {
  const std::string value = DecodeUndeclared(raw_value);
  const std::string_view s = value;
  std::vector<std::string> ids;
  if (s.find('<') != std::string_view::npos) {
    size_t i = s.find('<');
    while (i != std::string_view::npos) {
      size_t close = s.find('>', i + 1);
      if (close == std::string_view::npos) close = s.size();
      std::string id(Trim(RemoveFolds(s.substr(i + 1, close - i - 1))));
      if (!id.empty() && ids.size() < kMaxListItems) ids.push_back(std::move(id));
      i = close < s.size() ? s.find('<', close + 1) : std::string_view::npos;
    }
    return ids;
  }
  size_t i = 0;
  while (i < s.size()) {
    if (IsSpace(s[i])) {
      ++i;
    } else if (s[i] == '(') {
      ReadComment(s, &i);
    } else {
      const size_t start = i;
      while (i < s.size() && !IsSpace(s[i]) && s[i] != '(') ++i;
      if (ids.size() < kMaxListItems) ids.emplace_back(s.substr(start, i - start));
    }
  }
  return ids;
}

std::optional<std::chrono::system_clock::time_point> ParseDate(std::string_view raw_value) {
  std::string value = DecodeUndeclared(raw_value);
  std::string_view s = value;
  if (size_t semicolon = s.rfind(';'); semicolon != std::string_view::npos) s = s.substr(semicolon + 1);
  // Comments out, commas to spaces.
  std::string text;
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '(') {
      ReadComment(s, &i);
      text += ' ';
    } else {
      text += s[i] == ',' ? ' ' : s[i];
      ++i;
    }
  }
  DateParts d;
  std::vector<std::string_view> numbers;
  bool zone_seen = false;
  std::string_view rest = text;
  while (true) {
    while (!rest.empty() && IsSpace(rest.front())) rest.remove_prefix(1);
    if (rest.empty()) break;
    size_t end = 0;
    while (end < rest.size() && !IsSpace(rest[end])) ++end;
    std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);
    if ((token[0] == '+' || token[0] == '-') && token.size() > 1 && IsDigit(token[1])) {
      if (!ParseNumericZone(token, &d.zone_minutes)) return std::nullopt;
      zone_seen = true;
    } else if (ParseIsoToken(token, &d)) {
      continue;
    } else if (token.find(':') != std::string_view::npos && IsDigit(token[0])) {
      if (!ParseClock(token, &d)) return std::nullopt;
    } else if (IsDigit(token[0])) {
      if (numbers.size() < 3) numbers.push_back(token);
    } else if (IsAlpha(token[0])) {
      if (int m = MonthFromName(token); m != 0 && d.month == 0) {
        d.month = m;
      } else if (IsWeekday(token)) {
        continue;
      } else if (auto zone = NamedZone(token); zone && !zone_seen) {
        d.zone_minutes = *zone;
        zone_seen = true;
      } else if (d.month == 0 && numbers.size() == 1 && d.year < 0) {
        return std::nullopt;  // "13 Xyz 2021": a word where the month belongs
      }
      // Other words (military zones, "AM", junk after the zone) count as UTC.
    }
  }
  if (d.year < 0) {
    // Day and year around a month name; all three as numbers without one.
    std::vector<int> n;
    std::vector<size_t> digits;
    for (std::string_view t : numbers) {
      int v = 0;
      if (!ParseNumber(t, &v)) return std::nullopt;
      n.push_back(v);
      digits.push_back(t.size());
    }
    if (d.month != 0) {
      if (n.size() < 2) return std::nullopt;
      const bool year_first = digits[0] >= 3;  // "2003 Jul 1"
      d.year = year_first ? n[0] : n[1];
      d.year_digits = static_cast<int>(year_first ? digits[0] : digits[1]);
      d.day = year_first ? n[1] : n[0];
    } else {
      if (n.size() < 3) return std::nullopt;
      d.day = n[0];
      d.month = n[1];
      d.year = n[2];
      d.year_digits = static_cast<int>(digits[2]);
    }
    if (d.year_digits <= 2) {
      d.year += d.year < 50 ? 2000 : 1900;
    } else if (d.year_digits == 3) {
      d.year += 1900;
    }
  }
  // system_clock counts nanoseconds in 64 bits: it reaches from 1677 to 2262.
  if (d.month < 1 || d.month > 12 || d.year < 1900 || d.year > 2200 || d.day < 1 ||
      d.day > DaysInMonth(d.year, d.month) || d.hour > 23 || d.minute > 59 || d.second > 60) {
    return std::nullopt;
  }
  const int64_t seconds =
      DaysFromCivil(d.year, static_cast<unsigned>(d.month), static_cast<unsigned>(d.day)) * 86400 +
      d.hour * 3600 + d.minute * 60 + std::min(d.second, 59) - d.zone_minutes * 60;
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

const std::string* ParameterizedValue::Parameter(std::string_view name) const {
  for (const auto& [n, v] : parameters) {
    if (n == name) return &v;
  }
  return nullptr;
}

namespace {

struct RawParameter {
  std::string name;  // lower case, as written (with any RFC 2231 '*' parts)
  std::string value;
};

bool IsTokenChar(char c) {
  return c > ' ' && c < 127 && c != '(' && c != ')' && c != '<' && c != '>' && c != '@' && c != ',' &&
         c != ';' && c != ':' && c != '\\' && c != '"' && c != '/' && c != '[' && c != ']' && c != '?' &&
         c != '=';
}

// Splits the parameter part of a header (after the first ';') into name=value
// pairs. Tolerates a missing ';' between parameters ("a=b c=d") and values
// with spaces but no quotes ("name=My File.pdf").
std::vector<RawParameter> SplitParameters(std::string_view s) {
  std::vector<RawParameter> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (IsSpace(s[i]) || s[i] == ';')) ++i;
    const size_t name_start = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';') ++i;
    if (i >= s.size() || s[i] == ';') continue;
    std::string name;
    for (char c : s.substr(name_start, i - name_start)) {
      if (!IsSpace(c)) name += AsciiLower(c);
    }
    ++i;  // '='
    while (i < s.size() && IsSpace(s[i])) ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      // Unfolding a quoted string removes only the line breaks.
      for (char c : ReadQuoted(s, &i)) {
        if (c != '\r' && c != '\n') value += c;
      }
      while (i < s.size() && s[i] != ';') ++i;
    } else {
      const size_t start = i;
      while (i < s.size() && s[i] != ';') ++i;
      std::string_view raw = s.substr(start, i - start);
      // "access-type=mail-server server=..." : a second name=value without ';'.
      size_t k = 0;
      while (k < raw.size()) {
        if (!IsSpace(raw[k])) {
          ++k;
          continue;
        }
        size_t n = k;
        while (n < raw.size() && IsSpace(raw[n])) ++n;
        size_t t = n;
        while (t < raw.size() && IsTokenChar(raw[t])) ++t;
        if (t > n && t < raw.size() && raw[t] == '=') {
          i = start + n;
          raw = raw.substr(0, k);
          break;
        }
        k = std::max(t, n);
      }
      value = std::string(Trim(RemoveFolds(raw)));
    }
    if (!name.empty()) out.push_back({std::move(name), std::move(value)});
  }
  return out;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Splits "charset'language'text" (RFC 2231 §4); without two quotes the whole
// value is text in no declared charset.
void SplitExtended(std::string_view value, std::string* charset, std::string_view* text) {
  const size_t q1 = value.find('\'');
  const size_t q2 = q1 == std::string_view::npos ? q1 : value.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) {
    charset->clear();
    *text = value;
    return;
  }
  *charset = std::string(value.substr(0, q1));
  *text = value.substr(q2 + 1);
}

constexpr int kMaxSections = 1000;

struct Section {
  int index = 0;
  bool extended = false;
  std::string value;
};

}  // namespace

ParameterizedValue ParseParameterizedValue(std::string_view raw_value) {
  const std::string value = DecodeUndeclared(raw_value);
  // Comments outside quoted strings go; quoted strings stay as written.
  std::string s;
  for (size_t i = 0; i < value.size();) {
    if (value[i] == '(') {
      ReadComment(value, &i);
    } else if (value[i] == '"') {
      const size_t start = i;
      ReadQuoted(value, &i);
      s.append(value, start, i - start);
    } else {
      s += value[i++];
    }
  }
  ParameterizedValue result;
  size_t semicolon = s.find(';');
  // "multipart/mixed boundary=x": a parameter without the ';' before it.
  if (const size_t equals = s.find('='); equals < semicolon) {
    size_t k = equals;
    while (k > 0 && !IsSpace(s[k - 1])) --k;
    if (k > 0) semicolon = k - 1;
  }
  for (char c : std::string_view(s).substr(0, semicolon)) {
    if (!IsSpace(c)) result.value += AsciiLower(c);
  }
  if (semicolon == std::string::npos) return result;

  // Group RFC 2231 sections ("name*0*", "name*1") by base name, in order of appearance.
  std::vector<std::string> order;
  std::map<std::string, std::vector<Section>> sections;
  std::map<std::string, std::string> plain;
  for (RawParameter& p : SplitParameters(std::string_view(s).substr(semicolon + 1))) {
    std::string name = p.name;
    Section section;
    if (name.size() > 1 && name.back() == '*') {
      section.extended = true;
      name.pop_back();
    }
    bool sectioned = section.extended;
    if (size_t star = name.find('*'); star != std::string::npos) {
      int index = 0;
      if (!ParseNumber(std::string_view(name).substr(star + 1), &index) || index >= kMaxSections) continue;
      section.index = index;
      name.resize(star);
      sectioned = true;
    }
    if (name.empty()) continue;
    if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
    if (sectioned) {
      section.value = std::move(p.value);
      sections[name].push_back(std::move(section));
    } else {
      plain.emplace(name, std::move(p.value));
    }
  }
  for (const std::string& name : order) {
    auto it = sections.find(name);
    if (it == sections.end()) {
      result.parameters.emplace_back(name, DecodeEncodedWords(plain[name], WordJoin::kAsWritten));
      continue;
    }
    std::vector<Section>& parts = it->second;
    std::stable_sort(parts.begin(), parts.end(),
                     [](const Section& a, const Section& b) { return a.index < b.index; });
    std::string charset;
    bool any_extended = false;
    std::string bytes;
    for (size_t k = 0; k < parts.size(); ++k) {
      const Section& part = parts[k];
      if (k > 0 && part.index == parts[k - 1].index) continue;  // duplicate section
      if (!part.extended) {
        bytes += part.value;
        continue;
      }
      std::string_view text = part.value;
      if (k == 0) {
        SplitExtended(text, &charset, &text);
      } else if (!charset.empty() && text.size() > charset.size() && text[charset.size()] == '\'' &&
                 AsciiLower(text.substr(0, charset.size())) == AsciiLower(charset)) {
        // Some senders repeat "charset'" in every section.
        text.remove_prefix(charset.size() + 1);
      }
      any_extended = true;
      bytes += PercentDecode(text);
    }
    std::string decoded =
        any_extended ? DecodeCharset(bytes, charset).text : DecodeEncodedWords(bytes, WordJoin::kAsWritten);
    result.parameters.emplace_back(name, std::move(decoded));
  }
  return result;
}

}  // namespace mail::internal
