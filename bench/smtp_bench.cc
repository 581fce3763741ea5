#include "bench/smtp_bench.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "mail/tcp_connect.h"

namespace bench {
namespace {

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Writes all of `bytes` to `fd`; false when the peer is gone.
bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Appends what `fd` has (at least one byte) to `buffer`; false at end of stream or on an error.
bool ReadSome(int fd, std::string& buffer) {
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// The sink.

struct SinkCounts {
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<uint64_t> connections{0};
};

// A command line longer than this without CRLF ends the connection (RFC 5321 4.5.3.1.4: 512 octets).
constexpr size_t kMaxCommandLine = 4096;
// A data line longer than this is counted in pieces rather than held whole.
constexpr size_t kMaxHeldDataLine = 1 << 20;

// One client's session; Serve returns when the client quits or goes away.
class SinkSession {
 public:
  SinkSession(int fd, SinkCounts& counts) : fd_(fd), counts_(counts) {}

  void Serve() {
    out_ = "220 127.0.0.1 mailforum bench sink\r\n";
    for (;;) {
      // Everything that has arrived is answered before the next read: pipelined commands get their
      // replies in order and in one write (RFC 2920 3.2), and a client waiting for a reply gets it.
      if (!out_.empty()) {
        if (!WriteAll(fd_, out_)) return;
        out_.clear();
      }
      if (quit_) return;
      if (!ReadSome(fd_, in_)) return;
      size_t pos = 0;
      while (!quit_ && (in_data_ ? DataStep(pos) : CommandStep(pos))) {
      }
      in_.erase(0, pos);
    }
  }

 private:
  // Handles one command line at in_[pos]; false when no whole line is there yet.
  bool CommandStep(size_t& pos) {
    const size_t eol = in_.find("\r\n", pos);
    if (eol == std::string::npos) {
      if (in_.size() - pos > kMaxCommandLine) {
        out_ += "500 5.5.2 line too long\r\n";
        quit_ = true;
      }
      return false;
    }
    const std::string_view line(in_.data() + pos, eol - pos);
    pos = eol + 2;
    if (StartsWithNoCase(line, "EHLO ")) {
      ResetTransaction();
      out_ += "250-127.0.0.1\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 104857600\r\n";
    } else if (StartsWithNoCase(line, "HELO ")) {
      ResetTransaction();
      out_ += "250 127.0.0.1\r\n";
    } else if (StartsWithNoCase(line, "MAIL FROM:")) {
      if (has_mail_) {
        out_ += "503 5.5.1 nested MAIL\r\n";
      } else {
        has_mail_ = true;
        out_ += "250 2.1.0 ok\r\n";
      }
    } else if (StartsWithNoCase(line, "RCPT TO:")) {
      if (!has_mail_) {
        out_ += "503 5.5.1 need MAIL\r\n";
      } else {
        ++recipients_;
        out_ += "250 2.1.5 ok\r\n";
      }
    } else if (StartsWithNoCase(line, "DATA") && line.size() == 4) {
      if (recipients_ == 0) {
        out_ += "503 5.5.1 need RCPT\r\n";
      } else {
        in_data_ = true;
        line_start_ = true;
        data_bytes_ = 0;
        out_ += "354 end with <CRLF>.<CRLF>\r\n";
      }
    } else if (StartsWithNoCase(line, "RSET")) {
      ResetTransaction();
      out_ += "250 2.0.0 ok\r\n";
    } else if (StartsWithNoCase(line, "NOOP")) {
      out_ += "250 2.0.0 ok\r\n";
    } else if (StartsWithNoCase(line, "QUIT")) {
      out_ += "221 2.0.0 bye\r\n";
      quit_ = true;
    } else {
      out_ += "502 5.5.1 not implemented\r\n";
    }
    return true;
  }

  // Consumes data lines from in_[pos]; false when it needs more bytes. At the line "." the message is
  // counted and answered, and the session is back to commands.
  bool DataStep(size_t& pos) {
    const size_t eol = in_.find("\r\n", pos);
    if (eol == std::string::npos) {
      // A very long line: count all but its last byte (which may be the CR of its CRLF) now.
      const size_t held = in_.size() - pos;
      if (held > kMaxHeldDataLine) {
        const size_t take = held - 1;
        data_bytes_ += take - (line_start_ && in_[pos] == '.' ? 1 : 0);
        line_start_ = false;
        pos += take;
      }
      return false;
    }
    const size_t length = eol - pos;
    if (line_start_ && length == 1 && in_[pos] == '.') {
      pos = eol + 2;
      counts_.messages.fetch_add(1, std::memory_order_relaxed);
      counts_.bytes.fetch_add(data_bytes_, std::memory_order_relaxed);
      out_ += "250 2.0.0 ok: queued nowhere\r\n";
      in_data_ = false;
      ResetTransaction();
      return true;
    }
    data_bytes_ += length + 2 - (line_start_ && length > 0 && in_[pos] == '.' ? 1 : 0);
    line_start_ = true;
    pos = eol + 2;
    return true;
  }

  void ResetTransaction() {
    has_mail_ = false;
    recipients_ = 0;
  }

  const int fd_;
  SinkCounts& counts_;
  std::string in_;
  std::string out_;
  bool quit_ = false;
  bool has_mail_ = false;
  int recipients_ = 0;
  bool in_data_ = false;
  bool line_start_ = true;  // the next data byte starts a line (where a '.' is stuffing)
  uint64_t data_bytes_ = 0;
};

// Waits for SIGTERM or SIGINT (blocked in every thread), writes the counts and ends the process.
[[noreturn]] void ReportOnSignal(const sigset_t& signals, const SinkCounts& counts, const std::string& file) {
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  std::ostringstream json;
  json << "{\"messages\": " << counts.messages.load() << ", \"bytes\": " << counts.bytes.load()
       << ", \"connections\": " << counts.connections.load() << ", \"cpu_seconds\": " << CpuSeconds()
       << "}\n";
  if (file.empty()) {
    std::cout << json.str() << std::flush;
  } else {
    // Written whole under another name and renamed: a reader never sees half of it.
    const std::string part = file + ".part";
    std::ofstream out(part, std::ios::trunc);
    out << json.str();
    out.close();
    if (!out || std::rename(part.c_str(), file.c_str()) != 0) {
      std::cerr << "engine_bench_tool sink: cannot write " << file << "\n";
      std::_Exit(1);
    }
  }
  std::_Exit(0);  // connection threads may be mid-read: nothing of theirs needs to end cleanly
}

// ---------------------------------------------------------------------------
// The client.

struct Record {
  std::string recipient;
  std::string data;
};

bool ReadRecords(const std::string& path, size_t count, std::vector<Record>& records) {
  std::ifstream in(path, std::ios::binary);
  std::string head;
  while ((count == 0 || records.size() < count) && std::getline(in, head)) {
    const size_t space = head.rfind(' ');
    if (space == std::string::npos) return false;
    Record r;
    r.recipient = head.substr(0, space);
    r.data.resize(std::stoul(head.substr(space + 1)));
    if (!in.read(r.data.data(), static_cast<std::streamsize>(r.data.size()))) return false;
    records.push_back(std::move(r));
  }
  return count == 0 ? !records.empty() : records.size() == count;
}

// The data as it goes after 354, the bytes the daemon's transport sends for it: the final CRLF dropped, a
// '.' added to every line that starts with one (the messages have CRLF line ends only), then CRLF.CRLF.
std::string Stuffed(std::string_view data) {
  if (data.size() >= 2 && data.substr(data.size() - 2) == "\r\n") data.remove_suffix(2);
  std::string out;
  out.reserve(data.size() + data.size() / 64 + 8);
  for (size_t line = 0; line < data.size();) {
    if (data[line] == '.') out.push_back('.');
    const size_t next = std::min(data.find('\n', line), data.size() - 1) + 1;
    out.append(data.substr(line, next - line));
    line = next;
  }
  out.append("\r\n.\r\n");
  return out;
}

// Reads SMTP replies from one connection.
class ReplyReader {
 public:
  explicit ReplyReader(int fd) : fd_(fd) {}

  // The next reply's code, its lines in `text`; 0 when the connection ended or the reply is malformed.
  int Next(std::string& text) {
    text.clear();
    for (;;) {
      const size_t eol = in_.find("\r\n", pos_);
      if (eol == std::string::npos) {
        in_.erase(0, pos_);
        pos_ = 0;
        if (!ReadSome(fd_, in_)) return 0;
        continue;
      }
      const std::string_view line(in_.data() + pos_, eol - pos_);
      pos_ = eol + 2;
      text.append(line).append(" ");
      if (line.size() < 3) return 0;
      if (line.size() == 3 || line[3] == ' ') return std::atoi(std::string(line.substr(0, 3)).c_str());
      if (line[3] != '-') return 0;
    }
  }

 private:
  const int fd_;
  std::string in_;
  size_t pos_ = 0;
};

}  // namespace

int RunSmtpSink(const SinkOptions& options) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // every thread made from here on inherits the mask
  static SinkCounts counts;

  mail::UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int on = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (listener.get() < 0 ||
      ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener.get(), 128) != 0) {
    std::cerr << "engine_bench_tool sink: cannot listen on 127.0.0.1:" << options.port << ": "
              << mail::ErrnoText(errno) << "\n";
    return 1;
  }
  std::thread(ReportOnSignal, signals, std::cref(counts), options.count_file).detach();
  for (;;) {
    const int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      std::cerr << "engine_bench_tool sink: accept: " << mail::ErrnoText(errno) << "\n";
      return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // replies are small and awaited
    counts.connections.fetch_add(1, std::memory_order_relaxed);
    std::thread([fd] {
      mail::UniqueFd owned(fd);
      SinkSession(fd, counts).Serve();
    }).detach();
  }
}

int RunSmtpSend(const SendOptions& options) {
  std::vector<Record> records;
  try {
    if (!ReadRecords(options.messages_file, options.count, records)) {
      std::cerr << "engine_bench_tool send: " << options.messages_file << " does not hold "
                << (options.count == 0 ? std::string("a message")
                                       : std::to_string(options.count) + " messages")
                << "\n";
      return 2;
    }
  } catch (const std::exception& e) {  // std::stoul on a malformed length
    std::cerr << "engine_bench_tool send: " << options.messages_file << ": " << e.what() << "\n";
    return 2;
  }

  const auto start = std::chrono::steady_clock::now();
  const double cpu0 = CpuSeconds();
  mail::TcpOptions tcp;
  tcp.policy = mail::AddressPolicy::kLoopbackOnly;
  auto connected = mail::TcpConnect(options.host, options.port, tcp);
  if (!connected) {
    std::cerr << "engine_bench_tool send: " << connected.error().message << "\n";
    return 1;
  }
  const int fd = connected->get();
  ReplyReader replies(fd);
  std::string text;
  // One command's reply must be `want`; says what came instead.
  auto expect = [&](int want, std::string_view what) {
    const int code = replies.Next(text);
    if (code == want) return true;
    std::cerr << "engine_bench_tool send: " << what << ": "
              << (code == 0 ? "connection lost or bad reply" : text) << "\n";
    return false;
  };
  if (!expect(220, "greeting") || !WriteAll(fd, "EHLO bench.example\r\n") || !expect(250, "EHLO")) return 1;
  const bool pipelining = text.find("PIPELINING") != std::string::npos;
  const bool size = text.find(" SIZE") != std::string::npos || text.find("-SIZE") != std::string::npos;

  uint64_t bytes = 0;
  for (const Record& r : records) {
    const std::string data = Stuffed(r.data);
    const std::string commands[] = {
        "MAIL FROM:<" + options.from + ">" + (size ? " SIZE=" + std::to_string(r.data.size()) : "") + "\r\n",
        "RCPT TO:<" + r.recipient + ">\r\n", "DATA\r\n"};
    if (pipelining && !WriteAll(fd, commands[0] + commands[1] + commands[2])) return 1;
    for (int i = 0; i < 3; ++i) {
      if (!pipelining && !WriteAll(fd, commands[i])) return 1;
      if (!expect(i == 2 ? 354 : 250, commands[i].substr(0, 4))) return 1;
    }
    if (!WriteAll(fd, data) || !expect(250, "end of data")) return 1;
    bytes += r.data.size();
  }
  if (!WriteAll(fd, "QUIT\r\n") || !expect(221, "QUIT")) return 1;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "{\"messages\": " << records.size() << ", \"bytes\": " << bytes << ", \"seconds\": " << seconds
            << ", \"cpu_seconds\": " << (CpuSeconds() - cpu0)
            << ", \"pipelining\": " << (pipelining ? "true" : "false") << "}\n";
  return 0;
}

}  // namespace bench
