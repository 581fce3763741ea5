// Parsers and validators for the scalar values in the configuration:
// durations, sizes, email addresses, domains, hosts. Pure functions, no YAML
// and no I/O, so they are tested directly. Internal to config/.
//
// Thread-safety: stateless.
#ifndef MAILFORUM_CONFIG_VALUES_H_
#define MAILFORUM_CONFIG_VALUES_H_

#include <chrono>
#include <cstdint>
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

}  // namespace config::internal

#endif  // MAILFORUM_CONFIG_VALUES_H_
