// Reading one YAML document against the configuration schema: typed values
// out of yaml-cpp nodes, with a Diagnostic for every value that does not fit.
// Internal to config/ (it exposes yaml-cpp, which lives only here).
//
// Every reader function reports its own problems to the Reader and returns
// nullopt (or skips the bad item), so the loader goes on and collects as many
// diagnostics as possible in one pass. Messages say which key was wrong, what
// was expected and what was found. Nothing here throws: values are read from
// Node::Scalar() and converted by hand.
//
// Thread-safety: a Reader and its Sections belong to one thread.
#ifndef MAILFORUM_CONFIG_READER_H_
#define MAILFORUM_CONFIG_READER_H_

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/regex.h"
#include "config/config.h"
#include "config/enums.h"

namespace config::internal {

enum class Need { kOptional, kRequired };

// Whether a secret's value is read, or only where it would come from checked
// (LoadOptions::Secrets::kDatabaseOnly for the mail secrets).
enum class SecretRead { kValue, kShapeOnly };

// A whole regular file read at once.
struct FileContent {
  bool ok = false;
  std::string data;
  unsigned mode = 0;  // st_mode & 07777
  // When !ok: why, e.g. "cannot read '/etc/x': No such file or directory" or
  // "'/etc/x' is not a regular file".
  std::string error;
};

// Reads the regular file at `path`, refusing one larger than `max_size` bytes
// (a FIFO or device is refused without blocking).
FileContent ReadRegularFile(const std::string& path, std::uint64_t max_size);

// A value in the document and the key it was given under.
struct Value {
  YAML::Node node;
  // Where diagnostics about the value point: the value itself, or its key
  // when the value is null (yaml-cpp marks an empty value at the next token).
  YAML::Mark mark;
  // Where the key is (equal to `mark` for list items).
  YAML::Mark key_mark;
  // The key, named in messages ("port: expected ..."); list items carry their list's key.
  std::string key;
};

// How a node looks, for "got ..." in messages: "nothing", "a map", "a list"
// or the scalar in quotes (shortened when long).
std::string Describe(const YAML::Node& node);

// The diagnostics of one file, and the conversions of single values.
class Reader {
 public:
  // `base_dir` resolves relative paths ("" = the working directory).
  Reader(std::string file, std::string base_dir);

  // Records a diagnostic at `mark` (yaml-cpp's 0-based position; a null
  // mark gives line and column 0). Control characters in `message` are escaped.
  void Error(const YAML::Mark& mark, std::string_view message);
  void Warning(const YAML::Mark& mark, std::string_view message);
  bool has_errors() const { return errors_ > 0; }
  // Everything reported so far, sorted by position (stable), and forgotten.
  std::vector<Diagnostic> TakeDiagnostics();

  // `path` if absolute, else relative to the configuration file's directory.
  std::string ResolvePath(std::string_view path) const;

  // A non-empty scalar.
  std::optional<std::string> String(const Value& v);
  // true/false (also yes/no, on/off).
  std::optional<bool> Bool(const Value& v);
  // A whole number in [min, max].
  std::optional<int> Int(const Value& v, int min, int max);
  // A decimal number without exponent ("3", "0.25").
  std::optional<double> Number(const Value& v);
  // 1..65535.
  std::optional<std::uint16_t> Port(const Value& v);
  // As ParseDuration.
  std::optional<std::chrono::milliseconds> Duration(const Value& v);
  // As ParseSize.
  std::optional<std::uint64_t> Size(const Value& v);
  // Compiled with base::Regex; the message is RE2's.
  std::optional<base::Regex> Regex(const Value& v);
  // A bare email address (IsValidAddress), lower-cased.
  std::optional<std::string> Address(const Value& v);
  // A domain name (IsValidDomain), lower-cased.
  std::optional<std::string> Domain(const Value& v);
  // The path a *_file key names: its ${CREDENTIALS_DIRECTORY} expanded
  // (ExpandPathVariables, from the environment), then resolved by
  // ResolvePath. An expansion error is reported at `v`.
  std::optional<std::string> FilePath(const Value& v);
  // A path to a file that exists and can be read now, as FilePath.
  std::optional<std::string> ReadableFile(const Value& v);
  // The content of the file named by `v` (a *_file key), trailing newlines
  // stripped. Reports missing, unreadable, empty and oversized files as
  // errors and a file that every user can read as a warning.
  std::optional<Secret> SecretFromFile(const Value& v);
  // The content of the environment variable named by `v` (a *_env key);
  // unset or empty is an error. A name that is not letters, digits and '_'
  // is an error that does not repeat it (it may be a misplaced secret).
  std::optional<Secret> SecretFromEnv(const Value& v);
  // Where a secret would come from, without reading it: a non-empty path
  // (`env` false) or a valid variable name (`env` true). The Secret is empty
  // and its source says it was not read.
  std::optional<Secret> SecretNotRead(const Value& v, bool env);

  // One of the names in `table`; otherwise an error listing them all.
  template <typename E>
  std::optional<E> Enum(const Value& v, std::span<const EnumName<E>> table) {
    auto text = String(v);
    if (!text) return std::nullopt;
    for (const auto& entry : table) {
      if (entry.name == *text) return entry.value;
    }
    std::string names;
    for (const auto& entry : table) names += (names.empty() ? "" : ", ") + std::string(entry.name);
    Error(v.mark, v.key + ": unknown value '" + *text + "'; expected one of: " + names);
    return std::nullopt;
  }

  // The items of a list ("expected a list of <what>, got ..." otherwise;
  // an empty list is an error unless `allow_empty`).
  std::optional<std::vector<Value>> Items(const Value& v, std::string_view what, bool allow_empty);

  // Items() with each item converted by `convert`; items it refuses are left out.
  template <typename Convert>
  auto List(const Value& v, std::string_view what, bool allow_empty, Convert convert)
      -> std::optional<std::vector<typename decltype(convert(v))::value_type>> {
    auto items = Items(v, what, allow_empty);
    if (!items) return std::nullopt;
    std::vector<typename decltype(convert(v))::value_type> out;
    for (const Value& item : *items) {
      if (auto converted = convert(item)) out.push_back(std::move(*converted));
    }
    return out;
  }

 private:
  void Add(Diagnostic::Severity severity, const YAML::Mark& mark, std::string_view message);
  // A string that `valid` accepts, lower-cased; otherwise "'text' is not a valid <what>".
  std::optional<std::string> Lowered(const Value& v, bool (*valid)(std::string_view), std::string_view what);

  std::string file_;
  std::string base_dir_;
  std::vector<Diagnostic> diagnostics_;
  int errors_ = 0;
};

// Names that must be unique within a list: mailbox names, category slugs,
// rule names.
class UniqueNames {
 public:
  // `what` names them in messages: "mailbox name".
  explicit UniqueNames(std::string what) : what_(std::move(what)) {}

  // True the first time `name` is added; after that reports "duplicate
  // <what> '<name>' (first defined at line N)" at `mark` and returns false.
  bool Add(Reader& reader, const std::string& name, const YAML::Mark& mark);

 private:
  std::string what_;
  std::map<std::string, int> first_line_;
};

// One YAML map read as a section of the schema ("imap", "a rule", the top
// level). The constructor checks that the value is a map (null counts as
// empty) and that each key is known and given once: unknown keys are
// reported with a "did you mean" suggestion when one is close.
class Section {
 public:
  // `where` completes "unknown key 'x' ...": "in imap", "at the top level".
  Section(Reader& reader, const Value& value, std::string where, std::span<const std::string_view> keys);

  Reader& reader() { return reader_; }
  // The map's position, where "missing required key" points.
  const YAML::Mark& mark() const { return mark_; }
  // The known keys that are present, in file order.
  const std::vector<Value>& fields() const { return fields_; }

  // The value of `key`; when absent, nullopt, and an error if `need` is kRequired.
  std::optional<Value> Get(std::string_view key, Need need = Need::kOptional);

  // Get() then convert with `convert`, a callable taking const Value& and returning an optional.
  template <typename Convert>
  auto Read(std::string_view key, Need need, Convert convert)
      -> decltype(convert(std::declval<const Value&>())) {
    auto v = Get(key, need);
    if (!v) return std::nullopt;
    return convert(*v);
  }

  std::optional<std::string> String(std::string_view key, Need need = Need::kOptional);
  std::optional<bool> Bool(std::string_view key);
  std::optional<std::chrono::milliseconds> Duration(std::string_view key);
  std::optional<std::uint64_t> Size(std::string_view key);
  std::optional<int> Int(std::string_view key, int min, int max);
  std::optional<double> Number(std::string_view key);
  template <typename E>
  std::optional<E> Enum(std::string_view key, std::span<const EnumName<E>> table,
                        Need need = Need::kOptional) {
    return Read(key, need, [&](const Value& v) { return reader_.Enum(v, table); });
  }

  // The secret under `<stem>_file` or `<stem>_env` (exactly one of them);
  // with SecretRead::kShapeOnly only checked, not read (see Reader::SecretNotRead).
  std::optional<Secret> SecretValue(std::string_view stem, Need need, SecretRead read = SecretRead::kValue);

  // Reports "missing required <what> <where>" at the map, with " (<why>)"
  // when `why` is given; `what` is e.g. "key 'host'". Nothing when the value
  // was not a map at all (that is the one error worth reading).
  void Missing(std::string_view what, std::string_view why = "");

 private:
  Reader& reader_;
  YAML::Mark mark_;
  std::string where_;
  // False when the value was not a map: that error is reported, and missing keys are not.
  bool is_map_ = true;
  std::vector<Value> fields_;
};

}  // namespace config::internal

#endif  // MAILFORUM_CONFIG_READER_H_
