// ImapSession against a scripted server that ends the connection in the middle
// of a FETCH literal (issue 13 item 5, found by the soak). libetpan 1.9.4 read
// the literal again and again after end of file, for ever, at full CPU; the
// session must fail the FETCH at once instead, transiently. No real server is
// needed: the script is a thread on a loopback socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "mail/imap_session.h"
#include "mail/library_init.h"

namespace mail {
namespace {

using std::chrono::seconds;

// A one-connection IMAP server on 127.0.0.1: it greets, answers CAPABILITY,
// LOGIN and SELECT, and answers the first UID FETCH with the first 1,000 bytes
// of a 5,000-byte literal; then it ends the connection the way `how` says.
class EndsMidLiteral {
 public:
  enum class How { kClose, kReset };

  explicit EndsMidLiteral(How how) : how_(how) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listener_, 1) != 0 || getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~EndsMidLiteral() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    if (thread_.joinable()) thread_.join();
  }

  uint16_t port() const { return port_; }

 private:
  void Serve() {
    const int fd = accept(listener_, nullptr, nullptr);
    if (fd < 0) return;
    Send(fd, "* OK scripted server ready\r\n");
    std::string in;
    char buf[4096];
    for (;;) {
      const size_t eol = in.find("\r\n");
      if (eol == std::string::npos) {
        const ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        continue;
      }
      const std::string line = in.substr(0, eol);
      in.erase(0, eol + 2);
      const std::string tag = line.substr(0, line.find(' '));
      const std::string command = line.substr(tag.size() + 1);
      if (command.rfind("CAPABILITY", 0) == 0) {
        Send(fd, "* CAPABILITY IMAP4rev1 IDLE UIDPLUS\r\n" + tag + " OK done\r\n");
      } else if (command.rfind("LOGIN", 0) == 0) {
        Send(fd, tag + " OK logged in\r\n");
      } else if (command.rfind("SELECT", 0) == 0) {
        Send(fd, "* 1 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n" + tag +
                     " OK [READ-WRITE] selected\r\n");
      } else if (command.rfind("UID FETCH", 0) == 0) {
        Send(fd, "* 1 FETCH (UID 1 BODY[] {5000}\r\n" + std::string(1000, 'x'));
        if (how_ == How::kReset) {
          linger hard{1, 0};  // close() sends an RST, not a FIN
          setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        }
        break;
      } else {
        Send(fd, tag + " BAD not scripted\r\n");
      }
    }
    close(fd);
  }

  static void Send(int fd, const std::string& text) { (void)send(fd, text.data(), text.size(), MSG_NOSIGNAL); }

  How how_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

// Connects to `server`, selects INBOX and fetches UID 1; the FETCH's result, or
// the end of the test binary when it has not come back within 20 s (a thread
// spinning in libetpan cannot be stopped, and would hang the test for ever).
base::Status FetchFrom(const EndsMidLiteral& server) {
  ImapOptions options;
  options.host = "127.0.0.1";
  options.port = server.port();
  options.tls = ImapOptions::Tls::kNone;
  options.username = "user";
  options.password = "secret";
  options.timeout = seconds(5);
  auto session = ImapSession::Connect(options);
  if (!session.ok()) return session.error();
  if (auto selected = (*session)->Select("INBOX"); !selected.ok()) return selected.error();
  auto done = std::make_shared<std::promise<base::Status>>();
  auto fetched = done->get_future();
  std::thread([done, s = session->get()] {
    auto batch = s->FetchBatch({1});
    done->set_value(batch.ok() ? base::Status{} : base::Status{batch.error()});
  }).detach();
  if (fetched.wait_for(seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: the FETCH did not return within 20 s: libetpan spins at end of file\n");
    std::fflush(nullptr);
    std::_Exit(1);
  }
  return fetched.get();
}

class ImapEofTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { InitializeMailLibraries(); }
};

TEST_F(ImapEofTest, AServerThatClosesInTheMiddleOfALiteralFailsTheFetchTransiently) {
  EndsMidLiteral server(EndsMidLiteral::How::kClose);
  base::Status fetched = FetchFrom(server);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().kind, base::ErrorKind::kTransient) << fetched.error().message;
  EXPECT_NE(fetched.error().message.find("connection lost"), std::string::npos) << fetched.error().message;
}

TEST_F(ImapEofTest, AResetInTheMiddleOfALiteralFailsTheFetchTransiently) {
  EndsMidLiteral server(EndsMidLiteral::How::kReset);
  base::Status fetched = FetchFrom(server);
  ASSERT_FALSE(fetched.ok());
  EXPECT_EQ(fetched.error().kind, base::ErrorKind::kTransient) << fetched.error().message;
}

}  // namespace
}  // namespace mail
