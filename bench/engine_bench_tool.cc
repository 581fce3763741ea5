// engine_bench_tool: the C++ half of the engine benchmark (bench/engine_bench.py
// drives it; scripts/bench-engine runs both).
//
//   engine_bench_tool maildir --dir DIR --count N [--seed S] [--machine-every K]
//     Writes the corpus generator's mix (PlanCorpus(S, N)) as Maildir files into
//     DIR/cur (DIR/tmp and DIR/new are created too), every K-th message replaced
//     by machine mail (an auto-reply with Auto-Submitted, or a delivery status
//     notification). Prints {"messages", "bytes", "machine"} as JSON.
//
//   engine_bench_tool fetch --host H --port P --user U --password-env VAR [--folder F] [--batch N]
//     The ceiling of ingest: logs in through mail::ImapSession (libetpan, no TLS:
//     loopback), selects the folder, UID SEARCH ALL, then UID FETCH BODY.PEEK[]
//     of every message, N UIDs per command, and does nothing with the bytes.
//     Prints {"messages", "bytes", "seconds", "cpu_seconds", "max_rss_kib"}.
//
//   engine_bench_tool sink --port P [--count-file F]
//     The outbound part's SMTP server on 127.0.0.1:P: takes mail, keeps none, and on SIGTERM writes
//     {"messages", "bytes", "connections", "cpu_seconds"} to F (or stdout). bench/smtp_bench.h.
//
//   engine_bench_tool send --port P --from ADDRESS --messages-file F [--host H] [--count N]
//     The ceiling of outbound: the messages of F over one connection, pipelined as the daemon sends them.
//     Prints {"messages", "bytes", "seconds", "cpu_seconds", "pipelining"}. bench/smtp_bench.h.
#include <sys/resource.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "bench/corpus_generator.h"
#include "bench/smtp_bench.h"
#include "mail/imap_session.h"
#include "mail/library_init.h"

namespace {

using Args = std::map<std::string, std::string>;

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 2; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  return args;
}

std::string Get(const Args& args, const std::string& key, const std::string& fallback = "") {
  auto it = args.find(key);
  if (it != args.end()) return it->second;
  if (fallback.empty()) {
    std::cerr << "engine_bench_tool: missing " << key << "\n";
    std::exit(2);
  }
  return fallback;
}

// Machine mail of the kinds a help address receives: an out-of-office reply
// (even index) and a delivery status notification (odd), both in CRLF like the corpus.
constexpr std::string_view kAutoReply =
    "From: Bob Away <bob.away@ID@@customer.example>\r\n"
    "To: help@bench.example\r\n"
    "Subject: Automatic reply: out of office @ID@\r\n"
    "Date: Sat, 05 Dec 2026 03:00:00 +0000\r\n"
    "Message-ID: <auto.@ID@@customer.example>\r\n"
    "Auto-Submitted: auto-replied\r\n"
    "X-Autoreply: yes\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "I am out of the office until Monday. For urgent matters call the desk.\r\n";
constexpr std::string_view kDeliveryStatus =
    "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
    "To: help@bench.example\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "Date: Sat, 05 Dec 2026 03:00:00 +0000\r\n"
    "Message-ID: <dsn.@ID@@mx.customer.example>\r\n"
    "Auto-Submitted: auto-replied\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b@ID@\"\r\n\r\n"
    "--b@ID@\r\nContent-Type: text/plain\r\n\r\n"
    "This is the mail system. Your message could not be delivered.\r\n"
    "--b@ID@\r\nContent-Type: message/delivery-status\r\n\r\n"
    "Reporting-MTA: dns; mx.customer.example\r\n\r\n"
    "Final-Recipient: rfc822; gone@ID@@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    "--b@ID@--\r\n";

std::string MachineMail(int index) {
  std::string out(index % 2 == 0 ? kAutoReply : kDeliveryStatus);
  const std::string id = std::to_string(index);
  for (size_t at = out.find("@ID@"); at != std::string::npos; at = out.find("@ID@", at + id.size())) {
    out.replace(at, 4, id);
  }
  return out;
}

int WriteMaildir(const Args& args) {
  const std::filesystem::path dir = Get(args, "--dir");
  const int count = std::stoi(Get(args, "--count"));
  const uint64_t seed = std::stoull(Get(args, "--seed", "20261205"));
  const int machine_every = std::stoi(Get(args, "--machine-every", "20"));
  for (const char* sub : {"cur", "new", "tmp"}) std::filesystem::create_directories(dir / sub);
  uint64_t bytes = 0;
  int machine = 0;
  for (const bench::MessagePlan& plan : bench::PlanCorpus(seed, count)) {
    std::string raw;
    if (machine_every > 0 && plan.index % machine_every == machine_every - 1) {
      raw = MachineMail(plan.index);
      ++machine;
    } else {
      raw = bench::GenerateMessage(plan);
    }
    // Dovecot orders a new Maildir's messages by file name: keep the corpus order.
    char name[64];
    std::snprintf(name, sizeof name, "%010d.M%dP1.bench,S=%zu:2,", 1700000000 + plan.index, plan.index,
                  raw.size());
    std::ofstream out(dir / "cur" / name, std::ios::binary);
    out.write(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (!out) {
      std::cerr << "engine_bench_tool: cannot write " << (dir / "cur" / name) << "\n";
      return 1;
    }
    bytes += raw.size();
  }
  std::cout << "{\"messages\": " << count << ", \"bytes\": " << bytes << ", \"machine\": " << machine
            << "}\n";
  return 0;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int Fetch(const Args& args) {
  mail::InitializeMailLibraries();
  mail::ImapOptions o;
  o.host = Get(args, "--host");
  o.port = static_cast<uint16_t>(std::stoi(Get(args, "--port")));
  o.tls = mail::ImapOptions::Tls::kNone;
  o.username = Get(args, "--user");
  const char* password = std::getenv(Get(args, "--password-env").c_str());
  o.password = password ? password : "";
  const size_t batch = std::stoul(Get(args, "--batch", "100"));
  const std::string folder = Get(args, "--folder", "INBOX");

  const auto start = std::chrono::steady_clock::now();
  const double cpu0 = CpuSeconds();
  auto session = mail::ImapSession::Connect(o);
  if (!session) {
    std::cerr << "engine_bench_tool: " << session.error().message << "\n";
    return 1;
  }
  if (auto s = (*session)->Select(folder); !s) {
    std::cerr << "engine_bench_tool: " << s.error().message << "\n";
    return 1;
  }
  auto uids = (*session)->UidSearchAll();
  if (!uids) {
    std::cerr << "engine_bench_tool: " << uids.error().message << "\n";
    return 1;
  }
  uint64_t bytes = 0;
  size_t messages = 0;
  for (size_t i = 0; i < uids->size(); i += batch) {
    std::vector<uint32_t> part(
        uids->begin() + static_cast<std::ptrdiff_t>(i),
        uids->begin() + static_cast<std::ptrdiff_t>(std::min(uids->size(), i + batch)));
    auto got = (*session)->FetchBatch(part);
    if (!got) {
      std::cerr << "engine_bench_tool: " << got.error().message << "\n";
      return 1;
    }
    for (const auto& m : *got) bytes += m.raw.size();
    messages += got->size();
  }
  (void)(*session)->Logout();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::cout << "{\"messages\": " << messages << ", \"bytes\": " << bytes << ", \"seconds\": " << seconds
            << ", \"cpu_seconds\": " << (CpuSeconds() - cpu0) << ", \"max_rss_kib\": " << u.ru_maxrss
            << "}\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const Args args = ParseArgs(argc, argv);
  if (mode == "maildir") return WriteMaildir(args);
  if (mode == "fetch") return Fetch(args);
  if (mode == "sink") {
    bench::SinkOptions o;
    o.port = static_cast<uint16_t>(std::stoi(Get(args, "--port")));
    if (args.count("--count-file")) o.count_file = args.at("--count-file");
    return bench::RunSmtpSink(o);
  }
  if (mode == "send") {
    bench::SendOptions o;
    o.host = Get(args, "--host", "127.0.0.1");
    o.port = static_cast<uint16_t>(std::stoi(Get(args, "--port")));
    o.from = Get(args, "--from");
    o.messages_file = Get(args, "--messages-file");
    o.count = std::stoul(Get(args, "--count", "0"));
    return bench::RunSmtpSend(o);
  }
  std::cerr
      << "usage: engine_bench_tool maildir --dir DIR --count N [--seed S] [--machine-every K]\n"
         "       engine_bench_tool fetch --host H --port P --user U --password-env VAR [--folder F] "
         "[--batch N]\n"
         "       engine_bench_tool sink --port P [--count-file F]\n"
         "       engine_bench_tool send --port P --from ADDRESS --messages-file F [--host H] [--count N]\n";
  return 2;
}
