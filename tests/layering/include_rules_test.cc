// The include rules of DESIGN.md §3, read from the sources: every
// `#include "folder/..."` in the code folders is an edge, and an edge the
// design forbids fails this test with its file and line.
//
//   daemon, cli → anything but each other
//   engine      → forum, mail, base (its *_from_config / pipeline_config files also config)
//   web         → forum's read side (reader.h, model.h), base
//   forum       → mail/message.h only, base
//   mail, config → base
//   base        → nothing of ours
//
// Test code (*_test.cc, *_itest.cc, testing/, test support files) may also
// use tests/support/ and its own module's fixtures: a test of web fills the
// database through forum's store (site_itest.cc).
//
// Each third-party library lives in the one place that wraps it (DESIGN.md
// §3): `#include <libetpan/...>` only in mail/imap_session.cc, <pqxx/...>
// only in forum's store files, and so on (kThirdParty below); test code may
// use what it tests with.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

bool IsTestCode(const std::string& file) {
  return file.find("_test.cc") != std::string::npos || file.find("_itest.cc") != std::string::npos ||
         file.find("/testing/") != std::string::npos || file.find("_fixture.") != std::string::npos ||
         file.find("scratch_database.") != std::string::npos ||
         file.find("itest_support.") != std::string::npos || file.find("test_config.") != std::string::npos ||
         file.find("test_client.") != std::string::npos || file.find("testing_main.cc") != std::string::npos;
}

// Why `file` (repository-relative) may not include `header`; empty when it may.
std::string Forbidden(const std::string& file, const std::string& header) {
  const std::string from = file.substr(0, file.find('/'));
  const std::string to = header.substr(0, header.find('/'));
  if (to == from) return "";
  if (to == "tests" && IsTestCode(file)) return "";
  if (IsTestCode(file) && from == "web" && (header == "forum/store.h" || header == "forum/store_fixture.h")) {
    return "";
  }
  if (from == "daemon" || from == "cli") {
    return to == "daemon" || to == "cli" ? "daemon and cli never include each other" : "";
  }
  if (from == "engine") {
    if (to == "forum" || to == "mail" || to == "base") return "";
    const bool from_config =
        file.find("from_config") != std::string::npos || file.find("pipeline_config") != std::string::npos;
    if (to == "config" && from_config) return "";
    return "engine may include forum, mail and base only (config in its from-config translation)";
  }
  if (from == "web") {
    if (to == "base" || header == "forum/reader.h" || header == "forum/model.h") return "";
    return "web may include forum's read side (reader.h, model.h) and base only";
  }
  if (from == "forum") {
    if (to == "base" || header == "mail/message.h") return "";
    return "forum may include mail/message.h and base only";
  }
  if (from == "mail" || from == "config") return to == "base" ? "" : from + " may include base only";
  if (from == "base") return "base includes nothing of ours";
  return "";
}

// Third-party header prefix → the files (path prefixes) that may include it.
struct ThirdParty {
  const char* header_prefix;
  std::vector<std::string> allowed;
};
const std::vector<ThirdParty>& ThirdParties() {
  static const std::vector<ThirdParty> kThirdParty = {
      {"libetpan/", {"mail/imap_session.cc"}},
      {"vmime/", {"mail/composer.cc", "mail/smtp_transport.cc", "mail/library_init.cc"}},
      {"gumbo", {"mail/html_to_text.cc"}},
      {"gnutls/", {"mail/"}},
      {"curl/", {"mail/oauth2.cc", "mail/library_init.cc"}},
      {"pqxx",
       {"forum/store", "forum/inbound_store.cc", "forum/admin_store.cc", "forum/outbox_store.cc",
        "forum/progress_store.cc", "forum/reader.cc", "forum/scratch_database.cc", "forum/connection",
        "forum/transaction"}},
      {"libpq", {"forum/connection.cc"}},
      {"yaml-cpp/", {"config/"}},
      {"boost/", {"web/http_server.cc"}},
      {"libdeflate", {"web/gzip.cc"}},
      {"zlib", {"web/gzip.cc"}},
      {"systemd/", {"daemon/systemd_notify.cc"}},
      {"CLI/", {"cli/main.cc"}},
      {"re2/", {"base/regex.cc"}},
      {"nlohmann/", {"web/json_views.cc", "cli/", "mail/oauth2.cc"}},
  };
  return kThirdParty;
}

// Why `file` may not include the third-party (angle-bracket) `header`; empty when it may.
std::string ForbiddenThirdParty(const std::string& file, const std::string& header) {
  if (IsTestCode(file)) return "";
  for (const ThirdParty& t : ThirdParties()) {
    if (!header.starts_with(t.header_prefix)) continue;
    for (const std::string& allowed : t.allowed) {
      if (file.starts_with(allowed)) return "";
    }
    std::string where;
    for (const std::string& allowed : t.allowed) where += (where.empty() ? "" : ", ") + allowed;
    return std::string(t.header_prefix) + " lives only in " + where;
  }
  return "";
}

struct Violation {
  std::string where;   // file:line
  std::string header;  // as written: "folder/file.h" or <library/file.h>
  std::string why;
};

// Every forbidden edge in the code folders under `root`.
std::vector<Violation> Violations(const fs::path& root) {
  static const std::set<std::string> kFolders = {"base",   "config", "mail",   "forum",
                                                 "engine", "web",    "daemon", "cli"};
  static const std::set<std::string> kOurs = {"base", "config", "mail", "forum", "engine",
                                              "web",  "daemon", "cli",  "tests"};
  static const std::regex kInclude(R"re(^\s*#\s*include\s*"(([a-z_]+)/[^"]+)")re");
  static const std::regex kSystemInclude(R"re(^\s*#\s*include\s*<([^>]+)>)re");
  std::vector<Violation> out;
  for (const std::string& folder : kFolders) {
    if (!fs::exists(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".cc" && ext != ".h")) continue;
      const std::string file = fs::relative(entry.path(), root).generic_string();
      std::ifstream in(entry.path());
      std::string line;
      for (int n = 1; std::getline(in, line); ++n) {
        std::smatch m;
        if (std::regex_search(line, m, kSystemInclude)) {
          if (std::string why = ForbiddenThirdParty(file, m[1].str()); !why.empty()) {
            out.push_back({file + ":" + std::to_string(n), "<" + m[1].str() + ">", why});
          }
          continue;
        }
        if (!std::regex_search(line, m, kInclude) || kOurs.count(m[2].str()) == 0) continue;
        if (std::string why = Forbidden(file, m[1].str()); !why.empty()) {
          out.push_back({file + ":" + std::to_string(n), "\"" + m[1].str() + "\"", why});
        }
      }
    }
  }
  return out;
}

TEST(IncludeRulesTest, TheRulesForbidWhatDesignForbids) {
  EXPECT_NE(Forbidden("forum/store.cc", "daemon/app.h"), "");
  EXPECT_NE(Forbidden("forum/store.cc", "mail/mime_parser.h"), "");
  EXPECT_EQ(Forbidden("forum/store.cc", "mail/message.h"), "");
  EXPECT_NE(Forbidden("cli/route_command.cc", "daemon/pipeline.h"), "");
  EXPECT_NE(Forbidden("daemon/app.cc", "cli/commands.h"), "");
  EXPECT_EQ(Forbidden("daemon/app.cc", "engine/mailbox_pass.h"), "");
  EXPECT_NE(Forbidden("engine/pipeline.cc", "daemon/app.h"), "");
  EXPECT_NE(Forbidden("engine/pipeline.cc", "config/config.h"), "");
  EXPECT_EQ(Forbidden("engine/pipeline_config.h", "config/config.h"), "");
  EXPECT_NE(Forbidden("web/site.cc", "forum/store.h"), "");
  EXPECT_EQ(Forbidden("web/site.cc", "forum/reader.h"), "");
  EXPECT_NE(Forbidden("mail/mime_parser.cc", "forum/model.h"), "");
  EXPECT_NE(Forbidden("config/loader.cc", "mail/message.h"), "");
  EXPECT_NE(Forbidden("base/log.cc", "config/config.h"), "");
  EXPECT_EQ(Forbidden("mail/mime_parser_test.cc", "tests/support/test_env.h"), "");
  EXPECT_NE(Forbidden("mail/mime_parser.cc", "tests/support/test_env.h"), "");
  EXPECT_EQ(ForbiddenThirdParty("mail/imap_session.cc", "libetpan/libetpan.h"), "");
  EXPECT_NE(ForbiddenThirdParty("mail/mime_parser.cc", "libetpan/libetpan.h"), "");
  EXPECT_NE(ForbiddenThirdParty("mail/classifier.cc", "vmime/vmime.hpp"), "");
  EXPECT_EQ(ForbiddenThirdParty("forum/store.cc", "pqxx/pqxx"), "");
  EXPECT_NE(ForbiddenThirdParty("forum/rules.cc", "pqxx/pqxx"), "");
  EXPECT_NE(ForbiddenThirdParty("engine/pipeline.cc", "pqxx/pqxx"), "");
  EXPECT_EQ(ForbiddenThirdParty("forum/connection.cc", "libpq-events.h"), "");
  EXPECT_NE(ForbiddenThirdParty("forum/store.cc", "libpq-fe.h"), "");
  EXPECT_NE(ForbiddenThirdParty("web/site.cc", "boost/beast.hpp"), "");
  EXPECT_EQ(ForbiddenThirdParty("mail/composer_test.cc", "vmime/vmime.hpp"), "");
  EXPECT_EQ(ForbiddenThirdParty("daemon/app.cc", "string"), "");
}

TEST(IncludeRulesTest, NoSourceFileIncludesAcrossAForbiddenEdge) {
  const std::vector<Violation> found = Violations(MAILFORUM_SOURCE_DIR);
  for (const Violation& v : found) ADD_FAILURE() << v.where << ": #include " << v.header << ": " << v.why;
  EXPECT_TRUE(found.empty()) << found.size() << " forbidden include(s)";
}

}  // namespace
