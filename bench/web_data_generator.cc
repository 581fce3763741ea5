// web_data_generator: the forum database the web benchmark reads (issue 9
// item 7): by default 100,000 threads and 500,000 posts in six public
// categories and one private one, written as PostgreSQL COPY text files that
// bench/web_bench.sh loads with `psql \copy`.
//
// The text is the corpus generator's (bench/corpus_generator.h), put through
// the real ingest path's parse and trim (mail::ParseMessage, mail::TrimReply):
// a post's body is what the trimmer keeps, its elided text the quoted history
// and signature it cuts, its attachments those the parser finds, its author
// the From: of the message. Parsing half a million messages would take
// minutes, so a pool of --pool messages (default 20,000) is parsed once, on
// every core, and each post is drawn from the pool: a text repeats about 25
// times over the set, which matters for neither the pages nor the search,
// whose vocabulary is the generator's few hundred words anyway. Sizes follow
// the corpus generator's distribution, cut at --max-message-kib (default 32:
// what is above is mostly attachments and long quoted history; the benchmark
// is about pages, not downloads, and the load stays a few minutes).
//
// The files fit the schema at version 5 (forum/migrations/0001..0005): the
// loader loads them before migration 0006 runs, so that 0006 itself fills in
// and indexes what the web adds (reply counts, change times, search vectors),
// exactly as it does for an existing installation. Ids are given explicitly;
// the loader moves the sequences past them.
//
// Beside the tables it writes what the wrk scripts need (bench/web_*.lua):
//   public_threads.txt  "<id> <category slug> <cursor>" per public thread, the
//                       cursor as the web's ?after= ("<microseconds>.<id>")
//   search_words.txt    the words of the posts' bodies, most frequent first
//   summary.txt         counts and sizes
//
// This is a measurement tool, not product code.
//
// usage: web_data_generator --out DIR [--threads N] [--posts N] [--pool N] [--seed N] [--max-message-kib N]
// Exit status: 0 on success, 2 on a usage or I/O error.
#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/corpus_generator.h"
#include "mail/library_init.h"
#include "mail/message.h"
#include "mail/mime_parser.h"
#include "mail/reply_trimmer.h"

namespace {

constexpr int kExitError = 2;
constexpr int kMaxRepliesPerThread = 100;

struct Options {
  std::string out;
  int threads = 100000;
  int posts = 500000;
  int pool = 20000;
  uint64_t seed = 1;
  size_t max_message = 32 * 1024;  // bytes of raw mail a pool message is cut to
};

// splitmix64: the same numbers on every platform (as the corpus generator).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
  double Unit() { return static_cast<double>(Next() >> 11) / 9007199254740992.0; }
  bool Percent(int p) { return Below(100) < static_cast<uint64_t>(p); }

 private:
  uint64_t state_;
};

struct Category {
  std::string_view slug;
  std::string_view name;
  std::string_view description;
  int weight;  // share of the threads, in percent
  bool is_public;
};

// The last one is private: not listed, not searchable, 404 on the web.
constexpr auto kCategories = std::to_array<Category>({
    {"accounts", "Accounts and passwords", "Logins, password resets, access requests.", 22, true},
    {"hardware", "Hardware", "Laptops, monitors, docking stations, badges.", 18, true},
    {"network", "Network and VPN", "Wi-Fi, VPN, remote access.", 18, true},
    {"printing", "Printing", "Printers, scanners, toner.", 10, true},
    {"software", "Software", "Outlook, Teams, browsers, licenses.", 22, true},
    {"facilities", "Facilities", "Meeting rooms, projectors, doors.", 5, true},
    {"hr-cases", "HR cases", "Private: personnel matters.", 5, false},
});

constexpr auto kTags = std::to_array<std::string_view>(
    {"vpn", "printer", "password", "outlook", "wifi", "backup", "license", "monitor", "teams", "urgent"});

// One parsed message of the pool.
struct PoolAttachment {
  std::string filename;
  std::string content_type;
  std::string bytes;
};
struct PoolEntry {
  bool question = false;  // a question (not a reply): it may open a thread
  std::string subject;    // without Re:/RE:
  std::string author_name;
  std::string author_address;  // lower-case
  std::string body;
  std::string elided;
  std::vector<PoolAttachment> attachments;
  std::vector<int64_t> attachment_ids;  // assigned when a post first uses it
};

void Usage() {
  std::cerr << "usage: web_data_generator --out DIR [--threads N] [--posts N] [--pool N] [--seed N] [--max-message-kib N]\n";
}

std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    char* end = nullptr;
    const long long number = std::strtoll(value.c_str(), &end, 10);
    const bool numeric = !value.empty() && *end == '\0' && number >= 1;
    if (arg == "--out") {
      o.out = value;
    } else if (arg == "--threads" && numeric && number <= 10000000) {
      o.threads = static_cast<int>(number);
    } else if (arg == "--posts" && numeric && number <= 100000000) {
      o.posts = static_cast<int>(number);
    } else if (arg == "--pool" && numeric && number <= 1000000) {
      o.pool = static_cast<int>(number);
    } else if (arg == "--max-message-kib" && numeric && number <= 100 * 1024) {
      o.max_message = static_cast<size_t>(number) * 1024;
    } else if (arg == "--seed" && numeric) {
      o.seed = static_cast<uint64_t>(number);
    } else {
      return std::nullopt;
    }
  }
  if (o.out.empty() || o.posts < o.threads) return std::nullopt;
  return o;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string StripReplyPrefix(std::string subject) {
  while (subject.size() >= 4 && (subject.compare(0, 4, "Re: ") == 0 || subject.compare(0, 4, "RE: ") == 0)) {
    subject.erase(0, 4);
  }
  return subject;
}

PoolEntry Parse(const bench::MessagePlan& plan) {
  const std::string raw = bench::GenerateMessage(plan);
  const mail::Message m = mail::ParseMessage(raw);
  PoolEntry e;
  e.question = plan.kind == bench::MailKind::kQuestion ||
               (plan.kind == bench::MailKind::kHtmlWithAttachments && m.in_reply_to.empty());
  e.subject = StripReplyPrefix(m.subject);
  if (m.from) {
    e.author_name = m.from->name;
    e.author_address = Lower(m.from->address);
  }
  mail::TrimResult trimmed = mail::TrimReply(m.text_body);
  e.body = std::move(trimmed.trimmed);
  e.elided = std::move(trimmed.elided);
  // A reply that only quotes: the page still shows a post (the elided text stays out of the search).
  if (e.body.empty()) e.body = "(no new text)";
  for (const mail::Attachment& a : m.attachments) {
    if (a.part < 0 || static_cast<size_t>(a.part) >= m.parts.size()) continue;
    e.attachments.push_back({a.filename, a.content_type, m.parts[static_cast<size_t>(a.part)].body});
  }
  return e;
}

// The pool, parsed on every core.
std::vector<PoolEntry> MakePool(const Options& o) {
  std::vector<bench::MessagePlan> plans = bench::PlanCorpus(o.seed, o.pool);
  for (bench::MessagePlan& p : plans) p.target_size = std::min(p.target_size, o.max_message);
  std::vector<PoolEntry> pool(plans.size());
  const unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t i = w; i < plans.size(); i += workers) pool[i] = Parse(plans[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  return pool;
}

// COPY text format: backslash, tab, newline and carriage return escaped.
void AppendCopyText(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\0': break;  // the parser never yields NUL in text; bytea goes through AppendCopyBytea
      default: out += c;
    }
  }
}

// A bytea value in COPY text: \\x and hex digits.
void AppendCopyBytea(std::string& out, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\\\x";
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
}

// A timestamptz from microseconds since the epoch, in UTC.
void AppendTimestamp(std::string& out, int64_t micros) {
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(micros % 1000000));
  out += buf;
}

// Writes a file in large blocks.
class CopyFile {
 public:
  explicit CopyFile(const std::filesystem::path& path) : out_(path, std::ios::binary), path_(path) {}
  std::string& Row() { return buffer_; }
  void EndRow() {
    buffer_ += '\n';
    if (buffer_.size() > (4u << 20)) Flush();
  }
  bool Close() {
    Flush();
    out_.close();
    if (!out_) std::cerr << "web_data_generator: cannot write " << path_ << "\n";
    return static_cast<bool>(out_);
  }
  uint64_t bytes() const { return bytes_; }

 private:
  void Flush() {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    bytes_ += buffer_.size();
    buffer_.clear();
  }
  std::ofstream out_;
  std::filesystem::path path_;
  std::string buffer_;
  uint64_t bytes_ = 0;
};

struct ThreadPlan {
  int category = 0;
  int replies = 0;
  int64_t created_us = 0;
};

int Run(const Options& o) {
  std::error_code ec;
  std::filesystem::create_directories(o.out, ec);
  if (ec) {
    std::cerr << "web_data_generator: cannot create " << o.out << ": " << ec.message() << "\n";
    return kExitError;
  }
  const auto started = std::chrono::steady_clock::now();
  std::vector<PoolEntry> pool = MakePool(o);
  std::vector<size_t> questions;
  std::vector<size_t> replies;
  for (size_t i = 0; i < pool.size(); ++i) (pool[i].question ? questions : replies).push_back(i);
  if (questions.empty() || replies.empty()) {
    std::cerr << "web_data_generator: the pool has no questions or no replies; use a larger --pool\n";
    return kExitError;
  }
  const double pool_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  Random rng(o.seed * 0x2545F4914F6CDD1DULL + 7);
  const std::filesystem::path dir(o.out);

  // Categories.
  CopyFile categories(dir / "categories.copy");
  for (size_t c = 0; c < kCategories.size(); ++c) {
    std::string& row = categories.Row();
    row += std::to_string(c + 1) + "\t";
    AppendCopyText(row, kCategories[c].slug);
    row += '\t';
    AppendCopyText(row, kCategories[c].name);
    row += '\t';
    AppendCopyText(row, kCategories[c].description);
    categories.EndRow();
  }

  // Threads: a category by weight; replies: most threads get a few, some many
  // (a mix of uniform and older-skewed picks), none over kMaxRepliesPerThread.
  std::vector<ThreadPlan> threads(static_cast<size_t>(o.threads));
  const int64_t now_us = 1796000000LL * 1000000;  // late 2026, fixed: the set is the same every run
  const int64_t span_us = 2LL * 365 * 86400 * 1000000;
  for (size_t t = 0; t < threads.size(); ++t) {
    uint64_t pick = rng.Below(100);
    int c = 0;
    while (pick >= static_cast<uint64_t>(kCategories[static_cast<size_t>(c)].weight)) {
      pick -= static_cast<uint64_t>(kCategories[static_cast<size_t>(c)].weight);
      ++c;
    }
    threads[t].category = c;
    threads[t].created_us = now_us - span_us + static_cast<int64_t>(t) * (span_us / o.threads) +
                            static_cast<int64_t>(rng.Below(static_cast<uint64_t>(span_us / o.threads)));
  }
  for (int r = 0; r < o.posts - o.threads; ++r) {
    for (;;) {
      const double u = rng.Unit();
      const size_t t = rng.Percent(60) ? static_cast<size_t>(u * o.threads) : static_cast<size_t>(u * u * o.threads);
      if (threads[t].replies < kMaxRepliesPerThread) {
        ++threads[t].replies;
        break;
      }
    }
  }

  CopyFile thread_file(dir / "threads.copy");
  CopyFile post_file(dir / "posts.copy");
  CopyFile attachment_file(dir / "attachments.copy");
  CopyFile post_attachment_file(dir / "post_attachments.copy");
  std::ofstream public_threads(dir / "public_threads.txt");
  std::map<std::string, uint64_t> word_counts;
  std::vector<bool> counted(pool.size(), false);
  int64_t post_id = 0;
  int64_t attachment_id = 0;
  uint64_t post_attachments = 0;
  uint64_t body_bytes = 0;
  uint64_t elided_bytes = 0;
  int private_threads = 0;

  auto write_post = [&](int64_t thread_id, size_t entry, int64_t created_us, std::optional<int64_t> parent) {
    PoolEntry& e = pool[entry];
    ++post_id;
    std::string& row = post_file.Row();
    row += std::to_string(post_id) + "\t" + std::to_string(thread_id) + "\t";
    row += parent ? std::to_string(*parent) : "\\N";
    row += '\t';
    AppendCopyText(row, e.author_address);
    row += '\t';
    AppendCopyText(row, e.author_name);
    row += '\t';
    AppendCopyText(row, e.body);
    row += '\t';
    AppendCopyText(row, e.elided);
    row += "\tbench-" + std::to_string(post_id) + "@web.bench.example\t";
    AppendTimestamp(row, created_us);
    row += e.author_address.size() % 3 == 0 ? "\tt" : "\tf";  // some authors verified
    post_file.EndRow();
    body_bytes += e.body.size();
    elided_bytes += e.elided.size();
    if (e.attachment_ids.size() != e.attachments.size()) {
      for (const PoolAttachment& a : e.attachments) {
        e.attachment_ids.push_back(++attachment_id);
        std::string& arow = attachment_file.Row();
        arow += std::to_string(attachment_id) + "\t";
        // Distinct per pool entry and position: sha256 is only a dedup key here.
        char key[32];
        std::snprintf(key, sizeof key, "%020lld", static_cast<long long>(attachment_id));
        AppendCopyBytea(arow, key);
        arow += "\t" + std::to_string(a.bytes.size()) + "\t";
        AppendCopyBytea(arow, a.bytes);
        attachment_file.EndRow();
      }
    }
    for (size_t k = 0; k < e.attachments.size(); ++k) {
      std::string& prow = post_attachment_file.Row();
      prow += std::to_string(post_id) + "\t" + std::to_string(e.attachment_ids[k]) + "\t" + std::to_string(k) + "\t";
      AppendCopyText(prow, e.attachments[k].filename);
      prow += '\t';
      AppendCopyText(prow, e.attachments[k].content_type.empty() ? "application/octet-stream"
                                                                 : e.attachments[k].content_type);
      prow += "\t\\N";
      post_attachment_file.EndRow();
      ++post_attachments;
    }
    if (!counted[entry]) {
      counted[entry] = true;
      std::string word;
      for (char c : e.body + " ") {
        if (std::isalpha(static_cast<unsigned char>(c))) {
          word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else {
          if (word.size() >= 3) ++word_counts[word];
          word.clear();
        }
      }
    }
    return post_id;
  };

  for (size_t t = 0; t < threads.size(); ++t) {
    const int64_t thread_id = static_cast<int64_t>(t) + 1;
    const ThreadPlan& plan = threads[t];
    const size_t question = questions[rng.Below(questions.size())];
    const int64_t question_id = write_post(thread_id, question, plan.created_us, std::nullopt);
    int64_t last_us = plan.created_us;
    std::vector<int64_t> reply_ids;
    for (int r = 0; r < plan.replies; ++r) {
      // Replies come minutes to days apart; the newest stays before "now".
      last_us = std::min<int64_t>(now_us - 1, last_us + int64_t{60} * 1000000 +
                                                  static_cast<int64_t>(rng.Unit() * rng.Unit() * 2 * 86400 * 1e6));
      const int64_t parent = reply_ids.empty() || rng.Percent(50) ? question_id : reply_ids.back();
      reply_ids.push_back(write_post(thread_id, replies[rng.Below(replies.size())], last_us, parent));
    }
    std::string status = "open";
    std::optional<int64_t> accepted;
    if (!reply_ids.empty()) {
      const uint64_t s = rng.Below(100);
      if (s < 40) status = "answered";
      else if (s < 65) status = "resolved";
      if (status != "open") accepted = reply_ids[rng.Below(reply_ids.size())];
    }
    const PoolEntry& q = pool[question];
    std::string& row = thread_file.Row();
    row += std::to_string(thread_id) + "\t" + std::to_string(plan.category + 1) + "\t";
    AppendCopyText(row, q.subject.empty() ? "(no subject)" : q.subject);
    row += "\t" + status + "\t{";
    const uint64_t tag_count = rng.Below(4);
    for (uint64_t k = 0; k < tag_count; ++k) {
      row += (k ? "," : "") + std::string(kTags[(t + k * 3) % kTags.size()]);
    }
    row += "}\t";
    AppendCopyText(row, q.author_address);
    row += '\t';
    AppendCopyText(row, q.author_name);
    row += '\t';
    row += accepted ? std::to_string(*accepted) : "\\N";
    row += '\t';
    AppendTimestamp(row, plan.created_us);
    row += '\t';
    AppendTimestamp(row, last_us);
    thread_file.EndRow();
    if (kCategories[static_cast<size_t>(plan.category)].is_public) {
      public_threads << thread_id << ' ' << kCategories[static_cast<size_t>(plan.category)].slug << ' ' << last_us
                     << '.' << thread_id << '\n';
    } else {
      ++private_threads;
    }
  }

  bool ok = categories.Close() && thread_file.Close() && post_file.Close() && attachment_file.Close() &&
            post_attachment_file.Close();
  public_threads.close();
  ok = ok && static_cast<bool>(public_threads);

  std::vector<std::pair<uint64_t, std::string>> words;
  for (const auto& [word, count] : word_counts) words.emplace_back(count, word);
  std::sort(words.begin(), words.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::ofstream word_file(dir / "search_words.txt");
  for (const auto& [count, word] : words) word_file << word << '\n';
  word_file.close();
  ok = ok && static_cast<bool>(word_file);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::ofstream summary(dir / "summary.txt");
  auto line = [&](const std::string& text) {
    std::cout << text << '\n';
    summary << text << '\n';
  };
  line("threads " + std::to_string(o.threads) + " (" + std::to_string(private_threads) + " private), posts " +
       std::to_string(post_id) + ", attachments " + std::to_string(attachment_id) + " (on " +
       std::to_string(post_attachments) + " posts' lists)");
  line("pool " + std::to_string(pool.size()) + " messages parsed in " + std::to_string(pool_seconds) +
       " s; bodies " + std::to_string(body_bytes >> 20) + " MiB, elided " + std::to_string(elided_bytes >> 20) +
       " MiB; files: posts " + std::to_string(post_file.bytes() >> 20) + " MiB, attachments " +
       std::to_string(attachment_file.bytes() >> 20) + " MiB; generated in " + std::to_string(seconds) + " s");
  line("search words " + std::to_string(words.size()));
  summary.close();
  if (!ok || !summary) {
    std::cerr << "web_data_generator: writing " << o.out << " failed\n";
    return kExitError;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> options = ParseOptions(argc, argv);
  if (!options) {
    Usage();
    return kExitError;
  }
  mail::InitializeMailLibraries();
  return Run(*options);
}
