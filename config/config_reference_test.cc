// docs/configuration.md against the loader: every key the loader accepts is
// documented under its section's heading, and every documented key is one the
// loader accepts. Sections are the reference's headings: "## `smtp`",
// "### `mailboxes[].imap`", "## Rules", "### Matchers"; keys are the first
// column of their tables ("`dsn_file` / `dsn_env`" documents both).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "config/config.h"

namespace {

using Documented = std::map<std::string, std::set<std::string>>;

// The text between the first pair of backticks of `line`, or "".
std::string FirstQuoted(const std::string& line) {
  const auto open = line.find('`');
  if (open == std::string::npos) return "";
  const auto close = line.find('`', open + 1);
  return close == std::string::npos ? "" : line.substr(open + 1, close - open - 1);
}

std::string SectionOfHeading(const std::string& heading) {
  if (heading == "Rules") return "rules";
  if (heading == "Matchers") return "matchers";
  // "`smtp` (required)" -> "smtp"; "General rules" and "systemd credentials: `${...}`" -> "".
  const std::string quoted = FirstQuoted(heading);
  for (const char c : quoted) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '[' || c == ']')) {
      return "";
    }
  }
  return quoted;
}

// Each section's documented keys; the top-level keys are the sections' own names.
Documented ReadReference(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot read " << path;
  Documented out;
  std::string section;
  bool in_section = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#", 0) == 0) {
      const auto text = line.substr(line.find(' ') + 1);
      section = SectionOfHeading(text);
      in_section = !section.empty();
      if (in_section && section.find('[') == std::string::npos && section != "rules" &&
          section != "matchers") {
        out[""].insert(section);
      }
      continue;
    }
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    const auto first_cell = line.substr(1, line.find(" |", 1));
    std::istringstream cells(first_cell);
    for (std::string word; cells >> word;) {
      if (word.size() > 2 && word.front() == '`' && word.back() == '`') {
        out[section].insert(word.substr(1, word.size() - 2));
      }
    }
  }
  return out;
}

TEST(ConfigReference, EveryKeyIsDocumentedAndEveryDocumentedKeyIsReal) {
  const Documented documented = ReadReference(std::string(MAILFORUM_SOURCE_DIR) + "/docs/configuration.md");
  std::set<std::string> known_sections;
  int keys = 0;
  for (const auto& section : config::KnownKeys()) {
    known_sections.insert(std::string(section.name));
    const auto it = documented.find(std::string(section.name));
    const std::set<std::string> none;
    const auto& there = it == documented.end() ? none : it->second;
    for (const auto key : section.keys) {
      ++keys;
      EXPECT_TRUE(there.count(std::string(key)))
          << "key '" << key << "' of section '" << section.name << "' is not in docs/configuration.md";
    }
    for (const auto& key : there) {
      bool real = false;
      for (const auto k : section.keys) real = real || k == key;
      EXPECT_TRUE(real) << "docs/configuration.md documents '" << key << "' in section '" << section.name
                        << "', which the loader does not accept";
    }
  }
  for (const auto& [section, unused] : documented) {
    EXPECT_TRUE(known_sections.count(section))
        << "docs/configuration.md has a section '" << section << "' that the loader does not know";
  }
  std::cout << "configuration reference: " << keys << " keys in " << known_sections.size()
            << " sections checked against docs/configuration.md\n";
}

}  // namespace
