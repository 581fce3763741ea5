#include "mail/mime_parser_codec.h"

#include <array>
#include <cstdint>

#include "mail/charset.h"
#include "mail/mime_parser_text.h"

namespace mail::internal {
namespace {

constexpr int8_t kInvalid = -1;
constexpr int8_t kSpace = -2;
constexpr int8_t kPad = -3;

constexpr std::array<int8_t, 256> MakeBase64Table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (int i = 0; i < 26; ++i) {
    t['A' + i] = static_cast<int8_t>(i);
    t['a' + i] = static_cast<int8_t>(26 + i);
  }
  for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<int8_t>(52 + i);
  t['+'] = 62;
  t['/'] = 63;
  t[' '] = t['\t'] = t['\r'] = t['\n'] = t['\f'] = t['\v'] = kSpace;
  t['='] = kPad;
  return t;
}

constexpr std::array<int8_t, 256> kBase64 = MakeBase64Table();

bool IsLineBreak(char c) { return c == '\r' || c == '\n'; }

// The bytes of the "Q" encoding (RFC 2047 §4.2): "_" is a space.
std::string DecodeQ(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '_') {
      out += ' ';
    } else if (c == '=' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// Longest encoded word we accept (RFC 2047 says 75; mail breaks that rule, but
// a bound keeps a header full of "=?" linear to scan).
constexpr size_t kMaxEncodedWord = 4096;

struct EncodedWord {
  size_t end = 0;  // index just past "?="
  std::string charset;
  std::string bytes;  // decoded, still in `charset`
};

// Parses the encoded word starting at text[i] ("=?"); false when it is not one.
bool ParseEncodedWord(std::string_view text, size_t i, EncodedWord* word) {
  size_t j = i + 2;
  const size_t limit = std::min(text.size(), i + kMaxEncodedWord);
  const size_t charset_start = j;
  while (j < limit && text[j] != '?') {
    const char c = text[j];
    if (IsBlank(c) || IsLineBreak(c) || c == '=' || c == '"') return false;
    ++j;
  }
  if (j == charset_start || j + 2 >= limit) return false;
  const char encoding = text[j + 1];
  if (text[j + 2] != '?') return false;
  const bool is_b = encoding == 'B' || encoding == 'b';
  if (!is_b && encoding != 'Q' && encoding != 'q') return false;
  std::string encoded;
  size_t k = j + 3;
  while (true) {
    if (k >= limit) return false;
    const char c = text[k];
    if (c == '?') {
      if (k + 1 < text.size() && text[k + 1] == '=') break;
      return false;
    }
    if (IsLineBreak(c)) {
      // A fold inside the word: the line break and the indentation vanish.
      while (k < limit && (IsLineBreak(text[k]) || IsBlank(text[k]))) ++k;
      continue;
    }
    encoded += c;
    ++k;
  }
  word->end = k + 2;
  word->charset.assign(text.substr(charset_start, j - charset_start));
  if (is_b) {
    bool clean = true;
    word->bytes = DecodeBase64(encoded, &clean);
  } else {
    word->bytes = DecodeQ(encoded);
  }
  return true;
}

}  // namespace

std::string DecodeBase64(std::string_view in, bool* clean) {
  *clean = true;
  // Written through a pointer into a buffer sized for the most the input can hold, then cut to size: a
  // per-byte append was the parser's hottest spot on mail with attachments.
  std::string out(in.size() / 4 * 3 + 3, '\0');
  char* o = out.data();
  uint32_t acc = 0;
  int count = 0;
  for (char ch : in) {
    const int8_t v = kBase64[static_cast<unsigned char>(ch)];
    if (v >= 0) {
      acc = (acc << 6) | static_cast<uint32_t>(v);
      if (++count == 4) {
        *o++ = static_cast<char>((acc >> 16) & 0xFF);
        *o++ = static_cast<char>((acc >> 8) & 0xFF);
        *o++ = static_cast<char>(acc & 0xFF);
        acc = 0;
        count = 0;
      }
    } else if (v == kPad) {
      // Two characters hold one byte, three hold two; a lone character holds none.
      if (count == 2) {
        *o++ = static_cast<char>((acc >> 4) & 0xFF);
      } else if (count == 3) {
        *o++ = static_cast<char>((acc >> 10) & 0xFF);
        *o++ = static_cast<char>((acc >> 2) & 0xFF);
      }
      acc = 0;
      count = 0;
    } else if (v == kInvalid) {
      *clean = false;
    }
  }
  // An unpadded final group is dropped, as mail-parser does.
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

std::string DecodeQuotedPrintable(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find('\n', pos);
    const bool has_eol = eol != std::string_view::npos;
    if (!has_eol) eol = in.size();
    std::string_view line = in.substr(pos, eol - pos);
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) line.remove_suffix(1);
    // Trailing whitespace was added in transit (RFC 2045 rule 3).
    while (!line.empty() && IsBlank(line.back())) line.remove_suffix(1);
    bool soft_break = false;
    if (!line.empty() && line.back() == '=') {
      soft_break = true;
      line.remove_suffix(1);
    }
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '=' && i + 2 < line.size() && HexValue(line[i + 1]) >= 0 && HexValue(line[i + 2]) >= 0) {
        out += static_cast<char>(HexValue(line[i + 1]) * 16 + HexValue(line[i + 2]));
        i += 2;
      } else {
        out += c;
      }
    }
    if (has_eol && !soft_break) out += crlf ? "\r\n" : "\n";
    pos = has_eol ? eol + 1 : in.size();
  }
  return out;
}

std::string DecodeUuencode(std::string_view in, bool* clean) {
  size_t pos = 0;
  while (pos < in.size() && in.substr(pos, 6) != "begin ") {
    const size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) {
      *clean = false;
      return std::string(in);
    }
    pos = eol + 1;
  }
  if (pos >= in.size()) {
    *clean = false;
    return std::string(in);
  }
  *clean = true;
  std::string out;
  pos = in.find('\n', pos);
  while (pos != std::string_view::npos && pos + 1 < in.size()) {
    ++pos;
    size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) eol = in.size();
    std::string_view line = in.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with("end") || line.empty()) break;
    const size_t length = static_cast<size_t>((line[0] - ' ') & 0x3F);
    std::string chunk;
    for (size_t i = 1; i < line.size() && chunk.size() < length; i += 4) {
      uint32_t group = 0;
      for (size_t k = 0; k < 4; ++k) {
        const char c = i + k < line.size() ? line[i + k] : ' ';
        group = (group << 6) | static_cast<uint32_t>((c - ' ') & 0x3F);
      }
      chunk += static_cast<char>((group >> 16) & 0xFF);
      chunk += static_cast<char>((group >> 8) & 0xFF);
      chunk += static_cast<char>(group & 0xFF);
    }
    chunk.resize(std::min(chunk.size(), length));
    out += chunk;
    pos = eol;
  }
  return out;
}

std::string DecodeEncodedWords(std::string_view text, WordJoin join) {
  std::string out;
  out.reserve(text.size());
  enum class Last { kNothing, kText, kWord } last = Last::kNothing;
  std::string pending_space;  // whitespace since the last token, unfolded
  std::string word_bytes;     // adjacent encoded words in one charset, not yet decoded
  std::string word_charset;
  auto flush_words = [&] {
    if (last == Last::kWord) out += DecodeCharset(word_bytes, word_charset).text;
    word_bytes.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (IsBlank(c) || IsLineBreak(c)) {
      size_t j = i;
      bool has_break = false;
      while (j < text.size() && (IsBlank(text[j]) || IsLineBreak(text[j]))) {
        has_break = has_break || IsLineBreak(text[j]);
        ++j;
      }
      pending_space = has_break ? std::string(" ") : std::string(text.substr(i, j - i));
      i = j;
      continue;
    }
    EncodedWord word;
    if (c == '=' && i + 1 < text.size() && text[i + 1] == '?' && ParseEncodedWord(text, i, &word)) {
      if (last == Last::kWord && word.charset == word_charset) {
        word_bytes += word.bytes;  // whitespace between encoded words is dropped
      } else {
        if (last == Last::kWord) {
          flush_words();
        } else {
          out += pending_space;
          if (last == Last::kText && pending_space.empty() && join == WordJoin::kSeparate) out += ' ';
        }
        word_bytes = std::move(word.bytes);
        word_charset = std::move(word.charset);
      }
      pending_space.clear();
      last = Last::kWord;
      i = word.end;
      continue;
    }
    if (last == Last::kWord) {
      flush_words();
      if (pending_space.empty() && join == WordJoin::kSeparate) out += ' ';
    }
    out += pending_space;
    pending_space.clear();
    out += c;
    last = Last::kText;
    ++i;
  }
  flush_words();
  out += pending_space;
  return SanitizeUtf8(out);
}

std::string DecodeHeaderText(std::string_view raw_value) {
  std::string text = DecodeEncodedWords(DecodeUndeclared(raw_value), WordJoin::kSeparate);
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && IsBlank(text[begin])) ++begin;
  while (end > begin && IsBlank(text[end - 1])) --end;
  return text.substr(begin, end - begin);
}

}  // namespace mail::internal
