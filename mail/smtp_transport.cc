#include "mail/smtp_transport.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#include <vmime/exception.hpp>
#include <vmime/mailbox.hpp>
#include <vmime/mailboxList.hpp>
#include <vmime/net/session.hpp>
#include <vmime/net/smtp/SMTPCommand.hpp>
#include <vmime/net/smtp/SMTPConnection.hpp>
#include <vmime/net/smtp/SMTPExceptions.hpp>
#include <vmime/net/smtp/SMTPResponse.hpp>
#include <vmime/net/smtp/SMTPTransport.hpp>
#include <vmime/net/socket.hpp>
#include <vmime/net/timeoutHandler.hpp>
#include <vmime/net/transport.hpp>
#include <vmime/platform.hpp>
#include <vmime/security/cert/X509Certificate.hpp>
#include <vmime/security/cert/certificateChain.hpp>
#include <vmime/security/cert/certificateNotTrustedException.hpp>
#include <vmime/security/cert/certificateVerifier.hpp>
#include <vmime/security/sasl/SASLMechanism.hpp>
#include <vmime/security/sasl/SASLSession.hpp>
#include <vmime/security/sasl/defaultSASLAuthenticator.hpp>
#include <vmime/utility/outputStreamStringAdapter.hpp>

#include "base/ascii.h"
#include "base/host.h"
#include "base/log.h"
#include "mail/oauth2.h"
#include "mail/tcp_connect.h"
#include "mail/tls_verify.h"

namespace mail {
namespace {

using base::ErrorKind;
using base::MakeError;
using Clock = std::chrono::steady_clock;

// How long one poll() waits before the socket looks at vmime's timeout handler again.
constexpr int kPollSliceMs = 200;
constexpr size_t kBlockSize = 16384;

int ToMs(Clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<decltype(ms)>(ms, 0, 1 << 30));
}


// ---------------------------------------------------------------------------
// Timeouts: vmime asks a timeoutHandler whether to give up. Ours gives up once
// `timeout` passes without progress; vmime resets it when it starts to read a
// reply, and the socket resets it whenever bytes move.

class DeadlineTimeoutHandler final : public vmime::net::timeoutHandler {
 public:
  explicit DeadlineTimeoutHandler(std::chrono::milliseconds timeout)
      : timeout_(timeout), deadline_(Clock::now() + timeout) {}
  bool isTimeOut() override { return Clock::now() >= deadline_; }
  void resetTimeOut() override { deadline_ = Clock::now() + timeout_; }
  bool handleTimeOut() override { return false; }  // Give up: vmime throws operation_timed_out.

 private:
  std::chrono::milliseconds timeout_;
  Clock::time_point deadline_;
};

class DeadlineTimeoutHandlerFactory final : public vmime::net::timeoutHandlerFactory {
 public:
  explicit DeadlineTimeoutHandlerFactory(std::chrono::milliseconds timeout) : timeout_(timeout) {}
  vmime::shared_ptr<vmime::net::timeoutHandler> create() override {
    return vmime::make_shared<DeadlineTimeoutHandler>(timeout_);
  }

 private:
  std::chrono::milliseconds timeout_;
};

// ---------------------------------------------------------------------------
// STARTTLS response injection (issue 8 item 9; imap_session.cc refuses the
// same on the IMAP side). vmime reads replies through a buffer that outlives
// the switch to TLS: bytes a man in the middle appends to the plaintext
// "220" answer to STARTTLS stay in it and are later read as if they had come
// through TLS (as the answer to EHLO, AUTH, ...). vmime keeps that buffer to
// itself, so the socket watches the plaintext conversation instead: vmime
// sends one command at a time before TLS (each ends with a line break) and
// reads one reply per command, after the greeting; a reply ends with a line
// whose fourth character is not '-'. When the TLS handshake starts, anything
// the server sent beyond the reply to the last command is what vmime still
// holds unread.
class PlaintextConversation {
 public:
  // vmime writes each command with one send() (SMTPCommand::writeToSocket).
  void Sent(std::string_view bytes) {
    for (char c : bytes) {
      if (c == '\n') ++commands_;
    }
    if (base::EqualsIgnoreCase(bytes.substr(0, 8), "STARTTLS")) starttls_sent_ = true;
  }
  void Received(std::string_view bytes) {
    for (char c : bytes) {
      ++unanswered_bytes_;
      if (c == '\n') {
        // vmime's rule (SMTPResponse::getNextResponse): "NNN-" continues a reply.
        if (line_length_ < 4 || fourth_ != '-') {
          ++replies_;
          unanswered_bytes_ = 0;
        }
        line_length_ = 0;
        continue;
      }
      if (++line_length_ == 4) fourth_ = c;
    }
  }
  // True once STARTTLS has gone out: the next raw read or write is the handshake.
  bool starttls_sent() const { return starttls_sent_; }
  // True when the server has said more than the greeting and one reply per command.
  bool HasUnreadBytes() const {
    return replies_ > commands_ + 1 || (replies_ == commands_ + 1 && unanswered_bytes_ > 0);
  }

 private:
  bool starttls_sent_ = false;
  size_t commands_ = 0;
  size_t replies_ = 0;
  size_t line_length_ = 0;
  char fourth_ = 0;
  size_t unanswered_bytes_ = 0;  // received since the end of the last complete reply
};

// Tells SmtpTransport::Impl why the socket refused to go on, so that the
// error says so rather than vmime's generic socket failure.
struct SocketAlarm {
  std::optional<std::string> injection;
};

// ---------------------------------------------------------------------------
// The socket under vmime's SMTP and TLS code (shared/TESTENV.md, vmime pitfall
// 1): TCP_NODELAY, MSG_NOSIGNAL, the host name kept as given.
//
// GnuTLS reaches receiveRaw() and sendRawNonBlocking() through C callbacks,
// and vmime's TLS socket rethrows an exception raised there through a static
// list without a lock (TLSSocket_GnuTLS::internalThrow). So those two never
// throw: they remember the failure and report "would block", and the next
// waitForRead()/waitForWrite(), which vmime calls directly, throws it.
class TunedSocket final : public vmime::net::socket {
 public:
  TunedSocket(vmime::shared_ptr<vmime::net::timeoutHandler> timeouts, std::chrono::milliseconds timeout, AddressPolicy reach,
              std::shared_ptr<SocketAlarm> alarm)
      : timeouts_(std::move(timeouts)), timeout_(timeout), reach_(reach), alarm_(std::move(alarm)) {}
  ~TunedSocket() override { Close(); }

  void connect(const vmime::string& address, const vmime::port_t port) override;
  void disconnect() override { Close(); }
  bool isConnected() const override;
  bool waitForRead(const int msecs) override { return Wait(POLLIN, msecs); }
  bool waitForWrite(const int msecs) override { return Wait(POLLOUT, msecs); }
  // receive() and send() are vmime's plaintext SMTP; GnuTLS uses only
  // receiveRaw() and sendRawNonBlocking(), and vmime's data phase sendRaw().
  void receive(vmime::string& buffer) override {
    const size_t size = ReceiveSome(buffer_, sizeof buffer_);
    buffer.assign(reinterpret_cast<const char*>(buffer_), size);
    if (!tls_started_) plaintext_.Received(buffer);
  }
  size_t receiveRaw(vmime::byte_t* buffer, const size_t count) override {
    if (!StartTlsIfDue()) return 0;
    return ReceiveSome(buffer, count);
  }
  void send(const vmime::string& buffer) override {
    if (!tls_started_) plaintext_.Sent(buffer);
    sendRaw(reinterpret_cast<const vmime::byte_t*>(buffer.data()), buffer.size());
  }
  void send(const char* str) override { send(vmime::string(str)); }
  void sendRaw(const vmime::byte_t* buffer, const size_t count) override;
  size_t sendRawNonBlocking(const vmime::byte_t* buffer, const size_t count) override {
    if (!StartTlsIfDue()) return 0;
    return SendSome(buffer, count);
  }
  size_t getBlockSize() const override { return kBlockSize; }
  unsigned int getStatus() const override { return status_; }
  // The host as the caller named it: vmime's socket reverse-resolves numeric
  // hosts here, a DNS query that can hang and whose answer nobody should trust.
  const vmime::string getPeerName() const override { return host_; }
  const vmime::string getPeerAddress() const override;
  vmime::shared_ptr<vmime::net::timeoutHandler> getTimeoutHandler() override { return timeouts_; }
  void setTracer(vmime::shared_ptr<vmime::net::tracer> tracer) override { tracer_ = std::move(tracer); }
  vmime::shared_ptr<vmime::net::tracer> getTracer() override { return tracer_; }

 private:
  void Close();
  size_t ReceiveSome(vmime::byte_t* buffer, size_t count);
  size_t SendSome(const vmime::byte_t* buffer, size_t count);
  // Called when GnuTLS first reads or writes: after STARTTLS, refuses to
  // start the handshake when the server said more than vmime has read (see
  // PlaintextConversation). False, with the connection failed and nothing
  // sent, when it refuses.
  bool StartTlsIfDue() {
    if (tls_started_ || !plaintext_.starttls_sent()) return true;
    tls_started_ = true;
    if (plaintext_.HasUnreadBytes()) {
      const std::string why =
          "plaintext after STARTTLS: the server sent more than its answer before the TLS handshake "
          "(possible response injection); refusing to go on";
      if (alarm_) alarm_->injection = why;
      Fail(why);
      status_ |= STATUS_WOULDBLOCK;
      return false;
    }
    return true;
  }
  void Fail(std::string why) {
    if (failure_.empty()) failure_ = std::move(why);
  }
  void ThrowIfBroken() const {
    if (!failure_.empty()) throw vmime::exceptions::socket_exception(failure_);
    if (fd_ < 0) throw vmime::exceptions::socket_not_connected_exception("not connected");
  }
  void Progressed() {
    if (timeouts_) timeouts_->resetTimeOut();
  }
  // Waits up to `msecs` for `events`; throws the recorded failure, or
  // operation_timed_out once vmime's timeout handler gives up.
  bool Wait(short events, int msecs);
  vmime::shared_ptr<vmime::net::timeoutHandler> timeouts_;
  vmime::shared_ptr<vmime::net::tracer> tracer_;
  std::chrono::milliseconds timeout_;
  AddressPolicy reach_;
  std::shared_ptr<SocketAlarm> alarm_;
  PlaintextConversation plaintext_;
  bool tls_started_ = false;  // GnuTLS has read or written: nothing more is plaintext.
  std::string host_;
  std::string failure_;  // Why the connection is unusable; empty while it is fine.
  int fd_ = -1;
  unsigned int status_ = 0;
  vmime::byte_t buffer_[kBlockSize];
};

void TunedSocket::connect(const vmime::string& address, const vmime::port_t port) {
  Close();
  failure_.clear();
  host_ = address;
  TcpOptions tcp;
  tcp.timeout = timeout_;
  // The timeout handler bounds every wait; keepalive also fails a connection whose peer vanished while
  // a long DATA was queued in the kernel (issue 13 item 2).
  tcp.keepalive = std::chrono::seconds(60);
  tcp.policy = reach_;
  tcp.blocking = false;
  base::Result<UniqueFd> fd = TcpConnect(address, port, tcp);
  if (!fd) throw vmime::exceptions::connection_error(fd.error().message);
  fd_ = fd->release();
  Progressed();
}

void TunedSocket::Close() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    fd_ = -1;
  }
}

bool TunedSocket::isConnected() const {
  if (fd_ < 0 || !failure_.empty()) return false;
  char byte;
  const ssize_t n = ::recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return n > 0;  // 0: the server closed the connection.
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

bool TunedSocket::Wait(short events, int msecs) {
  ThrowIfBroken();
  const Clock::time_point until = Clock::now() + std::chrono::milliseconds(std::max(msecs, 0));
  while (true) {
    pollfd pfd{fd_, events, 0};
    const int slice = timeouts_ ? std::min(kPollSliceMs, ToMs(until - Clock::now())) : ToMs(until - Clock::now());
    const int rc = ::poll(&pfd, 1, slice);
    if (rc > 0) return true;  // Also on POLLHUP/POLLERR: the next receive or send finds out what happened.
    if (rc < 0 && errno != EINTR) {
      Fail("poll: " + ErrnoText(errno));
      ThrowIfBroken();
    }
    if (timeouts_ && timeouts_->isTimeOut()) {
      if (!timeouts_->handleTimeOut()) {
        Fail("timed out");
        throw vmime::exceptions::operation_timed_out();
      }
      timeouts_->resetTimeOut();
    }
    if (Clock::now() >= until) return false;
  }
}

size_t TunedSocket::ReceiveSome(vmime::byte_t* buffer, const size_t count) {
  status_ &= ~STATUS_WOULDBLOCK;
  while (failure_.empty() && fd_ >= 0) {
    const ssize_t n = ::recv(fd_, buffer, count, MSG_DONTWAIT);
    if (n > 0) {
      Progressed();
      return static_cast<size_t>(n);
    }
    if (n == 0) {
      Fail("connection closed by the server");
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Fail("receive: " + ErrnoText(errno));
    }
    break;
  }
  status_ |= STATUS_WOULDBLOCK;
  return 0;
}

size_t TunedSocket::SendSome(const vmime::byte_t* buffer, const size_t count) {
  status_ &= ~STATUS_WOULDBLOCK;
  while (failure_.empty() && fd_ >= 0) {
    const ssize_t n = ::send(fd_, buffer, count, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      Progressed();
      return static_cast<size_t>(n);
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) Fail("send: " + ErrnoText(errno));
    break;
  }
  status_ |= STATUS_WOULDBLOCK;
  return 0;
}

void TunedSocket::sendRaw(const vmime::byte_t* buffer, const size_t count) {
  status_ &= ~STATUS_WOULDBLOCK;
  size_t left = count;
  while (left > 0) {
    ThrowIfBroken();
    const size_t sent = SendSome(buffer, left);
    if (sent > 0) {
      buffer += sent;
      left -= sent;
    } else if (!Wait(POLLOUT, static_cast<int>(timeout_.count()))) {
      Fail("timed out");
      throw vmime::exceptions::operation_timed_out();
    }
  }
  status_ &= ~STATUS_WOULDBLOCK;
}

const vmime::string TunedSocket::getPeerAddress() const {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  char text[NI_MAXHOST] = {};
  if (fd_ < 0 || ::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &len) != 0 ||
      ::getnameinfo(reinterpret_cast<const sockaddr*>(&peer), len, text, sizeof text, nullptr, 0,
                    NI_NUMERICHOST) != 0) {
    return "";
  }
  return text;
}

class TunedSocketFactory final : public vmime::net::socketFactory {
 public:
  TunedSocketFactory(std::chrono::milliseconds timeout, AddressPolicy reach, std::shared_ptr<SocketAlarm> alarm)
      : timeout_(timeout), reach_(reach), alarm_(std::move(alarm)) {}
  vmime::shared_ptr<vmime::net::socket> create() override { return create(nullptr); }
  vmime::shared_ptr<vmime::net::socket> create(vmime::shared_ptr<vmime::net::timeoutHandler> th) override {
    return vmime::make_shared<TunedSocket>(std::move(th), timeout_, reach_, alarm_);
  }

 private:
  std::chrono::milliseconds timeout_;
  AddressPolicy reach_;
  std::shared_ptr<SocketAlarm> alarm_;
};

// ---------------------------------------------------------------------------
// Certificates: vmime's defaultCertificateVerifier checks only that the last
// certificate of the chain was signed by a trusted CA (it matches the other
// links by issuer name), so mail/tls_verify.h decides instead. It is called
// from the TLS handshake, before vmime sends anything on the encrypted stream.
class ChainVerifier final : public vmime::security::cert::certificateVerifier {
 public:
  ChainVerifier(std::string host, TlsTrust trust) : host_(std::move(host)), trust_(std::move(trust)) {}

  // `hostname` is whatever the socket reports; the name the caller asked for is the one to check.
  void verify(vmime::shared_ptr<vmime::security::cert::certificateChain> chain,
              const vmime::string& /*hostname*/) override {
    verified_ = false;
    failure_.reset();
    std::vector<std::string> der_chain;
    for (size_t i = 0; chain != nullptr && i < chain->getCount(); ++i) {
      auto cert = vmime::dynamicCast<vmime::security::cert::X509Certificate>(chain->getAt(i));
      if (cert == nullptr) {
        failure_ = MakeError(ErrorKind::kPermanent, "server sent a certificate that is not X.509");
        throw vmime::security::cert::certificateNotTrustedException();
      }
      std::string der;
      vmime::utility::outputStreamStringAdapter out(der);
      cert->write(out, vmime::security::cert::X509Certificate::FORMAT_DER);
      der_chain.push_back(std::move(der));
    }
    base::Status status = VerifyServerCertificate(der_chain, host_, trust_);
    if (!status.ok()) {
      failure_ = status.error();
      throw vmime::security::cert::certificateNotTrustedException();
    }
    verified_ = true;
  }

  // Why the last verify() refused the chain, if it did.
  const std::optional<base::Error>& failure() const { return failure_; }
  // True when the last verify() accepted a chain.
  bool verified() const { return verified_; }
  void Reset() {
    verified_ = false;
    failure_.reset();
  }

 private:
  std::string host_;
  TlsTrust trust_;
  std::optional<base::Error> failure_;
  bool verified_ = false;
};

// ---------------------------------------------------------------------------
// The message data as it goes after DATA's 354: every line that starts with
// '.' gets one more (RFC 5321 4.5.2), then the end-of-data line. `data` has
// CRLF line ends only, does not start with '.' and has no final CRLF
// (CheckMessage, Send). One buffer, so that a small message is one write.
// (vmime's dot-stuffing filter, dotFilteredOutputStream 0.9.2, corrupts a
// chunk boundary that falls between a '.' and a CR or LF; it is not used.)
std::string DotStuffed(std::string_view data) {
  std::string out;
  out.reserve(data.size() + data.size() / 64 + 8);
  size_t from = 0;
  for (size_t dot = data.find("\r\n."); dot != std::string_view::npos; dot = data.find("\r\n.", dot + 3)) {
    out.append(data.substr(from, dot + 3 - from));
    out.push_back('.');
    from = dot + 3;
  }
  out.append(data.substr(from));
  out.append("\r\n.\r\n");
  return out;
}

// Whether `address` needs SMTPUTF8 (RFC 6531): a byte outside ASCII.
bool NeedsUtf8(std::string_view address) {
  return std::any_of(address.begin(), address.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// ---------------------------------------------------------------------------
// Checks before anything touches the network.

std::string ServerName(const SmtpOptions& options) {
  const bool ipv6 = options.host.find(':') != std::string::npos;
  return "SMTP " + (ipv6 ? "[" + options.host + "]" : options.host) + ":" + std::to_string(options.port);
}

// An OAuth2 access token as SASL for vmime: XOAUTH2 or OAUTHBEARER (RFC 7628), whose initial response
// mail/oauth2.h makes. The first step answers with it (vmime sends it on the AUTH line, or after an empty
// 334); a later challenge is the server's error, which the client acknowledges — an empty response for
// XOAUTH2, %x01 for OAUTHBEARER — to receive the final refusal. No security layer: bytes pass as they are.
class TokenMechanism : public vmime::security::sasl::SASLMechanism {
 public:
  TokenMechanism(std::string name, std::string initial) : name_(std::move(name)), initial_(std::move(initial)) {}

  const vmime::string getName() const override { return name_; }
  bool step(vmime::shared_ptr<vmime::security::sasl::SASLSession>, const vmime::byte_t*, const size_t,
            vmime::byte_t** response, size_t* response_length) override {
    const std::string answer = steps_++ == 0 ? initial_ : name_ == "OAUTHBEARER" ? "\x01" : "";
    Copy(reinterpret_cast<const vmime::byte_t*>(answer.data()), answer.size(), response, response_length);
    return true;
  }
  bool isComplete() const override { return steps_ > 0; }
  bool hasInitialResponse() const override { return true; }
  void encode(vmime::shared_ptr<vmime::security::sasl::SASLSession>, const vmime::byte_t* input,
              const size_t length, vmime::byte_t** output, size_t* output_length) override {
    Copy(input, length, output, output_length);
  }
  void decode(vmime::shared_ptr<vmime::security::sasl::SASLSession>, const vmime::byte_t* input,
              const size_t length, vmime::byte_t** output, size_t* output_length) override {
    Copy(input, length, output, output_length);
  }

 private:
  // vmime frees what a mechanism returns with delete[].
  static void Copy(const vmime::byte_t* input, size_t length, vmime::byte_t** output, size_t* output_length) {
    *output = new vmime::byte_t[length > 0 ? length : 1];
    std::copy(input, input + length, *output);
    *output_length = length;
  }

  const std::string name_;
  const std::string initial_;
  int steps_ = 0;
};

// Offers vmime exactly one mechanism, the token's, whatever else the server lists (vmime would otherwise
// fall back to PLAIN or LOGIN with an empty password).
class TokenAuthenticator : public vmime::security::sasl::defaultSASLAuthenticator {
 public:
  TokenAuthenticator(std::string mechanism, std::string initial)
      : mechanism_(std::move(mechanism)), initial_(std::move(initial)) {}

  const std::vector<vmime::shared_ptr<vmime::security::sasl::SASLMechanism>> getAcceptableMechanisms(
      const std::vector<vmime::shared_ptr<vmime::security::sasl::SASLMechanism>>&,
      vmime::shared_ptr<vmime::security::sasl::SASLMechanism>) const override {
    return {vmime::make_shared<TokenMechanism>(mechanism_, initial_)};
  }

 private:
  const std::string mechanism_;
  const std::string initial_;
};

base::Status CheckOptions(const SmtpOptions& options) {
  if (options.host.empty()) return MakeError(ErrorKind::kConfig, "no host");
  if (options.auth != MailAuth::kPassword && (options.username.empty() || options.oauth2 == nullptr)) {
    return MakeError(ErrorKind::kConfig, "OAuth2 login needs a user name and a token source");
  }
  if (options.port == 0) return MakeError(ErrorKind::kConfig, "no port");
  if (options.timeout.count() <= 0) return MakeError(ErrorKind::kConfig, "timeout must be positive");
  if (options.tls == SmtpOptions::Tls::kNone && !base::IsLoopbackHost(options.host)) {
    return MakeError(ErrorKind::kConfig,
                     "tls: none is allowed only to a loopback host (localhost, 127.0.0.0/8, ::1), not " +
                         options.host + "; use starttls or implicit");
  }
  if (!options.helo_name.empty()) {
    const std::string local = vmime::platform::getHandler()->getHostName();
    if (options.helo_name != local) {
      return MakeError(ErrorKind::kConfig, "helo_name " + options.helo_name +
                                               " cannot be used: vmime always says EHLO with the local host name (" +
                                               local + ")");
    }
  }
  if (!options.tls_sha256.empty()) {
    if (base::Result<std::string> pin = NormalizeSha256Pin(options.tls_sha256); !pin.ok()) return pin.error();
  }
  if (!options.ca_file.empty() && !std::ifstream(options.ca_file).good()) {
    return MakeError(ErrorKind::kConfig, "cannot read CA file " + options.ca_file);
  }
  return {};
}

// Why `address` cannot go into MAIL FROM:<…> or RCPT TO:<…>, or empty when it can.
std::string AddressProblem(std::string_view address) {
  if (address.empty()) return "empty address";
  for (unsigned char c : address) {
    if (c <= ' ' || c == 0x7f || c == '<' || c == '>') return "address contains a space, '<', '>' or a control character";
  }
  const size_t at = address.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size()) return "address is not local@domain";
  return "";
}

base::Status CheckEnvelope(const Envelope& envelope) {
  if (std::string problem = AddressProblem(envelope.mail_from); !problem.empty()) {
    return MakeError(ErrorKind::kInvalidInput, "MAIL FROM <" + envelope.mail_from + ">: " + problem);
  }
  if (envelope.recipients.empty()) return MakeError(ErrorKind::kInvalidInput, "no recipients");
  for (const std::string& recipient : envelope.recipients) {
    if (std::string problem = AddressProblem(recipient); !problem.empty()) {
      return MakeError(ErrorKind::kInvalidInput, "RCPT TO <" + recipient + ">: " + problem);
    }
  }
  return {};
}

base::Status CheckMessage(std::string_view message) {
  if (message.empty()) return MakeError(ErrorKind::kInvalidInput, "empty message");
  // vmime's dot-stuffing filter does not double a leading dot unless a line end follows it.
  if (message.front() == '.') return MakeError(ErrorKind::kInvalidInput, "message starts with '.'");
  for (size_t i = 0; i < message.size(); ++i) {
    const bool bare_cr = message[i] == '\r' && (i + 1 == message.size() || message[i + 1] != '\n');
    const bool bare_lf = message[i] == '\n' && (i == 0 || message[i - 1] != '\r');
    if (bare_cr || bare_lf) {
      return MakeError(ErrorKind::kInvalidInput,
                       "message has a bare " + std::string(bare_cr ? "CR" : "LF") + " at byte " +
                           std::to_string(i) + "; SMTP needs CRLF line ends");
    }
  }
  return {};
}

// ---------------------------------------------------------------------------
// vmime exceptions to errors.

std::string Describe(const vmime::exception& e) {
  std::string text = e.what();
  for (const vmime::exception* cause = e.other(); cause != nullptr; cause = cause->other()) {
    text += ": ";
    text += cause->what();
  }
  return text;
}

std::string OneLine(std::string text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "; ";
    } else if (c != '\r') {
      out += c;
    }
  }
  return out;
}

// "5.1.1", or "" when the server gave no enhanced status code (RFC 3463).
template <typename EnhancedCode>
std::string EnhancedStatus(const EnhancedCode& code) {
  if (code.klass == 0) return "";
  return std::to_string(code.klass) + "." + std::to_string(code.subject) + "." + std::to_string(code.detail);
}

SmtpReply ReplyOf(const vmime::net::smtp::SMTPCommandError& e) {
  SmtpReply reply;
  reply.code = e.statusCode();
  reply.enhanced_status = EnhancedStatus(e.extendedStatusCode());
  reply.text = OneLine(e.response());
  reply.command = e.command();
  constexpr std::string_view kRcpt = "RCPT TO:<";
  if (reply.command.compare(0, kRcpt.size(), kRcpt) == 0) {
    const size_t end = reply.command.find('>', kRcpt.size());
    reply.recipient = reply.command.substr(kRcpt.size(), end == std::string::npos ? end : end - kRcpt.size());
  }
  return reply;
}

ErrorKind KindOfReply(int code) {
  if (code >= 400 && code < 500) return ErrorKind::kTransient;
  if (code >= 500 && code < 600) return ErrorKind::kPermanent;
  return ErrorKind::kProtocol;
}

}  // namespace

// ---------------------------------------------------------------------------

struct SmtpTransport::Impl {
  SmtpOptions options;
  std::string server;  // "SMTP host:port", the context of every error.
  vmime::shared_ptr<ChainVerifier> verifier;
  std::shared_ptr<SocketAlarm> alarm;  // what the current connection's socket refused, if anything
  vmime::shared_ptr<vmime::net::session> session;
  vmime::shared_ptr<vmime::net::transport> transport;
  std::optional<SmtpReply> last_reply;
  bool auth_refused = false;  // the last OpenOnce() failed because the server refused the login

  // The outcome of one attempt to send, and whether a new connection may fix it.
  struct Attempt {
    base::Status status;
    bool retry_on_new_connection = false;
  };

  // Opens a connection; with OAuth2, asks the token source for a new token and tries once more when the
  // server refused the cached one.
  base::Status Open();
  base::Status OpenOnce(bool fresh_token);
  void Close();
  bool IsOpen() const { return transport != nullptr && transport->isConnected(); }
  Attempt SendOnce(const Envelope& envelope, std::string_view data);
  // Converts what vmime threw during `step`; `connection_lost` tells whether
  // the connection died under it (rather than the server refusing something).
  base::Error Convert(const vmime::exception& e, std::string_view step, bool* connection_lost = nullptr);
};

base::Status SmtpTransport::Impl::Open() {
  base::Status status = OpenOnce(/*fresh_token=*/false);
  if (status.ok() || options.auth == MailAuth::kPassword || !auth_refused) return status;
  base::LogInfo(status.error().message + "; trying once more with a new token");
  status = OpenOnce(/*fresh_token=*/true);
  if (!status.ok() && auth_refused) {
    return MakeError(ErrorKind::kPermanent, status.error().message + " (a freshly issued token was refused)");
  }
  return status;
}

base::Status SmtpTransport::Impl::OpenOnce(bool fresh_token) {
  Close();
  auth_refused = false;
  std::string initial;  // the SASL initial response that carries an OAuth2 token
  if (options.auth != MailAuth::kPassword) {
    auto token = fresh_token ? options.oauth2->RefreshAccessToken() : options.oauth2->AccessToken();
    if (!token) return token.error().WithContext(server);
    initial = options.auth == MailAuth::kOAuthBearer
                  ? OAuthBearerResponse(options.username, options.host, options.port, *token)
                  : XOAuth2Response(options.username, *token);
  }
  verifier->Reset();
  alarm = std::make_shared<SocketAlarm>();
  try {
    session = vmime::net::session::create();
    transport = session->getTransport(options.tls == SmtpOptions::Tls::kImplicit ? "smtps" : "smtp");
    if (transport == nullptr) return MakeError(ErrorKind::kInternal, server + ": vmime has no SMTP service");
    const bool starttls = options.tls == SmtpOptions::Tls::kStartTls;
    transport->setProperty("server.address", options.host);
    transport->setProperty("server.port", static_cast<vmime::port_t>(options.port));
    transport->setProperty("connection.tls", starttls);
    transport->setProperty("connection.tls.required", starttls);
    transport->setProperty("options.need-authentication", !options.username.empty());
    if (options.auth != MailAuth::kPassword) {
      transport->setProperty("auth.username", options.username);
      transport->setAuthenticator(vmime::make_shared<TokenAuthenticator>(
          options.auth == MailAuth::kOAuthBearer ? "OAUTHBEARER" : "XOAUTH2", initial));
    } else if (!options.username.empty()) {
      transport->setProperty("auth.username", options.username);
      transport->setProperty("auth.password", options.password);
    }
    transport->setCertificateVerifier(verifier);
    transport->setTimeoutHandlerFactory(vmime::make_shared<DeadlineTimeoutHandlerFactory>(options.timeout));
    if (options.socket == SmtpOptions::Socket::kOurs) {
      const AddressPolicy reach = options.tls == SmtpOptions::Tls::kNone ? AddressPolicy::kLoopbackOnly : AddressPolicy::kAny;
      transport->setSocketFactory(vmime::make_shared<TunedSocketFactory>(options.timeout, reach, alarm));
    }
    transport->connect();
  } catch (const vmime::exception& e) {
    base::Error error = Convert(e, "connect");
    Close();
    return error;
  } catch (const std::exception& e) {
    Close();
    return MakeError(ErrorKind::kInternal, server + ": connect: " + e.what());
  }
  if (options.tls != SmtpOptions::Tls::kNone && (!transport->isSecuredConnection() || !verifier->verified())) {
    Close();
    return MakeError(ErrorKind::kInternal, server + ": connected without a verified TLS session");
  }
  base::LogDebug(server + ": connected");
  return {};
}

void SmtpTransport::Impl::Close() {
  if (transport != nullptr) {
    try {
      if (transport->isConnected()) transport->disconnect();
    } catch (const std::exception& e) {
      base::LogDebug(server + ": disconnect: " + e.what());
    }
  }
  transport.reset();
  session.reset();
}

SmtpTransport::Impl::Attempt SmtpTransport::Impl::SendOnce(const Envelope& envelope, std::string_view data) {
  namespace smtp = vmime::net::smtp;
  bool data_started = false;  // from here on a retry could deliver the message twice
  try {
    auto smtp_transport = vmime::dynamicCast<smtp::SMTPTransport>(transport);
    if (smtp_transport == nullptr || !smtp_transport->isConnected()) throw vmime::exceptions::not_connected();
    const vmime::shared_ptr<smtp::SMTPConnection> connection = smtp_transport->getConnection();
    // The transaction by hand rather than vmime's send(), which says RSET before every message but the
    // first of a connection: a command (and, without PIPELINING, a round trip) per message for nothing, as
    // a failed transaction closes the connection (Send). With PIPELINING (RFC 2920) MAIL, RCPT and DATA
    // go in one write; the replies are read in order, each checked as vmime checks it.
    bool utf8 = NeedsUtf8(envelope.mail_from);
    for (const std::string& recipient : envelope.recipients) utf8 = utf8 || NeedsUtf8(recipient);
    utf8 = utf8 && connection->hasExtension("SMTPUTF8");
    std::vector<vmime::shared_ptr<smtp::SMTPCommand>> commands;
    commands.push_back(smtp::SMTPCommand::MAIL(vmime::mailbox(vmime::emailAddress(envelope.mail_from)), utf8,
                                               connection->hasExtension("SIZE") ? data.size() + 2 : 0));
    for (const std::string& recipient : envelope.recipients) {
      commands.push_back(smtp::SMTPCommand::RCPT(vmime::mailbox(vmime::emailAddress(recipient)), utf8));
    }
    commands.push_back(smtp::SMTPCommand::DATA());
    const vmime::shared_ptr<vmime::net::socket> socket = connection->getSocket();
    const bool pipelining = connection->hasExtension("PIPELINING");
    if (pipelining) {
      std::string group;
      for (const auto& command : commands) group += command->getText() + "\r\n";
      socket->send(group);
    }
    for (size_t i = 0; i < commands.size(); ++i) {
      if (!pipelining) socket->send(commands[i]->getText() + "\r\n");
      const vmime::shared_ptr<smtp::SMTPResponse> response = connection->readResponse();
      const int code = response->getCode();
      const bool last = i + 1 == commands.size();
      if (last ? code != 354 : code != 250 && (i == 0 || code != 251)) {
        throw smtp::SMTPCommandError(commands[i]->getText(), response->getText(), code, response->getEnhancedCode());
      }
    }
    data_started = true;
    socket->send(DotStuffed(data));
    const vmime::shared_ptr<smtp::SMTPResponse> response = connection->readResponse();
    if (response->getCode() != 250) {
      throw smtp::SMTPCommandError("DATA", response->getText(), response->getCode(), response->getEnhancedCode());
    }
    return {};
  } catch (const vmime::exception& e) {
    bool lost = false;
    base::Error error = Convert(e, "send", &lost);
    const bool closing = last_reply.has_value() && last_reply->code == 421;  // "Service not available, closing".
    return Attempt{error, !data_started && (lost || closing)};
  } catch (const std::exception& e) {
    return Attempt{MakeError(ErrorKind::kInternal, server + ": send: " + e.what())};
  }
}

base::Error SmtpTransport::Impl::Convert(const vmime::exception& e, std::string_view step, bool* connection_lost) {
  namespace ex = vmime::exceptions;
  using vmime::net::smtp::SMTPCommandError;
  if (verifier->failure()) return verifier->failure()->WithContext(server);
  if (alarm != nullptr && alarm->injection) return MakeError(ErrorKind::kProtocol, server + ": " + *alarm->injection);
  // The size-limit exceptions carry the server's reply as their cause.
  const auto* command = dynamic_cast<const SMTPCommandError*>(&e);
  if (command == nullptr) command = dynamic_cast<const SMTPCommandError*>(e.other());
  if (command != nullptr) {
    last_reply = ReplyOf(*command);
    std::string text = last_reply->command + ": " + std::to_string(last_reply->code);
    if (!last_reply->text.empty()) text += " " + last_reply->text;
    return MakeError(KindOfReply(last_reply->code), server + ": " + text);
  }
  const std::string where = server + ": " + std::string(step) + ": ";
  if (const auto* auth = dynamic_cast<const ex::authentication_error*>(&e)) {
    auth_refused = true;
    return MakeError(ErrorKind::kPermanent, where + "authentication as " + options.username +
                                                " refused: " + OneLine(auth->response()));
  }
  if (const auto* greeting = dynamic_cast<const ex::connection_greeting_error*>(&e)) {
    return MakeError(ErrorKind::kTransient, where + "bad greeting: " + OneLine(greeting->response()));
  }
  if (dynamic_cast<const ex::operation_timed_out*>(&e) != nullptr) {
    if (connection_lost != nullptr) *connection_lost = false;  // A slow server stays slow on a new connection.
    return MakeError(ErrorKind::kTransient,
                     where + "no answer within " + std::to_string(options.timeout.count()) + " ms");
  }
  // not_connected: also what vmime throws instead of a 421 to RSET when the
  // server closed right after it (its disconnect() finds nothing to close).
  if (dynamic_cast<const ex::socket_exception*>(&e) != nullptr || dynamic_cast<const ex::not_connected*>(&e) != nullptr) {
    if (connection_lost != nullptr) *connection_lost = true;
    return MakeError(ErrorKind::kTransient, where + Describe(e));
  }
  if (dynamic_cast<const ex::net_exception*>(&e) != nullptr || dynamic_cast<const ex::tls_exception*>(&e) != nullptr) {
    return MakeError(ErrorKind::kTransient, where + Describe(e));
  }
  return MakeError(ErrorKind::kInternal, where + Describe(e) + " (" + e.name() + ")");
}

// ---------------------------------------------------------------------------

SmtpTransport::SmtpTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SmtpTransport::~SmtpTransport() { Disconnect(); }

base::Result<std::unique_ptr<SmtpTransport>> SmtpTransport::Connect(const SmtpOptions& options) {
  const std::string server = ServerName(options);
  if (base::Status status = CheckOptions(options); !status.ok()) return status.error().WithContext(server);
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->server = server;
  impl->verifier = vmime::make_shared<ChainVerifier>(options.host, TlsTrust{options.ca_file, options.tls_sha256});
  if (base::Status status = impl->Open(); !status.ok()) return status.error();
  return std::unique_ptr<SmtpTransport>(new SmtpTransport(std::move(impl)));
}

base::Status SmtpTransport::Send(const Envelope& envelope, std::string_view raw_message) {
  Impl& impl = *impl_;
  impl.last_reply.reset();
  if (base::Status status = CheckEnvelope(envelope); !status.ok()) return status.error().WithContext(impl.server);
  if (base::Status status = CheckMessage(raw_message); !status.ok()) return status.error().WithContext(impl.server);
  // vmime ends the data with "\r\n.\r\n" itself: a final CRLF of ours would become an extra empty line.
  std::string_view data = raw_message;
  if (data.size() >= 2 && data.substr(data.size() - 2) == "\r\n") data.remove_suffix(2);

  const bool reused = impl.IsOpen();
  if (!reused) {
    if (base::Status status = impl.Open(); !status.ok()) return status;
  }
  Impl::Attempt attempt = impl.SendOnce(envelope, data);
  if (attempt.status.ok()) return {};
  impl.Close();
  if (!reused || !attempt.retry_on_new_connection) return attempt.status;

  base::LogInfo(attempt.status.error().message + "; reconnecting once");
  impl.last_reply.reset();
  if (base::Status status = impl.Open(); !status.ok()) return status;
  attempt = impl.SendOnce(envelope, data);
  if (!attempt.status.ok()) impl.Close();
  return attempt.status;
}

base::Status SmtpTransport::Probe(const Envelope& envelope) {
  Impl& impl = *impl_;
  impl.last_reply.reset();
  if (base::Status status = CheckEnvelope(envelope); !status.ok())
    return status.error().WithContext(impl.server);
  if (!impl.IsOpen()) {
    if (base::Status status = impl.Open(); !status.ok()) return status;
  }
  namespace smtp = vmime::net::smtp;
  try {
    auto transport = vmime::dynamicCast<smtp::SMTPTransport>(impl.transport);
    if (transport == nullptr) return MakeError(ErrorKind::kInternal, impl.server + ": not an SMTP transport");
    const vmime::shared_ptr<smtp::SMTPConnection> connection = transport->getConnection();
    // One command and its reply; a reply other than 2xx ends the probe with it.
    auto step = [&](const vmime::shared_ptr<smtp::SMTPCommand>& command) -> base::Status {
      connection->sendRequest(command);
      const vmime::shared_ptr<smtp::SMTPResponse> response = connection->readResponse();
      if (response->getCode() / 100 == 2) return {};
      SmtpReply reply;
      reply.code = response->getCode();
      reply.enhanced_status = EnhancedStatus(response->getEnhancedCode());
      reply.text = OneLine(response->getText());
      reply.command = command->getText();
      impl.last_reply = reply;
      return MakeError(KindOfReply(reply.code), impl.server + ": " + reply.command + ": " +
                                                    std::to_string(reply.code) + " " + reply.text);
    };
    base::Status status =
        step(smtp::SMTPCommand::MAIL(vmime::mailbox(vmime::emailAddress(envelope.mail_from)), false));
    for (size_t i = 0; status.ok() && i < envelope.recipients.size(); ++i) {
      status =
          step(smtp::SMTPCommand::RCPT(vmime::mailbox(vmime::emailAddress(envelope.recipients[i])), false));
    }
    if (base::Status reset = step(smtp::SMTPCommand::RSET()); status.ok()) status = reset;
    if (!status.ok()) impl.Close();
    return status;
  } catch (const vmime::exception& e) {
    base::Error error = impl.Convert(e, "probe");
    impl.Close();
    return error;
  } catch (const std::exception& e) {
    impl.Close();
    return MakeError(ErrorKind::kInternal, impl.server + ": probe: " + e.what());
  }
}

const std::optional<SmtpReply>& SmtpTransport::last_reply() const { return impl_->last_reply; }

bool SmtpTransport::connected() const { return impl_->IsOpen(); }

void SmtpTransport::Disconnect() { impl_->Close(); }

}  // namespace mail
