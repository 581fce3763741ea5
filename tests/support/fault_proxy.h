// A TCP fault proxy in front of a server, for tests (issue 13): the program
// scripts/testenv/fault_proxy.py, started and driven from C++. Test-only.
//
// Point the code under test at 127.0.0.1:port() instead of the server; then
// break the path on command (see the script's header for each mode's exact
// meaning). Every command returns once the proxy has applied it, so a test
// can act right after it. Scripts drive the same program with
// `fault_proxy.py --send CONTROL_PORT COMMAND...`.
#ifndef MAILFORUM_TESTS_SUPPORT_FAULT_PROXY_H_
#define MAILFORUM_TESTS_SUPPORT_FAULT_PROXY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace mftest {

class FaultProxy {
 public:
  // Starts the proxy in front of target_host:target_port and waits (at most
  // 30 s) until it listens. Throws std::runtime_error when it does not start.
  FaultProxy(const std::string& target_host, int target_port);
  // Stops the proxy (every connection through it closes).
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }                  // where clients connect (127.0.0.1)
  int control_port() const { return control_port_; }  // the line protocol

  void Latency(int ms);          // delay every chunk, both directions
  void Stall();                  // hold every byte; Heal() forwards them
  void Blackhole();              // open connections (and new ones until Heal) go silent for ever
  void Reset();                  // RST every open connection now
  void ResetAfter(int64_t bytes);  // RST each connection after `bytes` more from the server
  void ResetAfterUp(int64_t bytes);  // the same for bytes from the client (cuts what it sends)
  void Refuse();                 // RST new connections at once
  void Heal();                   // back to normal; black-holed connections stay dead

  struct Stats {
    int open = 0;   // connections open now
    int total = 0;  // connections accepted so far
    int64_t up = 0;    // bytes forwarded to the server so far
    int64_t down = 0;  // bytes forwarded to the clients so far
    int resets = 0;    // connections reset so far (Reset, ResetAfter, ResetAfterUp)
    int refused = 0;   // connections refused so far (Refuse)
  };
  Stats GetStats();

  // Sends one command line and returns the answer ("ok ..."); throws
  // std::runtime_error on an "error ..." answer or a failed exchange.
  std::string Command(const std::string& line);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  int control_port_ = 0;
  std::string dir_;
};

}  // namespace mftest

#endif  // MAILFORUM_TESTS_SUPPORT_FAULT_PROXY_H_
