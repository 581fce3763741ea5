// Parsers and validators for the scalar values in the configuration:
// durations, sizes, email addresses, domains, hosts. Pure functions, no YAML
// and no I/O, so they are tested directly. Internal to config/.
//
// Thread-safety: stateless.
#ifndef MAILFORUM_CONFIG_VALUES_H_
#define MAILFORUM_CONFIG_VALUES_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace config::internal {

// "500ms", "60s", "5m", "1h", "7d": a whole number and one unit. nullopt for
// anything else (a bare number has no unit and is refused), or on overflow.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

// "25MiB", "10MB", "512KiB", "1GiB", "4096": a whole number of bytes with an
// optional unit (B; KB MB GB TB = powers of 1000; KiB MiB GiB TiB = powers
// of 1024; "kB" too), optionally one space between. nullopt on anything else or overflow.
std::optional<std::uint64_t> ParseSize(std::string_view text);

// A bare addr-spec "local@domain": a dot-atom local part and a domain as
// IsValidDomain. Quoted local parts and address literals are not accepted.
// Bytes >= 0x80 are allowed (internationalized addresses).
bool IsValidAddress(std::string_view address);

// An address as written in a From header: "help@example.com",
// "<help@example.com>" or "Acme Help <help@example.com>". Returns the bare
// address, or nullopt when the address is invalid or the display name has
// control characters or angle brackets (which would corrupt the header).
std::optional<std::string> HeaderAddress(std::string_view text);

// A host name: dot-separated labels of letters, digits, '-' (not at either
// end of a label) or bytes >= 0x80, 1..63 bytes each, 253 bytes in all.
bool IsValidDomain(std::string_view domain);

// Optimal string alignment distance (Levenshtein plus adjacent
// transpositions), case-insensitive ASCII.
int EditDistance(std::string_view a, std::string_view b);

// ASCII lower case.
std::string Lower(std::string_view text);

// The variables a *_file path may name: only CREDENTIALS_DIRECTORY, which
// systemd sets for a unit with LoadCredential= (docs/systemd.md).
inline constexpr std::string_view kPathVariables[] = {"CREDENTIALS_DIRECTORY"};

// A *_file path with its variables expanded, or why it could not be.
struct ExpandedPath {
  std::optional<std::string> path;  // set on success
  std::string error;                // set on failure
};

// Replaces "${NAME}" and "${NAME:-DEFAULT}" in `path`, NAME one of
// kPathVariables; DEFAULT (taken literally, up to the next '}') stands in
// when NAME is unset or empty. `lookup(NAME)` returns the value or nullptr
// (getenv; a parameter so that this stays pure). A '$' not followed by '{'
// is kept. Errors: a name not in kPathVariables, NAME unset or empty without
// a default, "${" without its '}'.
ExpandedPath ExpandPathVariables(std::string_view path,
                                 const std::function<const char*(const char*)>& lookup);

}  // namespace config::internal

#endif  // MAILFORUM_CONFIG_VALUES_H_
