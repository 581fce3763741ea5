// html_bomb_bench: whether hostile HTML can make understanding a message
// expensive (issue 8, deliverable 1).
//
// For each adversarial shape of HTML body (mis-nested inline and block
// elements, deep tables, deep lists, formatting elements reopened in every
// block, tags with 10^5 attributes, ...) and each size (0.5, 2, 8 and 25 MiB
// by default) it builds a whole MIME message (text/html only) and runs the
// whole understanding path on it: mail::ParseMessage (with max_size 26 MiB,
// so that 25 MiB is read) + mail::TrimReply(text_body) + mail::Classify. Beside
// it, a text/plain message of the same size goes through the same path. It
// prints the rate of each (MB/s, 10^6 bytes) and the ratio plain / adversarial
// per shape and size; the bar is a ratio of at most 10 everywhere (time linear
// in the input, whatever the input).
//
// Each measurement is the fastest of a few runs (at least one, more while the
// total stays under half a second), and plain text is measured again beside
// each shape (the ratio pairs the two). HTML beyond the converter's input cap
// (4 MiB) is not read: the larger messages are then rendered in part, which
// the table marks ("truncated", with the parser's warning count).
//
// usage: html_bomb_bench [--sizes 0.5,2,8,25] [--shapes a,b,...] [--out FILE] [--list]
// Exit status: 0 when every ratio is at most 10, 1 when one is over, 2 on a
// usage or system error.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mail/classifier.h"
#include "mail/mime_parser.h"
#include "mail/reply_trimmer.h"

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr double kRatioBar = 10.0;   // plain rate / adversarial rate, at most
constexpr double kMinSeconds = 0.5;  // repeat a measurement while the runs total less
constexpr int kMaxRuns = 5;
constexpr int kExitOver = 1;
constexpr int kExitError = 2;

// --- the bodies ---

// Appends `unit(i)` for i = 0, 1, ... until `body` holds `size` bytes, with a
// line break between units once a line is 76 bytes long (mail has lines).
void Fill(std::string& body, size_t size, const std::function<std::string(size_t)>& unit) {
  size_t line = 0;
  for (size_t i = 0; body.size() < size; ++i) {
    const std::string u = unit(i);
    body += u;
    line += u.size();
    if (line >= 76) {
      body += "\r\n";
      line = 0;
    }
  }
}

std::string Hex(size_t i) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%06zx", i & 0xFFFFFF);
  return buffer;
}

std::string Nested(std::string_view tag, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += tag;
  return s;
}

struct Shape {
  std::string name;
  std::string what;
  std::function<std::string(size_t)> body;  // an HTML body of about that many bytes
};

std::vector<Shape> Shapes() {
  std::vector<Shape> shapes;
  auto repeat = [](std::string prefix, std::function<std::string(size_t)> unit) {
    return [prefix = std::move(prefix), unit = std::move(unit)](size_t size) {
      std::string body = prefix;
      Fill(body, size, unit);
      return body;
    };
  };
  // Not adversarial: what ordinary HTML of the same size costs, for reference
  // (Gumbo's tokenizer alone reads tag-free text many times slower than the
  // text/plain path; the shapes below compare with this as well as with plain).
  shapes.push_back({"benign-div-lines", "reference, not hostile: a <div> per line of text, as Gmail writes",
                    repeat("", [](size_t) {
                      return std::string(
                          "<div>The quick brown fox jumps over the lazy dog, and again.</div>");
                    })});
  shapes.push_back({"misnest-open", "<b><p><i><div><font>x repeated, nothing closed",
                    repeat("", [](size_t) { return std::string("<b><p><i><div><font>word "); })});
  shapes.push_back({"misnest-close", "<b><div><i><p>x</b></div></i></p>: end tags in the wrong order",
                    repeat("", [](size_t) { return std::string("<b><div><i><p>word</b></div></i></p>"); })});
  shapes.push_back({"misnest-block-end", "<div><b><p>x</div>: blocks closed over open inline elements",
                    repeat("", [](size_t) { return std::string("<div><b><i><p>word</div>"); })});
  shapes.push_back({"formatting-reopened",
                    "<p><font color=N><b class=N><i>x: distinct formatting elements reopened in every block",
                    repeat("", [](size_t i) {
                      return "<p><font color=\"#" + Hex(i) + "\"><b class=\"c" + std::to_string(i) +
                             "\"><i>word ";
                    })});
  shapes.push_back({"deep-table", "<table><tr><td>x repeated, nothing closed",
                    repeat("", [](size_t) { return std::string("<table><tr><td>word "); })});
  shapes.push_back({"deep-list", "<ul><li>x repeated, nothing closed",
                    repeat("", [](size_t) { return std::string("<ul><li>word "); })});
  shapes.push_back({"deep-div", "<div>x repeated, nothing closed",
                    repeat("", [](size_t) { return std::string("<div>word "); })});
  shapes.push_back({"self-closed-div", "<div/>x repeated (HTML ignores the slash: they nest)",
                    repeat("", [](size_t) { return std::string("<div/>word "); })});
  shapes.push_back({"attributes", "tags of 10^5 attributes each", [](size_t size) {
                      std::string body;
                      while (body.size() < size) {
                        body += "<div";
                        for (int a = 0; a < 100000 && body.size() < size; ++a) {
                          body += (a % 8 == 7 ? "\r\n" : " ");
                          body += "a" + std::to_string(a) + "=1";
                        }
                        body += ">word</div>\r\n";
                      }
                      return body;
                    }});
  shapes.push_back({"deep-quote-lines", "250 nested <blockquote>, then short lines (long quote prefixes)",
                    repeat(Nested("<blockquote>", 250), [](size_t) { return std::string("x<br>"); })});
  shapes.push_back({"deep-link-text", "250 nested <div>, a link, then text",
                    repeat(Nested("<div>", 250) + "<a href=\"https://example.com/\">",
                           [](size_t) { return std::string("words in a link "); })});
  shapes.push_back(
      {"links-in-blocks", "<a href=N><div>x: a link left open in every block", repeat("", [](size_t i) {
         return "<a href=\"https://example.com/" + std::to_string(i) + "\"><div>word ";
       })});
  shapes.push_back({"table-text", "text straight inside <table> (moved before it)",
                    repeat("<table>", [](size_t) { return std::string("words in a table "); })});
  shapes.push_back({"unclosed-comment-like", "<!-- without an end, then <!x> and </3> bogus comments",
                    repeat("", [](size_t) { return std::string("<!x><?y></3><div>w</div><x "); })});
  return shapes;
}

std::string PlainBody(size_t size) {
  std::string body;
  const std::string line = "The quick brown fox jumps over the lazy dog, and then it does it again.\r\n";
  while (body.size() < size) body += line;
  return body;
}

std::string Message(std::string_view content_type, const std::string& body) {
  std::string m =
      "From: Mallory <mallory@example.net>\r\n"
      "To: help@example.com\r\n"
      "Subject: A question\r\n"
      "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
      "Message-ID: <bomb@example.net>\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: ";
  m += content_type;
  m += "; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
  m += body;
  return m;
}

// --- measuring ---

// Results go here so that nothing measured can be optimised away.
volatile size_t g_sink = 0;

struct Run {
  double seconds = 0;  // the fastest run
  int runs = 0;
  size_t text_bytes = 0;
  size_t warnings = 0;
  bool truncated = false;  // a warning says the text is cut
};

Run Measure(const std::string& raw) {
  mail::ParseLimits limits;
  limits.max_size = 26u << 20;
  Run r;
  r.seconds = 1e30;
  double total = 0;
  while (r.runs < kMaxRuns && (r.runs == 0 || total < kMinSeconds)) {
    const Clock::time_point t0 = Clock::now();
    const mail::Message message = mail::ParseMessage(raw, limits);
    const mail::TrimResult trimmed = mail::TrimReply(message.text_body);
    const mail::Classification kind = mail::Classify(message);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    total += s;
    r.seconds = std::min(r.seconds, s);
    ++r.runs;
    r.text_bytes = message.text_body.size();
    g_sink = g_sink + trimmed.trimmed.size() + kind.why.size();
    r.warnings = message.warnings.size();
    r.truncated = std::any_of(message.warnings.begin(), message.warnings.end(),
                              [](const std::string& w) { return w.find("truncated") != std::string::npos; });
  }
  return r;
}

double Rate(size_t bytes, double seconds) {
  return static_cast<double>(bytes) / 1e6 / std::max(seconds, 1e-9);
}

std::string Fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

std::string Pad(std::string s, size_t width, bool left = false) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return left ? s + fill : fill + s;
}

// --- options ---

struct Options {
  std::vector<double> sizes_mib = {0.5, 2, 8, 25};
  std::vector<std::string> shapes;  // empty = all
  std::string out;                  // "" = DefaultOut()
  bool list = false;
};

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> parts;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// bench-results/html_bomb_bench.json in the build directory (this binary is
// BUILD/bench/html_bomb_bench), wherever it is run from.
std::string DefaultOut() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "html_bomb_bench.json";
  return (exe.parent_path().parent_path() / "bench-results" / "html_bomb_bench.json").string();
}

std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--list") {
      o.list = true;
      continue;
    }
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    if (arg == "--sizes") {
      o.sizes_mib.clear();
      for (const std::string& s : Split(value)) {
        char* end = nullptr;
        const double mib = std::strtod(s.c_str(), &end);
        if (*end != '\0' || !(mib > 0 && mib <= 25)) return std::nullopt;
        o.sizes_mib.push_back(mib);
      }
      if (o.sizes_mib.empty()) return std::nullopt;
    } else if (arg == "--shapes") {
      o.shapes = Split(value);
    } else if (arg == "--out") {
      o.out = value;
    } else {
      return std::nullopt;
    }
  }
  if (o.out.empty()) o.out = DefaultOut();
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> options = ParseOptions(argc, argv);
  if (!options) {
    std::cerr << "usage: html_bomb_bench [--sizes 0.5,2,8,25] [--shapes a,b,...] [--out FILE] [--list]\n";
    return kExitError;
  }
  std::vector<Shape> shapes = Shapes();
  if (options->list) {
    for (const Shape& s : shapes) std::cout << Pad(s.name, 22, true) << " " << s.what << "\n";
    return 0;
  }
  if (!options->shapes.empty()) {
    for (const std::string& wanted : options->shapes) {
      if (std::none_of(shapes.begin(), shapes.end(), [&](const Shape& s) { return s.name == wanted; })) {
        std::cerr << "html_bomb_bench: no shape " << wanted << " (see --list)\n";
        return kExitError;
      }
    }
    std::erase_if(shapes, [&](const Shape& s) {
      return std::find(options->shapes.begin(), options->shapes.end(), s.name) == options->shapes.end();
    });
  }

  std::cout
      << "html_bomb_bench: ParseMessage + TrimReply + Classify, adversarial HTML vs plain text of the same "
         "size\n"
      << "(rate in MB/s = 10^6 bytes/s, fastest of up to " << kMaxRuns
      << " runs; ratio = plain rate / adversarial rate; bar: ratio <= " << Fixed(kRatioBar, 0) << ")\n\n";
  std::cout << Pad("shape", 22, true) << Pad("size", 9) << Pad("MB/s", 9) << Pad("plain", 9)
            << Pad("ratio", 8) << Pad("text", 11) << "  note\n";

  json results = json::array();
  bool over = false;
  bool any_truncated = false;
  double worst = 0;
  std::string worst_case;
  for (double mib : options->sizes_mib) {
    const size_t size = static_cast<size_t>(mib * 1024 * 1024);
    const std::string plain = Message("text/plain", PlainBody(size));
    for (const Shape& shape : shapes) {
      const std::string raw = Message("text/html", shape.body(size));
      // Plain text is measured again beside each shape, so that a busy moment
      // of the machine weighs on both sides of the ratio.
      const Run base = Measure(plain);
      const Run r = Measure(raw);
      const double plain_rate = Rate(plain.size(), base.seconds);
      const double rate = Rate(raw.size(), r.seconds);
      const double ratio = plain_rate / std::max(rate, 1e-12);
      const bool fail = ratio > kRatioBar;
      over = over || fail;
      any_truncated = any_truncated || r.truncated;
      if (ratio > worst) {
        worst = ratio;
        worst_case = shape.name + " at " + Fixed(mib, 1) + " MiB";
      }
      std::string note = fail ? "OVER" : "";
      if (r.truncated) note += std::string(note.empty() ? "" : ", ") + "text truncated";
      std::cout << Pad(shape.name, 22, true) << Pad(Fixed(mib, 1) + "M", 9) << Pad(Fixed(rate, 1), 9)
                << Pad(Fixed(plain_rate, 1), 9) << Pad(Fixed(ratio, 2), 8)
                << Pad(std::to_string(r.text_bytes), 11) << "  " << note << "\n"
                << std::flush;
      results.push_back({{"shape", shape.name},
                         {"size_mib", mib},
                         {"message_bytes", raw.size()},
                         {"seconds", r.seconds},
                         {"runs", r.runs},
                         {"mb_per_s", rate},
                         {"plain_seconds", base.seconds},
                         {"plain_mb_per_s", plain_rate},
                         {"ratio", ratio},
                         {"text_bytes", r.text_bytes},
                         {"warnings", r.warnings},
                         {"truncated", r.truncated},
                         {"pass", !fail}});
    }
  }
  std::cout << "\nworst ratio: " << Fixed(worst, 2) << " (" << worst_case << ") -> "
            << (over ? "FAIL: adversarial HTML is more than 10x slower than plain text" : "PASS") << "\n";
  if (any_truncated) {
    std::cout << "warning: messages whose HTML is over the converter's 4 MiB input cap are rendered in part "
                 "(text truncated, with a parser warning)\n";
  }

  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options->out).parent_path(), ec);
  std::ofstream out(options->out, std::ios::binary);
  out << json{{"bench", "html_bomb_bench"}, {"bar_ratio", kRatioBar}, {"worst_ratio", worst},
              {"worst_case", worst_case},   {"pass", !over},          {"results", results}}
             .dump(2)
      << "\n";
  if (!out) {
    std::cerr << "html_bomb_bench: cannot write " << options->out << "\n";
    return kExitError;
  }
  return over ? kExitOver : 0;
}
