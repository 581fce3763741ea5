#include "mail/charset.h"

#include <errno.h>
#include <iconv.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mail/mime_parser_text.h"

namespace mail {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// The length of the UTF-8 sequence at s[i] and whether it is well-formed
// (Unicode Table 3-7). For an ill-formed one, the length is that of its
// maximal subpart (at least 1), which becomes a single U+FFFD.
std::pair<size_t, bool> NextSequence(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return {1, true};
  int need = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c == 0xE0) {
    need = 2;
    lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    need = 2;
  } else if (c == 0xED) {
    need = 2;
    hi = 0x9F;
  } else if (c == 0xF0) {
    need = 3;
    lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    need = 3;
  } else if (c == 0xF4) {
    need = 3;
    hi = 0x8F;
  } else {
    return {1, false};
  }
  size_t len = 1;
  for (int k = 0; k < need; ++k) {
    if (i + len >= s.size()) return {len, false};
    const auto t = static_cast<unsigned char>(s[i + len]);
    if (t < lo || t > hi) return {len, false};
    ++len;
    lo = 0x80;
    hi = 0xBF;
  }
  return {len, true};
}

// windows-1252 bytes 0x80-0x9F; 0 marks the five undefined bytes (→ U+FFFD).
constexpr std::array<char16_t, 32> kCp1252High = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

std::string DecodeWindows1252(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 4);
  for (char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) continue;
    if (c < 0x80) {
      out += ch;
    } else if (c < 0xA0) {
      const char16_t cp = kCp1252High[c - 0x80];
      if (cp == 0) {
        out += kReplacement;
      } else {
        AppendUtf8(out, cp);
      }
    } else {
      AppendUtf8(out, c);
    }
  }
  return out;
}

std::string RemoveNul(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    if (c != '\0') out += c;
  }
  return out;
}

void StripLeadingBom(std::string& text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.erase(0, 3);
}

// --- iconv, one cache of descriptors per thread ---

const iconv_t kNoDescriptor = reinterpret_cast<iconv_t>(static_cast<intptr_t>(-1));

class IconvCache {
 public:
  IconvCache() = default;
  IconvCache(const IconvCache&) = delete;
  IconvCache& operator=(const IconvCache&) = delete;
  ~IconvCache() { Clear(); }

  // A descriptor converting `name` to UTF-8, reset to its initial state, or
  // kNoDescriptor when iconv does not know the charset.
  iconv_t Get(const std::string& name) {
    auto it = descriptors_.find(name);
    if (it == descriptors_.end()) {
      // Hostile mail can name any number of charsets: keep the cache small.
      if (descriptors_.size() >= kMaxEntries) Clear();
      it = descriptors_.emplace(name, iconv_open("UTF-8", name.c_str())).first;
    }
    if (it->second != kNoDescriptor) iconv(it->second, nullptr, nullptr, nullptr, nullptr);
    return it->second;
  }

 private:
  static constexpr size_t kMaxEntries = 32;

  void Clear() {
    for (auto& [name, cd] : descriptors_) {
      if (cd != kNoDescriptor) iconv_close(cd);
    }
    descriptors_.clear();
  }

  std::unordered_map<std::string, iconv_t> descriptors_;
};

IconvCache& ThreadIconvCache() {
  thread_local IconvCache cache;
  return cache;
}

// Converts with `cd`; each byte iconv rejects becomes U+FFFD, and a character
// cut off by the end of the input is dropped.
DecodedText ConvertWith(iconv_t cd, std::string_view bytes) {
  DecodedText result;
  std::string& out = result.text;
  out.reserve(bytes.size() + bytes.size() / 2 + 16);
  char* in = const_cast<char*>(bytes.data());  // iconv's signature is not const-correct.
  size_t in_left = bytes.size();
  char buffer[8192];
  while (in_left > 0) {
    char* o = buffer;
    size_t o_left = sizeof buffer;
    const size_t r = iconv(cd, &in, &in_left, &o, &o_left);
    out.append(buffer, static_cast<size_t>(o - buffer));
    if (r != static_cast<size_t>(-1)) continue;
    if (errno == E2BIG) continue;
    if (errno != EILSEQ) break;  // EINVAL: the text was cut inside its last character; drop it.
    result.had_errors = true;
    out += kReplacement;
    ++in;
    --in_left;
  }
  char* o = buffer;
  size_t o_left = sizeof buffer;
  iconv(cd, nullptr, nullptr, &o, &o_left);
  out.append(buffer, static_cast<size_t>(o - buffer));
  // iconv's UTF-8 is well-formed; NULs (e.g. from UTF-16) must still go.
  result.text = SanitizeUtf8(out);
  return result;
}

enum class Family { kUtf8, kUndeclared, kWindows1252, kIconv };

struct Resolved {
  Family family = Family::kUndeclared;
  std::string iconv_name;  // for kIconv
};

std::string NormalizeName(std::string_view name) {
  while (!name.empty() && (name.front() == ' ' || name.front() == '\t' || name.front() == '"')) {
    name.remove_prefix(1);
  }
  if (size_t star = name.find('*'); star != std::string_view::npos) name = name.substr(0, star);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t' || name.back() == '"')) {
    name.remove_suffix(1);
  }
  return internal::AsciiLower(name);
}

Resolved Resolve(std::string_view charset) {
  // Names mail uses, mapped to the superset a browser decodes them with.
  static const std::unordered_map<std::string_view, Resolved> kAliases = [] {
    std::unordered_map<std::string_view, Resolved> m;
    auto add = [&m](std::initializer_list<std::string_view> names, Family family, std::string iconv_name) {
      for (std::string_view n : names) m.emplace(n, Resolved{family, iconv_name});
    };
    add({"utf-8", "utf8", "unicode-1-1-utf-8", "x-unicode20utf8"}, Family::kUtf8, "");
    add({"us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "us", "csascii", "7bit", "8bit", "default",
         "unknown", "unknown-8bit", "x-unknown", "x-user-defined"},
        Family::kUndeclared, "");
    add({"iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1", "latin-1", "l1", "cp819",
         "ibm819", "iso-ir-100", "csisolatin1", "windows-1252", "cp1252", "cp-1252", "x-cp1252"},
        Family::kWindows1252, "");
    add({"gb2312", "gbk", "cp936", "ms936", "windows-936", "x-gbk", "euc-cn", "csgb2312", "gb_2312-80",
         "gb_2312", "chinese", "iso-ir-58", "gb18030"},
        Family::kIconv, "GB18030");
    add({"big5", "big-5", "cn-big5", "x-x-big5", "csbig5", "big5-hkscs"}, Family::kIconv, "BIG5-HKSCS");
    add({"shift_jis", "shift-jis", "sjis", "x-sjis", "ms_kanji", "csshiftjis", "windows-31j", "cp932",
         "ms932", "x-ms-cp932"},
        Family::kIconv, "CP932");
    add({"euc-jp", "x-euc-jp", "eucjp", "cseucpkdfmtjapanese"}, Family::kIconv, "EUC-JP-MS");
    add({"iso-2022-jp", "csiso2022jp", "iso-2022-jp-1", "iso-2022-jp-2"}, Family::kIconv, "ISO-2022-JP-2");
    add({"euc-kr", "ks_c_5601-1987", "ks_c_5601", "ksc5601", "ksc_5601", "korean", "csksc56011987",
         "iso-ir-149", "windows-949", "cp949", "uhc", "x-windows-949"},
        Family::kIconv, "CP949");
    add({"unicode-1-1-utf-7", "utf7", "csunicode11utf7"}, Family::kIconv, "UTF-7");
    add({"iso-8859-8-i", "iso-8859-8-e", "logical", "visual"}, Family::kIconv, "ISO-8859-8");
    add({"iso-8859-6-i", "iso-8859-6-e"}, Family::kIconv, "ISO-8859-6");
    add({"tis-620", "windows-874", "iso-8859-11", "cp874", "x-windows-874"}, Family::kIconv, "CP874");
    return m;
  }();
  const std::string name = NormalizeName(charset);
  if (name.empty()) return {};
  if (auto it = kAliases.find(name); it != kAliases.end()) return it->second;
  std::string upper = name;
  for (char& c : upper) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return Resolved{Family::kIconv, upper};
}

bool HasIso2022JpEscapes(std::string_view bytes) {
  return bytes.find("\x1B$B") != std::string_view::npos || bytes.find("\x1B$@") != std::string_view::npos ||
         bytes.find("\x1B(J") != std::string_view::npos || bytes.find("\x1B(I") != std::string_view::npos;
}

DecodedText DecodeIso2022Jp(std::string_view bytes) {
  // ISO-2022-JP-2 is the wider set; ISO-2022-JP-3 adds the half-width katakana
  // (ESC ( I) that Japanese mobile carriers send.
  IconvCache& cache = ThreadIconvCache();
  DecodedText result;
  if (iconv_t cd = cache.Get("ISO-2022-JP-2"); cd != kNoDescriptor) {
    result = ConvertWith(cd, bytes);
    if (!result.had_errors) return result;
  }
  if (iconv_t cd = cache.Get("ISO-2022-JP-3"); cd != kNoDescriptor) {
    DecodedText wider = ConvertWith(cd, bytes);
    if (!wider.had_errors || result.text.empty()) return wider;
  }
  return result;
}

// The charsets a text declared as `declared` often really is in.
void TryMislabels(std::string_view bytes, const std::string& declared, DecodedText* result) {
  // Text in UTF-16 or UTF-32 is valid UTF-8 whenever it is ASCII: never relabel those.
  if (declared.starts_with("UTF-") || declared.starts_with("UCS-")) return;
  if (IsValidUtf8(bytes)) {
    result->text = RemoveNul(bytes);
    result->had_errors = false;
    result->relabelled = true;
    return;
  }
  static const std::vector<std::vector<std::string>> kFamilies = {
      {"ISO-2022-JP-2", "EUC-JP-MS", "CP932"},
      {"GB18030", "BIG5-HKSCS"},
  };
  for (const std::vector<std::string>& family : kFamilies) {
    if (std::find(family.begin(), family.end(), declared) == family.end()) continue;
    for (const std::string& sibling : family) {
      if (sibling == declared) continue;
      iconv_t cd = ThreadIconvCache().Get(sibling);
      if (cd == kNoDescriptor) continue;
      DecodedText other = ConvertWith(cd, bytes);
      if (!other.had_errors) {
        *result = std::move(other);
        result->relabelled = true;
        return;
      }
    }
  }
}

}  // namespace

void AppendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

bool IsValidUtf8(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    auto [len, valid] = NextSequence(bytes, i);
    if (!valid) return false;
    i += len;
  }
  return true;
}

std::string_view CutUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that would be cut.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const char c = bytes[i];
    if (static_cast<unsigned char>(c) < 0x80) {
      if (c != '\0') out += c;
      ++i;
      continue;
    }
    auto [len, valid] = NextSequence(bytes, i);
    if (valid) {
      out.append(bytes.substr(i, len));
    } else {
      out += kReplacement;
    }
    i += len;
  }
  return out;
}

std::string DecodeUndeclared(std::string_view bytes) {
  if (!IsValidUtf8(bytes)) return DecodeWindows1252(bytes);
  if (bytes.find('\x1B') != std::string_view::npos && HasIso2022JpEscapes(bytes)) {
    DecodedText jp = DecodeIso2022Jp(bytes);
    if (!jp.had_errors) return std::move(jp.text);
  }
  return RemoveNul(bytes);
}

DecodedText DecodeCharset(std::string_view bytes, std::string_view charset) {
  const Resolved resolved = Resolve(charset);
  DecodedText result;
  switch (resolved.family) {
    case Family::kUtf8:
      result.had_errors = !IsValidUtf8(bytes);
      result.text = SanitizeUtf8(bytes);
      break;
    case Family::kUndeclared:
      result.text = DecodeUndeclared(bytes);
      break;
    case Family::kWindows1252:
      result.text = DecodeWindows1252(bytes);
      break;
    case Family::kIconv:
      if (resolved.iconv_name == "ISO-2022-JP-2") {
        result = DecodeIso2022Jp(bytes);
      } else if (iconv_t cd = ThreadIconvCache().Get(resolved.iconv_name); cd != kNoDescriptor) {
        result = ConvertWith(cd, bytes);
      } else {
        result.text = DecodeUndeclared(bytes);
        result.known_charset = false;
      }
      if (result.had_errors) TryMislabels(bytes, resolved.iconv_name, &result);
      break;
  }
  StripLeadingBom(result.text);
  return result;
}

}  // namespace mail
