#include "config/reader.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "config/values.h"

namespace config::internal {
namespace {

constexpr std::size_t kMaxQuoted = 40;

int OneBased(int zero_based) { return zero_based >= 0 ? zero_based + 1 : 0; }

// A diagnostic is one line: control characters from the file (a quoted
// "\n" in a value we echo) are shown escaped, so they cannot forge lines.
std::string OneLine(std::string_view message) {
  std::string out;
  for (char c : message) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte != 0x7f) {
      out += c;
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += c == '\n' ? std::string("\\n") : std::string("\\x") + kHex[byte >> 4] + kHex[byte & 0xf];
    }
  }
  return out;
}

std::optional<long long> ParseInteger(std::string_view text) {
  bool negative = !text.empty() && (text.front() == '-' || text.front() == '+');
  if (negative) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  if (text.empty() || text.size() > 15) return std::nullopt;
  long long n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return negative ? -n : n;
}

// "3", "0.25", "+1.5": digits with at most one '.', no exponent.
std::optional<double> ParseDecimal(std::string_view text) {
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 30 || digits.front() == '.' || digits.back() == '.') {
    return std::nullopt;
  }
  int dots = 0;
  for (char c : digits) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  if (dots > 1) return std::nullopt;
  return std::strtod(std::string(text).c_str(), nullptr);
}

// The known key closest to `key`, when it is close enough to be a likely typo.
std::optional<std::string_view> Suggest(std::string_view key, std::span<const std::string_view> known) {
  std::optional<std::string_view> best;
  int best_distance = 3;
  for (std::string_view candidate : known) {
    int d = EditDistance(key, candidate);
    if (d < best_distance && 2 * static_cast<std::size_t>(d) < candidate.size()) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

bool Contains(std::span<const std::string_view> keys, std::string_view key) {
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

}  // namespace

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      return "'" + (s.size() > kMaxQuoted ? s.substr(0, kMaxQuoted) + "..." : s) + "'";
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "nothing";
}

Reader::Reader(std::string file, std::string base_dir)
    : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

void Reader::Error(const YAML::Mark& mark, std::string_view message) {
  Add(Diagnostic::Severity::kError, mark, message);
  ++errors_;
}

void Reader::Warning(const YAML::Mark& mark, std::string_view message) {
  Add(Diagnostic::Severity::kWarning, mark, message);
}

void Reader::Add(Diagnostic::Severity severity, const YAML::Mark& mark, std::string_view message) {
  diagnostics_.push_back({severity, file_, OneBased(mark.line), OneBased(mark.column), OneLine(message)});
}

std::vector<Diagnostic> Reader::TakeDiagnostics() {
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  errors_ = 0;
  return std::exchange(diagnostics_, {});
}

std::string Reader::ResolvePath(std::string_view path) const {
  if (path.empty() || path.front() == '/' || base_dir_.empty()) return std::string(path);
  return base_dir_ + (base_dir_.back() == '/' ? "" : "/") + std::string(path);
}

std::optional<std::string> Reader::FilePath(const Value& v) {
  auto path = String(v);
  if (!path) return std::nullopt;
  ExpandedPath expanded = ExpandPathVariables(*path, [](const char* name) { return std::getenv(name); });
  if (!expanded.path) {
    Error(v.mark, v.key + ": " + expanded.error);
    return std::nullopt;
  }
  return ResolvePath(*expanded.path);
}

std::optional<std::string> Reader::String(const Value& v) {
  if (!v.node.IsScalar()) {
    Error(v.mark, v.key + ": expected a string, got " + Describe(v.node));
    return std::nullopt;
  }
  if (v.node.Scalar().empty()) {
    Error(v.mark, v.key + ": must not be empty");
    return std::nullopt;
  }
  return v.node.Scalar();
}

std::optional<bool> Reader::Bool(const Value& v) {
  if (v.node.IsScalar()) {
    std::string s = Lower(v.node.Scalar());
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
  }
  Error(v.mark, v.key + ": expected true or false, got " + Describe(v.node));
  return std::nullopt;
}

std::optional<int> Reader::Int(const Value& v, int min, int max) {
  std::optional<long long> n;
  if (v.node.IsScalar()) n = ParseInteger(v.node.Scalar());
  if (!n || *n < min || *n > max) {
    Error(v.mark, v.key + ": expected a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", got " + Describe(v.node));
    return std::nullopt;
  }
  return static_cast<int>(*n);
}

std::optional<double> Reader::Number(const Value& v) {
  std::optional<double> n;
  if (v.node.IsScalar()) n = ParseDecimal(v.node.Scalar());
  if (!n) Error(v.mark, v.key + ": expected a number like 3.0, got " + Describe(v.node));
  return n;
}

std::optional<std::uint16_t> Reader::Port(const Value& v) {
  std::optional<long long> n;
  if (v.node.IsScalar()) n = ParseInteger(v.node.Scalar());
  if (!n || *n < 1 || *n > 65535) {
    Error(v.mark, v.key + ": expected a port number from 1 to 65535, got " + Describe(v.node));
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(*n);
}

std::optional<std::chrono::milliseconds> Reader::Duration(const Value& v) {
  std::optional<std::chrono::milliseconds> d;
  if (v.node.IsScalar()) d = ParseDuration(v.node.Scalar());
  if (!d)
    Error(v.mark, v.key + ": expected a duration like 60s (units: ms, s, m, h, d), got " + Describe(v.node));
  return d;
}

std::optional<std::uint64_t> Reader::Size(const Value& v) {
  std::optional<std::uint64_t> size;
  if (v.node.IsScalar()) size = ParseSize(v.node.Scalar());
  if (!size) {
    Error(v.mark, v.key + ": expected a size like 25MiB (units: B, KB, MB, GB, KiB, MiB, GiB), got " +
                      Describe(v.node));
  }
  return size;
}

std::optional<base::Regex> Reader::Regex(const Value& v) {
  auto pattern = String(v);
  if (!pattern) return std::nullopt;
  auto regex = base::Regex::Compile(*pattern);
  if (!regex.ok()) {
    Error(v.mark, v.key + ": " + regex.error().message);
    return std::nullopt;
  }
  return std::move(regex).value();
}

std::optional<std::string> Reader::Lowered(const Value& v, bool (*valid)(std::string_view), std::string_view what) {
  auto text = String(v);
  if (!text) return std::nullopt;
  if (!valid(*text)) {
    Error(v.mark, v.key + ": '" + *text + "' is not a valid " + std::string(what));
    return std::nullopt;
  }
  return Lower(*text);
}

std::optional<std::string> Reader::Address(const Value& v) { return Lowered(v, IsValidAddress, "email address"); }

std::optional<std::string> Reader::Domain(const Value& v) { return Lowered(v, IsValidDomain, "domain name"); }

bool UniqueNames::Add(Reader& reader, const std::string& name, const YAML::Mark& mark) {
  auto [first, inserted] = first_line_.emplace(name, OneBased(mark.line));
  if (!inserted) {
    reader.Error(mark, "duplicate " + what_ + " '" + name + "' (first defined at line " +
                           std::to_string(first->second) + ")");
  }
  return inserted;
}

std::optional<std::vector<Value>> Reader::Items(const Value& v, std::string_view what, bool allow_empty) {
  if (!v.node.IsSequence()) {
    Error(v.mark, v.key + ": expected a list of " + std::string(what) + ", got " + Describe(v.node));
    return std::nullopt;
  }
  if (v.node.size() == 0 && !allow_empty) {
    Error(v.mark, v.key + ": expected a non-empty list of " + std::string(what));
    return std::nullopt;
  }
  std::vector<Value> items;
  for (const auto& entry : v.node) {
    const YAML::Node item = entry;
    YAML::Mark mark = item.IsNull() ? v.mark : item.Mark();
    items.push_back({item, mark, mark, v.key});
  }
  return items;
}

Section::Section(Reader& reader, const Value& value, std::string where,
                 std::span<const std::string_view> keys)
    : reader_(reader), mark_(value.mark), where_(std::move(where)) {
  if (value.node.IsNull()) return;
  if (!value.node.IsMap()) {
    reader_.Error(value.mark, value.key + ": expected a map, got " + Describe(value.node));
    is_map_ = false;
    return;
  }
  // Copies, not references: yaml-cpp's iterators hand out temporary proxies.
  for (const auto& entry : value.node) {
    const YAML::Node key_node = entry.first;
    const YAML::Node value_node = entry.second;
    if (!key_node.IsScalar()) {
      reader_.Error(key_node.Mark(), "expected a key name " + where_ + ", got " + Describe(key_node));
      continue;
    }
    const std::string& key = key_node.Scalar();
    if (!Contains(keys, key)) {
      std::string message = "unknown key '" + key + "' " + where_;
      if (Contains(keys, key + "_file")) {
        // Never echo the value: it is probably the secret itself.
        message +=
            "; secrets are not written in the configuration: use '" + key + "_file' or '" + key + "_env'";
      } else if (auto suggestion = Suggest(key, keys)) {
        message += "; did you mean '" + std::string(*suggestion) + "'?";
      }
      reader_.Error(key_node.Mark(), std::move(message));
      continue;
    }
    auto first = std::find_if(fields_.begin(), fields_.end(), [&](const Value& f) { return f.key == key; });
    if (first != fields_.end()) {
      reader_.Error(key_node.Mark(), "duplicate key '" + key + "' " + where_ + " (first given at line " +
                                         std::to_string(OneBased(first->key_mark.line)) + ")");
      continue;
    }
    YAML::Mark mark = value_node.IsNull() ? key_node.Mark() : value_node.Mark();
    fields_.push_back({value_node, mark, key_node.Mark(), key});
  }
}

std::optional<Value> Section::Get(std::string_view key, Need need) {
  for (const Value& field : fields_) {
    if (field.key == key) return field;
  }
  if (need == Need::kRequired) Missing("key '" + std::string(key) + "'");
  return std::nullopt;
}

void Section::Missing(std::string_view what, std::string_view why) {
  if (!is_map_) return;
  std::string message = "missing required " + std::string(what) + " " + where_;
  if (!why.empty()) message += " (" + std::string(why) + ")";
  reader_.Error(mark_, std::move(message));
}

std::optional<std::string> Section::String(std::string_view key, Need need) {
  return Read(key, need, [this](const Value& v) { return reader_.String(v); });
}

std::optional<bool> Section::Bool(std::string_view key) {
  return Read(key, Need::kOptional, [this](const Value& v) { return reader_.Bool(v); });
}

std::optional<std::chrono::milliseconds> Section::Duration(std::string_view key) {
  return Read(key, Need::kOptional, [this](const Value& v) { return reader_.Duration(v); });
}

std::optional<std::uint64_t> Section::Size(std::string_view key) {
  return Read(key, Need::kOptional, [this](const Value& v) { return reader_.Size(v); });
}

std::optional<int> Section::Int(std::string_view key, int min, int max) {
  return Read(key, Need::kOptional, [&](const Value& v) { return reader_.Int(v, min, max); });
}

std::optional<double> Section::Number(std::string_view key) {
  return Read(key, Need::kOptional, [&](const Value& v) { return reader_.Number(v); });
}

std::optional<Secret> Section::SecretValue(std::string_view stem, Need need, SecretRead read) {
  const std::string file_key = std::string(stem) + "_file";
  const std::string env_key = std::string(stem) + "_env";
  auto file = Get(file_key);
  auto env = Get(env_key);
  if (file && env) {
    const Value& second = file->key_mark.pos > env->key_mark.pos ? *file : *env;
    reader_.Error(second.key_mark, "give either '" + file_key + "' or '" + env_key + "', not both");
    return std::nullopt;
  }
  if (read == SecretRead::kShapeOnly && (file || env)) return reader_.SecretNotRead(file ? *file : *env, !file);
  if (file) return reader_.SecretFromFile(*file);
  if (env) return reader_.SecretFromEnv(*env);
  if (need == Need::kRequired) Missing("key '" + file_key + "' or '" + env_key + "'");
  return std::nullopt;
}

}  // namespace config::internal
