#include "web/html.h"

#include <array>

#include "base/ascii.h"

namespace web {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

struct Decoded {
  char32_t cp;
  size_t len;
  bool valid;
};

// One code point at s[i] (i < s.size()). An invalid sequence consumes one
// byte, so each bad byte becomes one U+FFFD. Overlong forms, surrogates and
// values beyond U+10FFFF are invalid (RFC 3629).
Decoded DecodeAt(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return {c, 1, true};
  size_t need = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1, cp = c & 0x1F, min = 0x80;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2, cp = c & 0x0F, min = 0x800;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return {0xFFFD, 1, false};
  }
  if (s.size() - i <= need) return {0xFFFD, 1, false};
  for (size_t k = 1; k <= need; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return {0xFFFD, 1, false};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {0xFFFD, 1, false};
  return {cp, need + 1, true};
}

// Characters no surface shows: see html.h.
bool Dropped(char32_t cp) {
  if (cp < 0x20) return cp != '\t' && cp != '\n' && cp != '\r';
  if (cp >= 0x7F && cp <= 0x9F) return true;
  if (cp >= 0x202A && cp <= 0x202E) return true;
  if (cp >= 0x2066 && cp <= 0x2069) return true;
  return cp == 0xFFFE || cp == 0xFFFF;
}

// What CleanInto must do about a byte: copy it (printable ASCII), maybe
// escape it (& < > " '), or decode and judge it (controls, DEL, non-ASCII).
constexpr uint8_t kPlainByte = 0;
constexpr uint8_t kMarkupByte = 1;
constexpr uint8_t kDecodeByte = 2;
constexpr std::array<uint8_t, 256> kByteClass = [] {
  std::array<uint8_t, 256> table{};
  for (int b = 0; b < 256; ++b) {
    table[b] = b >= 0x20 && b < 0x7F ? kPlainByte : kDecodeByte;
  }
  for (const unsigned char b : {'&', '<', '>', '"', '\''}) table[b] = kMarkupByte;
  return table;
}();

enum class Escape { kNone, kMarkup };
enum class Lines { kKeep, kJoin };

const char* MarkupReference(char c) {
  switch (c) {
    case '&':
      return "&amp;";
    case '<':
      return "&lt;";
    case '>':
      return "&gt;";
    case '"':
      return "&quot;";
    case '\'':
      return "&#39;";
    default:
      return nullptr;
  }
}

// The one loop behind CleanText, CleanLine and the escapers. Runs of plain
// printable ASCII (nearly all text) are copied in one append.
void CleanInto(std::string& out, std::string_view text, Escape escape, Lines lines) {
  size_t i = 0;
  size_t run = 0;  // start of the pending run of bytes copied as they are
  auto flush = [&](size_t end) {
    if (end > run) out.append(text.data() + run, end - run);
  };
  const size_t n = text.size();
  while (i < n) {
    // Nearly all text is plain ASCII: skip it a byte at a time with one table look-up.
    while (i < n && kByteClass[static_cast<unsigned char>(text[i])] == kPlainByte) ++i;
    if (i == n) break;
    const char c = text[i];
    if (kByteClass[static_cast<unsigned char>(c)] == kMarkupByte) {
      if (escape == Escape::kMarkup) {
        flush(i);
        out.append(MarkupReference(c));
        run = i + 1;
      }
      ++i;
      continue;
    }
    const Decoded d = DecodeAt(text, i);
    if (d.valid && !Dropped(d.cp) && !(lines == Lines::kJoin && (c == '\t' || c == '\n' || c == '\r'))) {
      i += d.len;
      continue;
    }
    flush(i);
    if (!d.valid) {
      out.append(kReplacement);
    } else if (lines == Lines::kJoin && (c == '\t' || c == '\n' || c == '\r')) {
      out.push_back(' ');
    }
    i += d.len;
    run = i;
  }
  flush(i);
}

std::string Encode(std::string_view component, std::string_view also_keep) {
  return base::PercentEncode(CleanText(component), also_keep);
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// After "scheme://": a host, i.e. something before the path starts.
bool HasHostAfter(std::string_view url, size_t prefix_len) {
  if (url.size() <= prefix_len) return false;
  const char c = url[prefix_len];
  return c != '/' && c != '?' && c != '#' && c != '@' && c != ':';
}

}  // namespace

std::string CleanText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  CleanInto(out, text, Escape::kNone, Lines::kKeep);
  return out;
}

std::string CleanLine(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  CleanInto(out, text, Escape::kNone, Lines::kJoin);
  return out;
}

size_t CountChars(std::string_view text) {
  size_t n = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string TruncateChars(std::string_view text, size_t max_chars) {
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;
    if (chars == max_chars) return std::string(text.substr(0, i)) + "\xE2\x80\xA6";  // …
    ++chars;
  }
  return std::string(text);
}

void AppendHtmlEscaped(std::string& out, std::string_view text) {
  CleanInto(out, text, Escape::kMarkup, Lines::kKeep);
}

void AppendXmlEscaped(std::string& out, std::string_view text) {
  // The same references are right for XML 1.0; what XML forbids, CleanInto drops.
  CleanInto(out, text, Escape::kMarkup, Lines::kKeep);
}

std::string PercentEncode(std::string_view component) { return Encode(component, ""); }

std::string MailtoEncode(std::string_view address) { return Encode(address, "@+"); }

bool IsSafeHref(std::string_view url) {
  if (url.empty()) return false;
  for (const char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '\\') return false;
  }
  if (url[0] == '/') return url.size() < 2 || url[1] != '/';
  if (url[0] == '?' || url[0] == '#') return true;
  if (StartsWithIgnoreCase(url, "http://")) return HasHostAfter(url, 7);
  if (StartsWithIgnoreCase(url, "https://")) return HasHostAfter(url, 8);
  return StartsWithIgnoreCase(url, "mailto:") && url.size() > 7;
}

bool IsWebUrl(std::string_view url) {
  return IsSafeHref(url) && (StartsWithIgnoreCase(url, "http://") || StartsWithIgnoreCase(url, "https://"));
}

HtmlWriter& HtmlWriter::Attr(TrustedHtml name, std::string_view value) {
  out_.push_back(' ');
  out_.append(name.text());
  out_.append("=\"");
  AppendHtmlEscaped(out_, value);
  out_.push_back('"');
  return *this;
}

bool HtmlWriter::Href(std::string_view url) {
  if (!IsSafeHref(url)) return false;
  Attr("href", url);
  return true;
}

XmlWriter& XmlWriter::Attr(TrustedXml name, std::string_view value) {
  out_.push_back(' ');
  out_.append(name.text());
  out_.append("=\"");
  AppendXmlEscaped(out_, value);
  out_.push_back('"');
  return *this;
}

}  // namespace web
