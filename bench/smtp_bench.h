// The outbound benchmark's SMTP ends (bench/engine_bench.py, `outbound`): a sink that takes mail as fast
// as loopback allows, and a bare client that sends to it what the daemon sends. Both are plain sockets on
// 127.0.0.1 without TLS, so that the figure the daemon is held to is SMTP's two round trips per mail, not
// a Python server's speed. Neither is a mail server or a mail client for anything but this benchmark.
#ifndef MAILFORUM_BENCH_SMTP_BENCH_H_
#define MAILFORUM_BENCH_SMTP_BENCH_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace bench {

struct SinkOptions {
  uint16_t port = 0;       // on 127.0.0.1
  std::string count_file;  // where the counts go on SIGTERM; empty: stdout
};

// Listens on 127.0.0.1:port and speaks SMTP to every client, one thread per connection: a 220 greeting,
// EHLO (PIPELINING, 8BITMIME, SIZE) or HELO, MAIL, RCPT, DATA (read to the line ".", dot-unstuffed),
// RSET, NOOP, QUIT; commands may come pipelined and are answered in order, the answers to what has
// arrived in one write. It keeps no mail: it counts the messages whose data ended with CRLF.CRLF after a
// MAIL and a RCPT, and their unstuffed bytes (the final CRLF.CRLF not counted, the CRLF before it
// counted), each before its 250 goes out. On SIGTERM or SIGINT it writes
// {"messages", "bytes", "connections", "cpu_seconds"} as JSON to count_file (or stdout) and exits 0.
// Ready when the port accepts. Returns 1 when the port cannot be bound.
int RunSmtpSink(const SinkOptions& options);

struct SendOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string from;           // the envelope sender of every message
  std::string messages_file;  // records "RECIPIENT LENGTH\n" then LENGTH bytes of CRLF message
  size_t count = 0;           // send the first count records; 0: all of them
};

// The bare client: reads the messages file, then over one connection says EHLO and sends every message as
// a pipelining client does (RFC 2920): MAIL (with SIZE= when offered), RCPT and DATA in one write, their
// three replies, then the dot-stuffed data and its reply; two round trips per mail, as the daemon's
// transport (mail/smtp_transport.cc). Without PIPELINING, one command per round trip. Then QUIT.
// Prints {"messages", "bytes", "seconds", "cpu_seconds"} as JSON, timed from connect to QUIT's reply.
// Returns 1 on any unexpected reply or socket error (said on stderr), 2 on an unreadable messages file.
int RunSmtpSend(const SendOptions& options);

}  // namespace bench

#endif  // MAILFORUM_BENCH_SMTP_BENCH_H_
