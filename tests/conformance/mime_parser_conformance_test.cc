// Conformance of mail::ParseMessage against Stalwart's mail-parser corpus
// (tests/corpus/mail-parser, Apache-2.0 OR MIT; the Dovecot parts MIT).
//
// eml/: every message is parsed with every CR removed (X.json) and with every
// bare LF turned into CRLF (X.crlf.json), as mail-parser's own test does. What is compared is a projection of
// the expected JSON, not the JSON itself: the part tree (content type, body kind, children), the decoded
// Text/Html strings (minus NUL bytes, which our contract removes), Binary bytes, nested messages' trees, and
// the top-level body choice (text_body, html_body, attachments). Byte offsets, header values and Rust enum
// shapes are ignored. Bar: 90% of the files for each line ending.
//
// Header tables: id.json (threading ids, via References) and address.json
// (via To; groups flattened, since Message keeps addresses only) must pass 95%;
// unstructured.json (via Subject) is reported only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "mail/mime_parser.h"
#include "mail/sha256.h"
#include "tests/support/test_env.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string CorpusDir() { return mftest::SourceDir() + "/tests/corpus/mail-parser/resources"; }

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ToLf(std::string raw) {
  std::erase(raw, '\r');
  return raw;
}

std::string ToCrlf(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() + raw.size() / 20);
  char last = 0;
  for (char c : raw) {
    if (c == '\n' && last != '\r') out += '\r';
    out += c;
    last = c;
  }
  return out;
}

std::string Quoted(std::string_view s) { return json(std::string(s)).dump(); }

std::string RemoveNul(std::string s) {
  std::erase(s, '\0');
  return s;
}

std::string IndexList(const std::vector<int>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}

std::string BytesSummary(std::string_view bytes) {
  return std::to_string(bytes.size()) + " bytes sha256:" + mail::Sha256Hex(bytes).substr(0, 16);
}

// --- the expected side ---

std::string ExpectedType(const json& part, bool in_digest) {
  std::string type;
  for (const json& h : part["headers"]) {
    if (h["name"] != "content_type") continue;  // the last one counts, as in mail-parser
    const json& v = h["value"];
    type.clear();
    if (v.is_object() && v.contains("ContentType")) {
      const json& ct = v["ContentType"];
      if (ct["c_subtype"].is_string())
        type = ct["c_type"].get<std::string>() + "/" + ct["c_subtype"].get<std::string>();
    }
  }
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  if (type.empty()) type = in_digest ? "message/rfc822" : "text/plain";
  return type;
}

void ProjectExpected(const json& message, const std::string& indent, std::vector<std::string>* lines) {
  const json& parts = message["parts"];
  std::vector<bool> in_digest(parts.size(), false);
  for (size_t i = 0; i < parts.size(); ++i) {
    const json& part = parts[i];
    const std::string type = ExpectedType(part, in_digest[i]);
    const json& body = part["body"];
    std::string line = indent + "part " + std::to_string(i) + ": " + type + " ";
    if (body.is_string()) {
      line += "text " + Quoted("");  // "Empty" bodies
      lines->push_back(line);
      continue;
    }
    const std::string kind = body.begin().key();
    const json& value = body.begin().value();
    if (kind == "Text" || kind == "Html") {
      line += (kind == "Text" ? "text " : "html ") + Quoted(RemoveNul(value.get<std::string>()));
    } else if (kind == "Binary" || kind == "InlineBinary") {
      std::string bytes;
      for (const json& b : value) bytes += static_cast<char>(b.get<int>());
      line += "binary " + BytesSummary(bytes);
    } else if (kind == "Multipart") {
      std::vector<int> children = value.get<std::vector<int>>();
      for (int c : children) {
        if (c >= 0 && static_cast<size_t>(c) < parts.size())
          in_digest[static_cast<size_t>(c)] = type == "multipart/digest";
      }
      line += "multipart " + IndexList(children);
    } else if (kind == "Message") {
      line += "message";
      lines->push_back(line);
      ProjectExpected(value, indent + "  ", lines);
      continue;
    }
    lines->push_back(line);
  }
}

std::vector<std::string> Expected(const json& message) {
  std::vector<std::string> lines = {
      "text_body " + IndexList(message["text_body"].get<std::vector<int>>()),
      "html_body " + IndexList(message["html_body"].get<std::vector<int>>()),
      "attachments " + IndexList(message["attachments"].get<std::vector<int>>())};
  ProjectExpected(message, "", &lines);
  return lines;
}

// --- our side ---

// The parts of one message (the top level, or an attached one rooted at
// `root`) in depth-first order, not entering attached messages: mail-parser
// numbers each message's parts on their own.
void CollectLocal(const mail::Message& m, int index, std::vector<int>* order) {
  order->push_back(index);
  const mail::MimePart& p = m.parts[static_cast<size_t>(index)];
  if (p.kind != mail::MimePart::Kind::kMultipart) return;
  for (int c : p.children) CollectLocal(m, c, order);
}

void ProjectOurs(const mail::Message& m, int root, const std::string& indent, std::vector<std::string>* lines,
                 std::vector<int>* order) {
  CollectLocal(m, root, order);
  auto local = [&](int global) {
    auto it = std::find(order->begin(), order->end(), global);
    return it == order->end() ? -1 : static_cast<int>(it - order->begin());
  };
  for (size_t i = 0; i < order->size(); ++i) {
    const mail::MimePart& p = m.parts[static_cast<size_t>((*order)[i])];
    std::string line = indent + "part " + std::to_string(i) + ": " + p.content_type + " ";
    switch (p.kind) {
      case mail::MimePart::Kind::kText:
        line += "text " + Quoted(p.body);
        break;
      case mail::MimePart::Kind::kHtml:
        line += "html " + Quoted(p.body);
        break;
      case mail::MimePart::Kind::kBinary:
        line += "binary " + BytesSummary(p.body);
        break;
      case mail::MimePart::Kind::kMultipart: {
        std::vector<int> children;
        for (int c : p.children) children.push_back(local(c));
        line += "multipart " + IndexList(children);
        break;
      }
      case mail::MimePart::Kind::kMessage:
        line += "message";
        lines->push_back(line);
        if (!p.children.empty()) {
          std::vector<int> nested;
          ProjectOurs(m, p.children.front(), indent + "  ", lines, &nested);
        }
        continue;
    }
    lines->push_back(line);
  }
}

std::vector<std::string> Ours(const mail::Message& m) {
  std::vector<std::string> parts;
  std::vector<int> order;
  if (!m.parts.empty()) ProjectOurs(m, 0, "", &parts, &order);
  auto local = [&](const std::vector<int>& globals) {
    std::vector<int> out;
    for (int g : globals) {
      auto it = std::find(order.begin(), order.end(), g);
      out.push_back(it == order.end() ? -1 : static_cast<int>(it - order.begin()));
    }
    return out;
  };
  std::vector<int> attachments;
  for (const mail::Attachment& a : m.attachments) attachments.push_back(a.part);
  std::vector<std::string> lines = {"text_body " + IndexList(local(m.text_body_parts)),
                                    "html_body " + IndexList(local(m.html_body_parts)),
                                    "attachments " + IndexList(local(attachments))};
  lines.insert(lines.end(), parts.begin(), parts.end());
  return lines;
}

// A line diff (longest common subsequence; the projections are short).
std::string Diff(const std::vector<std::string>& expected, const std::vector<std::string>& got) {
  const size_t n = expected.size(), k = got.size();
  std::vector<std::vector<int>> lcs(n + 1, std::vector<int>(k + 1, 0));
  for (size_t i = n; i-- > 0;) {
    for (size_t j = k; j-- > 0;) {
      lcs[i][j] = expected[i] == got[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  std::string out;
  size_t i = 0, j = 0;
  auto clip = [](const std::string& s) { return s.size() > 300 ? s.substr(0, 300) + "…" : s; };
  while (i < n || j < k) {
    if (i < n && j < k && expected[i] == got[j]) {
      out += "    " + clip(expected[i]) + "\n";
      ++i;
      ++j;
    } else if (j < k && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out += "  + " + clip(got[j++]) + "\n";
    } else {
      out += "  - " + clip(expected[i++]) + "\n";
    }
  }
  return out;
}

struct Tally {
  int passed = 0;
  int total = 0;
  double Percent() const { return total == 0 ? 0.0 : 100.0 * passed / total; }
};

// The pass figures, printed together after every test has run (and its diffs).
std::vector<std::string>& Figures() {
  static std::vector<std::string> figures;
  return figures;
}

std::string Figure(const char* format, ...) __attribute__((format(printf, 1, 2)));
std::string Figure(const char* format, ...) {
  char line[256];
  va_list args;
  va_start(args, format);
  std::vsnprintf(line, sizeof line, format, args);
  va_end(args);
  Figures().push_back(line);
  return line;
}

class PrintFigures : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const std::string& f : Figures()) std::printf("%s\n", f.c_str());
  }
};

const auto* const kPrintFigures = ::testing::AddGlobalTestEnvironment(new PrintFigures);

std::vector<fs::path> EmlFiles() {
  std::vector<fs::path> files;
  for (const char* dir : {"rfc", "thirdparty", "malformed"}) {
    for (const auto& entry : fs::directory_iterator(fs::path(CorpusDir()) / "eml" / dir)) {
      if (entry.path().extension() == ".eml") files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(MimeParserConformance, MailParserEmlBodyChoiceAndDecoding) {
  const std::vector<fs::path> files = EmlFiles();
  ASSERT_EQ(files.size(), 53u) << "corpus missing under " << CorpusDir();
  Tally lf, crlf;
  for (const fs::path& file : files) {
    const std::string raw = ReadFile(file);
    const std::string name = file.parent_path().filename().string() + "/" + file.stem().string();
    for (bool as_crlf : {false, true}) {
      fs::path expected_path = file;
      expected_path.replace_extension(as_crlf ? ".crlf.json" : ".json");
      const json expected_json = json::parse(ReadFile(expected_path));
      const mail::Message m = mail::ParseMessage(as_crlf ? ToCrlf(raw) : ToLf(raw));
      const std::vector<std::string> expected = Expected(expected_json);
      const std::vector<std::string> got = Ours(m);
      Tally& tally = as_crlf ? crlf : lf;
      ++tally.total;
      if (expected == got) {
        ++tally.passed;
      } else {
        std::printf("FAIL %s (%s): - expected, + ours\n%s", name.c_str(), as_crlf ? "CRLF" : "LF",
                    Diff(expected, got).c_str());
      }
    }
  }
  Figure("mail-parser eml: %d/%d LF (%.1f%%), %d/%d CRLF (%.1f%%), bar 90%% each", lf.passed, lf.total,
         lf.Percent(), crlf.passed, crlf.total, crlf.Percent());
  EXPECT_GE(lf.Percent(), 90.0);
  EXPECT_GE(crlf.Percent(), 90.0);
}

// Each case of a header table becomes a one-header message.
mail::Message MessageWithHeader(std::string_view name, std::string header) {
  if (header.empty() || header.back() != '\n') header += '\n';
  return mail::ParseMessage(std::string(name) + ":" + header + "\n");
}

json LoadTable(const char* file) { return json::parse(ReadFile(fs::path(CorpusDir()) / file)); }

template <typename Check>
Tally RunTable(const char* file, const char* bar, const Check& check) {
  Tally tally;
  for (const json& c : LoadTable(file)) {
    ++tally.total;
    std::string problem = check(c["header"].get<std::string>(), c["expected"]);
    if (problem.empty()) {
      ++tally.passed;
    } else {
      std::printf("FAIL %s %s\n%s\n", file, Quoted(c["header"].get<std::string>()).c_str(), problem.c_str());
    }
  }
  Figure("mail-parser %s: %d/%d (%.1f%%), %s", file, tally.passed, tally.total, tally.Percent(), bar);
  return tally;
}

TEST(MimeParserConformance, MailParserIdTable) {
  const Tally t =
      RunTable("id.json", "bar 95%", [](const std::string& header, const json& expected) -> std::string {
        std::vector<std::string> want;
        if (expected.is_array()) want = expected.get<std::vector<std::string>>();
        const std::vector<std::string> got = MessageWithHeader("References", header).references;
        if (got == want) return "";
        return "  - " + json(want).dump() + "\n  + " + json(got).dump();
      });
  EXPECT_GE(t.Percent(), 95.0);
}

TEST(MimeParserConformance, MailParserAddressTable) {
  const Tally t =
      RunTable("address.json", "bar 95%", [](const std::string& header, const json& expected) -> std::string {
        std::vector<std::pair<std::string, std::string>> want;
        auto add = [&](const json& list) {
          for (const json& a : list) {
            want.emplace_back(a["name"].is_string() ? a["name"].get<std::string>() : "",
                              a["address"].is_string() ? a["address"].get<std::string>() : "");
          }
        };
        if (expected.is_object() && expected.contains("List")) add(expected["List"]);
        if (expected.is_object() && expected.contains("Group")) {
          for (const json& g : expected["Group"]) add(g["addresses"]);
        }
        std::vector<std::pair<std::string, std::string>> got;
        for (const mail::Address& a : MessageWithHeader("To", header).to) got.emplace_back(a.name, a.address);
        if (got == want) return "";
        return "  - " + json(want).dump() + "\n  + " + json(got).dump();
      });
  EXPECT_GE(t.Percent(), 95.0);
}

TEST(MimeParserConformance, MailParserUnstructuredTableReportOnly) {
  RunTable("unstructured.json", "report only",
           [](const std::string& header, const json& expected) -> std::string {
             const std::string got = MessageWithHeader("Subject", header).subject;
             if (got == expected.get<std::string>()) return "";
             return "  - " + expected.dump() + "\n  + " + Quoted(got);
           });
}

}  // namespace
