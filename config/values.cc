#include "config/values.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "base/ascii.h"

namespace config::internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsHighByte(char c) { return static_cast<unsigned char>(c) >= 0x80; }

// A leading whole number; `rest` is what follows. nullopt when there are no digits or on overflow.
std::optional<std::uint64_t> LeadingNumber(std::string_view text, std::string_view& rest) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  while (i < text.size() && IsDigit(text[i])) {
    auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (n > (kMax - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  rest = text.substr(i);
  return n;
}

std::optional<std::uint64_t> Multiply(std::uint64_t n, std::uint64_t unit) {
  if (unit != 0 && n > std::numeric_limits<std::uint64_t>::max() / unit) return std::nullopt;
  return n * unit;
}

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

std::optional<std::uint64_t> NumberWithUnit(std::string_view text, const std::vector<Unit>& units,
                                            bool unit_required, bool space_allowed) {
  std::string_view rest;
  auto n = LeadingNumber(text, rest);
  if (!n) return std::nullopt;
  if (rest.empty()) return unit_required ? std::nullopt : n;
  if (space_allowed && rest.front() == ' ') rest.remove_prefix(1);
  for (const Unit& unit : units) {
    if (rest == unit.name) return Multiply(*n, unit.factor);
  }
  return std::nullopt;
}

bool IsAtext(char c) {
  return IsAlnum(c) || IsHighByte(c) || std::strchr("!#$%&'*+-/=?^_`{|}~", c) != nullptr;
}

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  static const std::vector<Unit> kUnits = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  auto ms = NumberWithUnit(text, kUnits, /*unit_required=*/true, /*space_allowed=*/false);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max())) {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(*ms));
}

std::optional<std::uint64_t> ParseSize(std::string_view text) {
  constexpr std::uint64_t kK = 1000, kKi = 1024;
  static const std::vector<Unit> kUnits = {{"B", 1},
                                           {"kB", kK},
                                           {"KB", kK},
                                           {"MB", kK * kK},
                                           {"GB", kK * kK * kK},
                                           {"TB", kK * kK * kK * kK},
                                           {"KiB", kKi},
                                           {"MiB", kKi * kKi},
                                           {"GiB", kKi * kKi * kKi},
                                           {"TiB", kKi * kKi * kKi * kKi}};
  return NumberWithUnit(text, kUnits, /*unit_required=*/false, /*space_allowed=*/true);
}

bool IsValidDomain(std::string_view domain) {
  if (domain.empty() || domain.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = domain.find('.', start);
    std::string_view label = domain.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!IsAlnum(c) && !IsHighByte(c) && c != '-') return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool IsValidAddress(std::string_view address) {
  std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  std::string_view local = address.substr(0, at);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  for (char c : local) {
    if (c != '.' && !IsAtext(c)) return false;
  }
  return IsValidDomain(address.substr(at + 1));
}

std::optional<std::string> HeaderAddress(std::string_view text) {
  std::string_view address = text;
  if (!text.empty() && text.back() == '>') {
    std::size_t open = text.rfind('<');
    if (open == std::string_view::npos) return std::nullopt;
    std::string_view display = text.substr(0, open);
    for (char c : display) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '<' || c == '>') return std::nullopt;
    }
    address = text.substr(open + 1, text.size() - open - 2);
  }
  if (!IsValidAddress(address)) return std::nullopt;
  return std::string(address);
}

int EditDistance(std::string_view a, std::string_view b) {
  std::string x = Lower(a), y = Lower(b);
  const std::size_t n = x.size(), m = y.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1, 0));
  for (std::size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (std::size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (std::size_t i = 1; i <= n; ++i) {
    for (std::size_t j = 1; j <= m; ++j) {
      int cost = x[i - 1] == y[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && x[i - 1] == y[j - 2] && x[i - 2] == y[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

std::string Lower(std::string_view text) { return base::AsciiLower(text); }

ExpandedPath ExpandPathVariables(std::string_view path,
                                 const std::function<const char*(const char*)>& lookup) {
  ExpandedPath out;
  std::string result;
  std::size_t at = 0;
  for (std::size_t dollar = path.find("${"); dollar != std::string_view::npos; dollar = path.find("${", at)) {
    result.append(path.substr(at, dollar - at));
    const std::size_t close = path.find('}', dollar + 2);
    if (close == std::string_view::npos) {
      out.error = "'${' without its '}'";
      return out;
    }
    std::string_view reference = path.substr(dollar + 2, close - dollar - 2);
    std::optional<std::string_view> fallback;
    if (const std::size_t sep = reference.find(":-"); sep != std::string_view::npos) {
      fallback = reference.substr(sep + 2);
      reference = reference.substr(0, sep);
    }
    const std::string name(reference);
    bool known = false;
    for (std::string_view v : kPathVariables) known = known || v == name;
    if (!known) {
      out.error = "unknown variable '${" + name + "}' (a path may name only ${CREDENTIALS_DIRECTORY})";
      return out;
    }
    const char* value = lookup(name.c_str());
    if (value != nullptr && *value != '\0') {
      result.append(value);
    } else if (fallback) {
      result.append(*fallback);
    } else {
      out.error =
          "${" + name +
          "} is not set (systemd sets it for a unit with LoadCredential=; elsewhere set it, or write ${" +
          name + ":-/etc/mailforum})";
      return out;
    }
    at = close + 1;
  }
  result.append(path.substr(at));
  out.path = std::move(result);
  return out;
}

}  // namespace config::internal
