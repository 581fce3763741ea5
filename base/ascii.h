// ASCII case handling for protocol text (header names, addresses, host
// names, charset labels): locale-independent, unlike std::tolower.
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

}  // namespace base

#endif  // MAILFORUM_BASE_ASCII_H_
