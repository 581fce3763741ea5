// parse_bench: how fast mailforum understands a message, and with how much
// memory (DESIGN.md §9; issue 3 item 8).
//
// Over one seeded corpus (bench/corpus_generator.h), in one run, it measures
//  - the baseline: vmime's bare parse of each message (vmime::message::parse
//    with a parsingContext of our own; nothing is decoded), and
//  - our pipeline: mail::ParseMessage + mail::TrimReply(text_body) +
//    mail::Classify, which also decodes every part, converts charsets, turns
//    HTML into text and hashes attachments,
// each message through both back to back (alternating which goes first), for
// several rounds. It reports MB/s (10^6 bytes) and messages/s as median
// [min .. max] over the rounds, the ratio ours / vmime, and the peak memory of
// each while it processes the largest message, as a multiple of that
// message's size. Targets: the pipeline at >= 50% of vmime's throughput; its
// peak memory under 3x the largest message.
//
// Peak memory is measured in a fresh child process (this binary again, with
// the hidden option --probe-memory): it warms up on a few small messages (so
// that code pages, iconv modules and caches are resident, as in the running
// daemon), makes the message, returns freed heap to the kernel
// (malloc_trim), resets the kernel's high-water mark (/proc/self/clear_refs),
// runs one engine once and reads VmHWM. The figure is VmHWM minus VmRSS before
// the run: what processing the message added, the message bytes themselves
// not counted.
//
// This is a measurement tool, not a test and not product code: it is the one
// target outside mail/ that links vmime, because vmime is its baseline.
//
// usage: parse_bench [--seed N] [--messages N] [--rounds N] [--out FILE] [--dump-corpus DIR]
// Defaults: seed 1, 1000 messages, 5 rounds, results in bench-results/parse_bench.json
// of the build directory. --dump-corpus writes each message as an .eml file.
// Exit status: 0 when both targets are met, 1 when one is missed, 2 on a usage
// or system error.
#include <fcntl.h>
#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <vmime/message.hpp>
#include <vmime/parsingContext.hpp>

#include "bench/corpus_generator.h"
#include "mail/classifier.h"
#include "mail/library_init.h"
#include "mail/mime_parser.h"
#include "mail/reply_trimmer.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr double kThroughputTarget = 0.50;  // pipeline / vmime, at least
constexpr double kMemoryTarget = 3.0;       // peak memory / largest message, below
// Below this size a message's RSS delta mostly shows the allocator's growth
// steps (the heap grows by 128 KiB and more), not what the message costs.
constexpr size_t kNoisyBelow = 512 * 1024;
constexpr int kExitMissed = 1;
constexpr int kExitError = 2;

struct Options {
  uint64_t seed = 1;
  int messages = 1000;
  int rounds = 5;
  std::string out;          // "" = DefaultOut()
  std::string dump_corpus;  // "" = no dump
  // Child mode: measure the peak memory of one engine on one message.
  std::optional<int> probe_index;
  std::string probe_engine;
};

enum class Engine { kVmime, kPipeline };

std::string_view EngineName(Engine e) { return e == Engine::kVmime ? "vmime" : "pipeline"; }

std::optional<Engine> EngineNamed(std::string_view name) {
  if (name == "vmime") return Engine::kVmime;
  if (name == "pipeline") return Engine::kPipeline;
  return std::nullopt;
}

void Usage() {
  std::cerr << "usage: parse_bench [--seed N] [--messages N] [--rounds N] [--out FILE] [--dump-corpus DIR]\n";
}

// bench-results/parse_bench.json in the build directory (this binary is
// BUILD/bench/parse_bench), wherever it is run from.
std::string DefaultOut() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "parse_bench.json";
  return (exe.parent_path().parent_path() / "bench-results" / "parse_bench.json").string();
}

std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 >= argc) return std::nullopt;
    const std::string value = argv[++i];
    char* end = nullptr;
    const long long number = std::strtoll(value.c_str(), &end, 10);
    const bool numeric = !value.empty() && *end == '\0';
    if (arg == "--seed" && numeric && number >= 0) {
      o.seed = static_cast<uint64_t>(number);
    } else if (arg == "--messages" && numeric && number >= 1 && number <= 1000000) {
      o.messages = static_cast<int>(number);
    } else if (arg == "--rounds" && numeric && number >= 1 && number <= 100) {
      o.rounds = static_cast<int>(number);
    } else if (arg == "--out") {
      o.out = value;
    } else if (arg == "--dump-corpus") {
      o.dump_corpus = value;
    } else if (arg == "--probe-memory" && numeric && number >= 0) {
      o.probe_index = static_cast<int>(number);
    } else if (arg == "--engine" && EngineNamed(value)) {
      o.probe_engine = value;
    } else {
      return std::nullopt;
    }
  }
  if (o.out.empty()) o.out = DefaultOut();
  return o;
}

// --- the two engines ---

// One engine's work on one message; returns something derived from the
// result so that nothing can be optimised away.
class Runner {
 public:
  struct Stages {
    Clock::duration parse{}, trim{}, classify{};
  };

  size_t Vmime(const std::string& raw) {
    try {
      vmime::message message;
      message.parse(context_, raw);
      return message.getBody()->getPartCount() + message.getHeader()->getFieldCount();
    } catch (const std::exception&) {
      ++vmime_failures_;
      return 0;
    }
  }

  size_t Pipeline(const std::string& raw, Stages* stages) {
    const Clock::time_point t0 = Clock::now();
    const mail::Message message = mail::ParseMessage(raw);
    const Clock::time_point t1 = Clock::now();
    const mail::TrimResult trimmed = mail::TrimReply(message.text_body);
    const Clock::time_point t2 = Clock::now();
    const mail::Classification classification = mail::Classify(message);
    const Clock::time_point t3 = Clock::now();
    if (stages != nullptr) {
      stages->parse += t1 - t0;
      stages->trim += t2 - t1;
      stages->classify += t3 - t2;
    }
    return message.parts.size() + trimmed.trimmed.size() + static_cast<size_t>(classification.kind);
  }

  size_t Run(Engine engine, const std::string& raw, Stages* stages) {
    return engine == Engine::kVmime ? Vmime(raw) : Pipeline(raw, stages);
  }

  int vmime_failures() const { return vmime_failures_; }

 private:
  vmime::parsingContext context_;
  int vmime_failures_ = 0;
};

// --- peak memory (child process) ---

struct ProcStatus {
  long rss_kib = -1;
  long hwm_kib = -1;
};

ProcStatus ReadProcStatus() {
  ProcStatus s;
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) s.rss_kib = std::atol(line.c_str() + 6);
    if (line.starts_with("VmHWM:")) s.hwm_kib = std::atol(line.c_str() + 6);
  }
  return s;
}

// Makes VmHWM start again from the current RSS (Linux 4.0+).
bool ResetPeakRss() {
  const int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, "5", 1) == 1;
  close(fd);
  return ok;
}

// The child's side: prints one JSON object and returns the exit status.
int ProbeMemory(const Options& o) {
  const std::optional<Engine> engine = EngineNamed(o.probe_engine);
  const std::vector<bench::MessagePlan> plans = bench::PlanCorpus(o.seed, o.messages);
  if (!engine || *o.probe_index >= static_cast<int>(plans.size())) return kExitError;
  Runner runner;
  {
    // Warm-up: one small message of each kind, from another seed.
    std::map<bench::MailKind, bool> seen;
    for (const bench::MessagePlan& p : bench::PlanCorpus(o.seed + 1, 200)) {
      if (p.size_class != bench::SizeClass::kSmall || seen[p.kind]) continue;
      seen[p.kind] = true;
      runner.Run(*engine, bench::GenerateMessage(p), nullptr);
    }
  }
  const std::string raw = bench::GenerateMessage(plans[static_cast<size_t>(*o.probe_index)]);
  malloc_trim(0);
  if (!ResetPeakRss()) {
    std::cerr << "parse_bench: cannot reset the peak RSS (/proc/self/clear_refs): " << std::strerror(errno)
              << "\n";
    return kExitError;
  }
  const ProcStatus before = ReadProcStatus();
  const size_t sink = runner.Run(*engine, raw, nullptr);
  const ProcStatus after = ReadProcStatus();
  std::cout << json{{"message_bytes", raw.size()},
                    {"rss_before_kib", before.rss_kib},
                    {"hwm_kib", after.hwm_kib},
                    {"sink", sink}}
                   .dump()
            << "\n";
  return before.rss_kib >= 0 && after.hwm_kib >= 0 ? 0 : kExitError;
}

struct MemoryFigure {
  int index = -1;
  size_t message_bytes = 0;
  long delta_bytes = 0;
  double Multiple() const {
    return message_bytes == 0 ? 0 : static_cast<double>(delta_bytes) / message_bytes;
  }
};

// Runs this binary as a memory probe of `engine` on message `index`.
std::optional<MemoryFigure> MeasureMemory(const Options& o, Engine engine, int index) {
  const std::vector<std::string> args = {"parse_bench",
                                         "--seed",
                                         std::to_string(o.seed),
                                         "--messages",
                                         std::to_string(o.messages),
                                         "--probe-memory",
                                         std::to_string(index),
                                         "--engine",
                                         std::string(EngineName(engine))};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  std::string output;
  if (rc == 0) {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = read(fds[0], buffer, sizeof buffer)) > 0) output.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (rc != 0) return std::nullopt;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  const json j = json::parse(output, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  MemoryFigure f;
  f.index = index;
  f.message_bytes = j["message_bytes"].get<size_t>();
  f.delta_bytes = (j["hwm_kib"].get<long>() - j["rss_before_kib"].get<long>()) * 1024;
  return f;
}

// --- statistics ---

struct Spread {
  double median = 0, min = 0, max = 0;
};

Spread SpreadOf(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return {median, values.front(), values.back()};
}

json ToJson(const Spread& s) { return {{"median", s.median}, {"min", s.min}, {"max", s.max}}; }

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Every message's time in every round, per engine.
struct Timings {
  std::vector<std::vector<Clock::duration>> per_round;  // [round][message]
  Runner::Stages stages;                                // the pipeline's stages, all rounds
};

// Rates over the messages for which `in_group` holds, one per round.
struct GroupRates {
  size_t messages = 0;
  uint64_t bytes = 0;
  Spread mb_per_s, messages_per_s;
  std::vector<double> seconds;  // per round
};

GroupRates RatesOf(const std::vector<bench::CorpusMessage>& corpus, const Timings& t,
                   const std::function<bool(const bench::CorpusMessage&)>& in_group) {
  GroupRates g;
  for (const bench::CorpusMessage& m : corpus) {
    if (!in_group(m)) continue;
    ++g.messages;
    g.bytes += m.raw.size();
  }
  std::vector<double> mb, msgs;
  for (const std::vector<Clock::duration>& round : t.per_round) {
    Clock::duration total{};
    for (size_t i = 0; i < corpus.size(); ++i) {
      if (in_group(corpus[i])) total += round[i];
    }
    const double s = std::max(Seconds(total), 1e-9);
    g.seconds.push_back(s);
    mb.push_back(static_cast<double>(g.bytes) / 1e6 / s);
    msgs.push_back(static_cast<double>(g.messages) / s);
  }
  g.mb_per_s = SpreadOf(mb);
  g.messages_per_s = SpreadOf(msgs);
  return g;
}

// ours / vmime per round (paired: same round, same messages).
Spread RatioOf(const GroupRates& ours, const GroupRates& vmime) {
  std::vector<double> r;
  for (size_t i = 0; i < ours.seconds.size(); ++i) r.push_back(vmime.seconds[i] / ours.seconds[i]);
  return SpreadOf(r);
}

uint64_t Fnv1a(const std::vector<bench::CorpusMessage>& corpus) {
  uint64_t h = 0xCBF29CE484222325ULL;
  auto mix = [&h](std::string_view bytes) {
    for (char c : bytes) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001B3ULL;
    }
  };
  for (const bench::CorpusMessage& m : corpus) {
    mix(std::to_string(m.raw.size()));
    mix(m.raw);
  }
  return h;
}

std::string Fixed(double v, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

std::string Megabytes(uint64_t bytes) { return Fixed(static_cast<double>(bytes) / 1e6, 2) + " MB"; }

std::string SpreadText(const Spread& s, int decimals) {
  return Fixed(s.median, decimals) + " [" + Fixed(s.min, decimals) + " .. " + Fixed(s.max, decimals) + "]";
}

std::string Verdict(bool pass) { return pass ? "PASS" : "FAIL"; }

bool DumpCorpus(const std::vector<bench::CorpusMessage>& corpus, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (const bench::CorpusMessage& m : corpus) {
    char name[32];
    std::snprintf(name, sizeof name, "%05d-", m.plan.index);
    const std::filesystem::path path =
        std::filesystem::path(dir) /
        (std::string(name) + std::string(bench::SizeClassName(m.plan.size_class)) + "-" +
         std::string(bench::MailKindName(m.plan.kind)) + ".eml");
    std::ofstream out(path, std::ios::binary);
    out << m.raw;
    if (!out) return false;
  }
  return true;
}

int Benchmark(const Options& o) {
  const Clock::time_point generation_start = Clock::now();
  const std::vector<bench::CorpusMessage> corpus = bench::GenerateCorpus(o.seed, o.messages);
  const double generation_seconds = Seconds(Clock::now() - generation_start);
  if (!o.dump_corpus.empty() && !DumpCorpus(corpus, o.dump_corpus)) {
    std::cerr << "parse_bench: cannot write the corpus to " << o.dump_corpus << "\n";
    return kExitError;
  }
  uint64_t total_bytes = 0;
  size_t largest = 0;
  size_t smallest = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    total_bytes += corpus[i].raw.size();
    if (corpus[i].raw.size() > corpus[largest].raw.size()) largest = i;
    if (corpus[i].raw.size() < corpus[smallest].raw.size()) smallest = i;
  }

  // --- throughput: both engines over the same bytes. Each message goes through
  // both back to back, the order alternating, so that both see the same caches
  // and the same load from the rest of the machine; the ratio is then paired
  // message by message. ---
  Runner runner;
  Timings vmime_t, ours_t;
  size_t sink = 0;
  for (int round = 0; round < o.rounds; ++round) {
    std::vector<Clock::duration>& vmime_times = vmime_t.per_round.emplace_back(corpus.size());
    std::vector<Clock::duration>& ours_times = ours_t.per_round.emplace_back(corpus.size());
    for (size_t i = 0; i < corpus.size(); ++i) {
      for (size_t k = 0; k < 2; ++k) {
        const bool vmime = (static_cast<size_t>(round) + i + k) % 2 == 0;
        const Clock::time_point start = Clock::now();
        sink += vmime ? runner.Vmime(corpus[i].raw) : runner.Pipeline(corpus[i].raw, &ours_t.stages);
        (vmime ? vmime_times : ours_times)[i] = Clock::now() - start;
      }
    }
  }
  auto all = [](const bench::CorpusMessage&) { return true; };
  const GroupRates vmime_all = RatesOf(corpus, vmime_t, all);
  const GroupRates ours_all = RatesOf(corpus, ours_t, all);
  volatile size_t keep = sink;  // the results are used: nothing above can be optimised away
  static_cast<void>(keep);
  const Spread ratio = RatioOf(ours_all, vmime_all);
  const bool throughput_pass = ratio.median >= kThroughputTarget;

  Clock::duration ours_total{};
  for (const auto& round : ours_t.per_round) {
    for (Clock::duration d : round) ours_total += d;
  }
  const Runner::Stages& st = ours_t.stages;
  auto share = [&](Clock::duration d) { return Seconds(d) / std::max(Seconds(ours_total), 1e-9); };
  const double other_share = 1 - share(st.parse) - share(st.trim) - share(st.classify);

  // --- breakdowns ---
  json by_class = json::object();
  json by_kind = json::object();
  std::string class_text, kind_text;
  // Groups that miss a target on their own: the targets are for the whole
  // corpus, but a weak spot must not hide behind the average.
  std::vector<std::string> weak_spots;
  auto breakdown = [&](std::string_view name, const std::function<bool(const bench::CorpusMessage&)>& in,
                       json& into, std::string& text) {
    const GroupRates v = RatesOf(corpus, vmime_t, in);
    if (v.messages == 0) return;
    const GroupRates p = RatesOf(corpus, ours_t, in);
    const Spread r = RatioOf(p, v);
    if (r.median < kThroughputTarget) {
      weak_spots.push_back(std::string(name) + " mail: throughput ratio " + Fixed(r.median, 2));
    }
    into[std::string(name)] = {{"messages", v.messages},
                               {"bytes", v.bytes},
                               {"vmime_mb_per_s", ToJson(v.mb_per_s)},
                               {"pipeline_mb_per_s", ToJson(p.mb_per_s)},
                               {"vmime_messages_per_s", ToJson(v.messages_per_s)},
                               {"pipeline_messages_per_s", ToJson(p.messages_per_s)},
                               {"ratio", ToJson(r)}};
    char line[200];
    std::snprintf(line, sizeof line, "    %-22s %5zu msgs %11s  %9s  %9s  %9s  %9s  %6s\n",
                  std::string(name).c_str(), v.messages, Megabytes(v.bytes).c_str(),
                  Fixed(v.mb_per_s.median, 1).c_str(), Fixed(p.mb_per_s.median, 1).c_str(),
                  Fixed(v.messages_per_s.median, 0).c_str(), Fixed(p.messages_per_s.median, 0).c_str(),
                  Fixed(r.median, 2).c_str());
    text += line;
  };
  for (bench::SizeClass c : {bench::SizeClass::kSmall, bench::SizeClass::kMedium, bench::SizeClass::kLarge,
                             bench::SizeClass::kHuge}) {
    breakdown(
        bench::SizeClassName(c), [c](const bench::CorpusMessage& m) { return m.plan.size_class == c; },
        by_class, class_text);
  }
  for (bench::MailKind k : {bench::MailKind::kQuestion, bench::MailKind::kTopPostedReply,
                            bench::MailKind::kInlineReply, bench::MailKind::kHtmlWithAttachments}) {
    breakdown(
        bench::MailKindName(k), [k](const bench::CorpusMessage& m) { return m.plan.kind == k; }, by_kind,
        kind_text);
  }

  // --- peak memory: the largest message (the target), and the largest of each kind ---
  const std::optional<MemoryFigure> ours_peak =
      MeasureMemory(o, Engine::kPipeline, static_cast<int>(largest));
  const std::optional<MemoryFigure> vmime_peak = MeasureMemory(o, Engine::kVmime, static_cast<int>(largest));
  if (!ours_peak)
    std::cerr << "parse_bench: the memory probe of the pipeline failed; the target counts as missed\n";
  const bool memory_pass = ours_peak && ours_peak->Multiple() < kMemoryTarget;
  json per_kind_memory = json::object();
  std::string per_kind_text;
  for (bench::MailKind k : {bench::MailKind::kQuestion, bench::MailKind::kTopPostedReply,
                            bench::MailKind::kInlineReply, bench::MailKind::kHtmlWithAttachments}) {
    std::optional<size_t> biggest;
    for (size_t i = 0; i < corpus.size(); ++i) {
      if (corpus[i].plan.kind == k && (!biggest || corpus[i].raw.size() > corpus[*biggest].raw.size()))
        biggest = i;
    }
    if (!biggest) continue;
    const std::optional<MemoryFigure> f = MeasureMemory(o, Engine::kPipeline, static_cast<int>(*biggest));
    if (!f) continue;
    if (f->message_bytes >= kNoisyBelow && f->Multiple() >= kMemoryTarget) {
      weak_spots.push_back(std::string(bench::MailKindName(k)) + " mail of " + Megabytes(f->message_bytes) +
                           ": peak memory " + Fixed(f->Multiple(), 2) + "x");
    }
    per_kind_memory[std::string(bench::MailKindName(k))] = {{"index", f->index},
                                                            {"message_bytes", f->message_bytes},
                                                            {"delta_bytes", f->delta_bytes},
                                                            {"multiple", f->Multiple()}};
    per_kind_text +=
        "    " + std::string(bench::MailKindName(k)) + " (#" + std::to_string(f->index) + ", " +
        Megabytes(f->message_bytes) + "): +" +
        Megabytes(static_cast<uint64_t>(std::max(0L, f->delta_bytes))) + " = " + Fixed(f->Multiple(), 2) +
        "x" + (f->message_bytes < kNoisyBelow ? " (small: the heap's growth steps dominate)" : "") + "\n";
  }
  auto memory_json = [](const std::optional<MemoryFigure>& f) -> json {
    if (!f) return nullptr;
    return {{"delta_bytes", f->delta_bytes}, {"multiple", f->Multiple()}};
  };

  // --- the results file ---
  const bench::CorpusMessage& big = corpus[largest];
  json results = {
      {"benchmark", "parse_bench"},
      {"build_type", MAILFORUM_BUILD_TYPE},
      {"hardware_threads", std::thread::hardware_concurrency()},
      {"seed", o.seed},
      {"rounds", o.rounds},
      {"units", "MB = 10^6 bytes; spreads are median, min and max over the rounds"},
      {"corpus",
       {{"messages", corpus.size()},
        {"bytes", total_bytes},
        {"smallest_bytes", corpus[smallest].raw.size()},
        {"largest_bytes", big.raw.size()},
        {"fnv1a64",
         [&] {
           char hex[17];
           std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(Fnv1a(corpus)));
           return std::string(hex);
         }()},
        {"generation_seconds", generation_seconds}}},
      {"vmime",
       {{"what", "vmime::message::parse (bare parse, nothing decoded)"},
        {"mb_per_s", ToJson(vmime_all.mb_per_s)},
        {"messages_per_s", ToJson(vmime_all.messages_per_s)},
        {"failures_per_round", runner.vmime_failures() / o.rounds}}},
      {"pipeline",
       {{"what", "mail::ParseMessage + mail::TrimReply(text_body) + mail::Classify"},
        {"mb_per_s", ToJson(ours_all.mb_per_s)},
        {"messages_per_s", ToJson(ours_all.messages_per_s)},
        {"time_share",
         {{"parse", share(st.parse)},
          {"trim", share(st.trim)},
          {"classify", share(st.classify)},
          {"freeing_the_message", other_share}}}}},
      {"ratio_pipeline_over_vmime", ToJson(ratio)},
      {"weak_spots", weak_spots},
      {"by_size_class", by_class},
      {"by_kind", by_kind},
      {"peak_memory",
       {{"what",
         "VmHWM minus VmRSS before processing, in a fresh warmed-up process, message bytes not counted"},
        {"largest_message",
         {{"index", big.plan.index},
          {"kind", bench::MailKindName(big.plan.kind)},
          {"bytes", big.raw.size()},
          {"pipeline", memory_json(ours_peak)},
          {"vmime", memory_json(vmime_peak)}}},
        {"pipeline_largest_of_each_kind", per_kind_memory}}},
      {"targets",
       {{"throughput",
         {{"target", "pipeline MB/s >= 0.50 x vmime MB/s (median ratio)"},
          {"value", ratio.median},
          {"pass", throughput_pass}}},
        {"peak_memory",
         {{"target", "pipeline peak memory < 3 x the largest message"},
          {"value", ours_peak ? json(ours_peak->Multiple()) : json(nullptr)},
          {"pass", memory_pass}}}}},
  };
  std::error_code ec;
  const std::filesystem::path out_path(o.out);
  if (out_path.has_parent_path()) std::filesystem::create_directories(out_path.parent_path(), ec);
  std::ofstream out(out_path);
  out << results.dump(2) << "\n";
  out.close();
  if (!out) std::cerr << "parse_bench: cannot write " << o.out << "\n";

  // --- the summary ---
  std::ostringstream s;
  s << "parse_bench (" << MAILFORUM_BUILD_TYPE << "): seed " << o.seed << ", " << corpus.size()
    << " messages, " << Megabytes(total_bytes) << " (" << corpus[smallest].raw.size() << " bytes .. "
    << Megabytes(big.raw.size()) << "), corpus fnv1a64 " << results["corpus"]["fnv1a64"].get<std::string>()
    << ", " << o.rounds << " rounds\n\n";
  s << "                        MB/s median [min .. max]     messages/s median [min .. max]\n";
  s << "  vmime bare parse      " << SpreadText(vmime_all.mb_per_s, 1) << "        "
    << SpreadText(vmime_all.messages_per_s, 0) << "\n";
  s << "  our pipeline          " << SpreadText(ours_all.mb_per_s, 1) << "        "
    << SpreadText(ours_all.messages_per_s, 0) << "\n";
  s << "    time in parse " << Fixed(100 * share(st.parse), 1) << "%, trim " << Fixed(100 * share(st.trim), 1)
    << "%, classify " << Fixed(100 * share(st.classify), 1) << "%, freeing the message "
    << Fixed(100 * other_share, 1) << "%\n";
  if (runner.vmime_failures() > 0)
    s << "  (vmime threw on " << runner.vmime_failures() / o.rounds << " messages)\n";
  s << "\n                                             vmime MB/s  ours MB/s  vmime msg/s ours msg/s  "
       "ratio\n";
  s << "  by size class\n" << class_text << "  by kind\n" << kind_text;
  s << "\n";
  s << "  throughput ratio ours/vmime: " << SpreadText(ratio, 2)
    << "   target >= " << Fixed(kThroughputTarget, 2) << "   " << Verdict(throughput_pass) << "\n";
  s << "  peak memory on the largest message (#" << big.plan.index << ", "
    << bench::MailKindName(big.plan.kind) << ", " << Megabytes(big.raw.size()) << "): ";
  if (ours_peak) {
    s << "+" << Megabytes(static_cast<uint64_t>(std::max(0L, ours_peak->delta_bytes))) << " = "
      << Fixed(ours_peak->Multiple(), 2) << "x its size";
  } else {
    s << "not measured";
  }
  s << "   target < " << Fixed(kMemoryTarget, 0) << "x   " << Verdict(memory_pass) << "\n";
  if (vmime_peak) {
    s << "    vmime bare parse of it: +"
      << Megabytes(static_cast<uint64_t>(std::max(0L, vmime_peak->delta_bytes))) << " = "
      << Fixed(vmime_peak->Multiple(), 2) << "x\n";
  }
  s << "  pipeline peak memory on the largest message of each kind:\n" << per_kind_text;
  if (!weak_spots.empty()) {
    s << "\n  below a target on their own (the targets are for the whole corpus):\n";
    for (const std::string& w : weak_spots) s << "    " << w << "\n";
  }
  s << "\nresults: " << o.out << "\n";
  std::cout << s.str();
  return throughput_pass && memory_pass ? 0 : kExitMissed;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> options = ParseOptions(argc, argv);
  if (!options || (options->probe_index.has_value() != !options->probe_engine.empty())) {
    Usage();
    return kExitError;
  }
  mail::InitializeMailLibraries();
  if (options->probe_index) return ProbeMemory(*options);
  return Benchmark(*options);
}
