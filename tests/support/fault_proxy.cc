#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/test_env.h"

namespace mftest {
namespace {

// "listen N\ncontrol M\n", once the proxy wrote it (by a rename: never half a file).
bool ReadPorts(const std::string& path, int& listen, int& control) {
  std::ifstream f(path);
  std::string key;
  int value = 0;
  while (f >> key >> value) {
    if (key == "listen") listen = value;
    if (key == "control") control = value;
  }
  return listen > 0 && control > 0;
}

}  // namespace

FaultProxy::FaultProxy(const std::string& target_host, int target_port) {
  dir_ = MakeTempDir("mf-proxy");
  const std::string ports_file = dir_ + "/ports";
  const std::string log = dir_ + "/log";
  const std::string script = SourceDir() + "/scripts/testenv/fault_proxy.py";
  const std::string target = target_host + ":" + std::to_string(target_port);
  pid_ = Spawn("/usr/bin/python3", {script, "--target", target, "--ports-file", ports_file}, log);
  if (pid_ < 0) throw std::runtime_error("fork failed");
  // Wait for the ports file (the proxy listens before writing it), or for the proxy to die.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ReadPorts(ports_file, port_, control_port_)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("fault_proxy.py exited at start; see " + log);
    }
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("fault_proxy.py did not start within 30 s; see " + log);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

FaultProxy::~FaultProxy() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
}

std::string FaultProxy::Command(const std::string& line) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(control_port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string answer;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = line + "\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char c;
      while (recv(fd, &c, 1, 0) == 1 && c != '\n') answer += c;
    }
  }
  close(fd);
  if (answer.rfind("ok", 0) != 0)
    throw std::runtime_error("fault proxy: \"" + line + "\" answered \"" + answer + "\"");
  return answer;
}

void FaultProxy::Latency(int ms) { Command("latency " + std::to_string(ms)); }
void FaultProxy::Stall() { Command("stall"); }
void FaultProxy::Blackhole() { Command("blackhole"); }
void FaultProxy::Reset() { Command("reset"); }
void FaultProxy::ResetAfter(int64_t bytes) { Command("reset-after " + std::to_string(bytes)); }
void FaultProxy::ResetAfterUp(int64_t bytes) { Command("reset-after-up " + std::to_string(bytes)); }
void FaultProxy::Refuse() { Command("refuse"); }
void FaultProxy::Heal() { Command("heal"); }

FaultProxy::Stats FaultProxy::GetStats() {
  const std::string answer = Command("stats");
  std::smatch m;
  static const std::regex kStats(
      "open=([0-9]+) total=([0-9]+) up=([0-9]+) down=([0-9]+) resets=([0-9]+) refused=([0-9]+)");
  if (!std::regex_search(answer, m, kStats)) throw std::runtime_error("fault proxy stats: " + answer);
  return Stats{std::stoi(m[1]),  std::stoi(m[2]), std::stoll(m[3]),
               std::stoll(m[4]), std::stoi(m[5]), std::stoi(m[6])};
}

}  // namespace mftest
