// ASCII case handling for protocol text (header names, addresses, host
// names, charset labels): locale-independent, unlike std::tolower; and
// percent-encoding.
// Thread-safety: pure functions.
#ifndef MAILFORUM_BASE_ASCII_H_
#define MAILFORUM_BASE_ASCII_H_

#include <string>
#include <string_view>

namespace base {

inline char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// `s` with A–Z lowered; other bytes (UTF-8 included) unchanged.
inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = AsciiLower(c);
  return out;
}

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// `bytes` with every byte but RFC 3986's unreserved characters (A-Z a-z 0-9
// - . _ ~) and those in `also_keep` written as %XX (upper-case hex): URL
// components, form values, RFC 8187 values.
inline std::string PercentEncode(std::string_view bytes, std::string_view also_keep = {}) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    const bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || also_keep.find(c) != std::string_view::npos) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
  return out;
}

}  // namespace base

#endif  // MAILFORUM_BASE_ASCII_H_
