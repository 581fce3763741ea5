// SmtpTransport against the real SMTP sink of scripts/testenv: what arrives in
// the sink's spool must be byte for byte what we sent, over STARTTLS and
// implicit TLS; certificates that do not fit are refused; the sink's
// reject550/defer451 recipients give permanent and transient errors.
#include "mail/smtp_transport.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <vmime/charset.hpp>
#include <vmime/generationContext.hpp>
#include <vmime/mailbox.hpp>
#include <vmime/message.hpp>
#include <vmime/messageBuilder.hpp>
#include <vmime/messageId.hpp>
#include <vmime/parsingContext.hpp>
#include <vmime/stringContentHandler.hpp>
#include <vmime/text.hpp>
#include <vmime/textPart.hpp>
#include <vmime/utility/outputStreamStringAdapter.hpp>
#include <vmime/word.hpp>

#include "mail/library_init.h"
#include "tests/support/test_env.h"

namespace mail {
namespace {

using namespace std::chrono_literals;
using base::ErrorKind;
using Tls = SmtpOptions::Tls;

constexpr char kFrom[] = "help+bounces@mailforum.test";
constexpr char kTo[] = "asker@example.test";
// Non-ASCII letters and spaces: vmime drops the spaces when it writes such a
// subject as raw UTF-8 to a server that offers SMTPUTF8 (shared/TESTENV.md,
// vmime pitfall 2); as one RFC 2047 word they survive.
constexpr char kSubject[] = "Grüße aus Köln: wie geht's dem Drucker im 3. Stock?";

// A Message-ID that no other test run produces.
std::string UniqueId(std::string_view tag) {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::string(tag) + "." + std::to_string(getpid()) + "." +
         std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count()) + "." +
         std::to_string(counter++);
}

// Generates a message the way the forums will: with vmime, internationalized
// headers off, the subject as one UTF-8 word (so it becomes RFC 2047
// encoded-words with its spaces inside), our own Message-ID (vmime's random
// generator is not thread-safe), and CRLF at the end.
std::string Compose(const std::string& id, const std::string& subject, const std::string& body) {
  vmime::messageBuilder builder;
  builder.setExpeditor(vmime::mailbox(vmime::emailAddress(kFrom)));
  builder.getRecipients().appendAddress(vmime::make_shared<vmime::mailbox>(vmime::emailAddress(kTo)));
  vmime::text subject_text;
  subject_text.appendWord(vmime::make_shared<vmime::word>(subject, vmime::charsets::UTF_8));
  builder.setSubject(subject_text);
  builder.getTextPart()->setCharset(vmime::charsets::UTF_8);
  builder.getTextPart()->setText(vmime::make_shared<vmime::stringContentHandler>(body));
  vmime::shared_ptr<vmime::message> message = builder.construct();
  message->getHeader()->MessageId()->setValue(vmime::messageId(id, "mailforum.test"));
  vmime::generationContext context;
  context.setInternationalizedEmailSupport(false);
  std::string raw;
  vmime::utility::outputStreamStringAdapter out(raw);
  message->generate(context, out);
  if (raw.size() < 2 || raw.compare(raw.size() - 2, 2, "\r\n") != 0) raw += "\r\n";
  return raw;
}

// The decoded Subject of a raw message.
std::string DecodedSubject(const std::string& raw) {
  vmime::parsingContext context;
  vmime::message message;
  message.parse(context, raw);
  return message.getHeader()->Subject()->getValue<vmime::text>()->getConvertedText(vmime::charsets::UTF_8);
}

// The raw Subject field as it appears in the message (first line and folds).
std::string RawSubjectField(const std::string& raw) {
  const std::string text = "\r\n" + raw;
  size_t begin = text.find("\r\nSubject:");
  if (begin == std::string::npos) return "";
  begin += 2;
  size_t end = begin;
  do {
    end = text.find("\r\n", end + 1);
  } while (end != std::string::npos && end + 2 < text.size() && (text[end + 2] == ' ' || text[end + 2] == '\t'));
  return text.substr(begin, end - begin);
}

struct Spooled {
  std::string raw;
  nlohmann::json envelope;  // mail_from, rcpt_tos, peer, tls, size.
};

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

// Waits up to 10 s until, for every id in `ids`, a message containing
// "Message-ID: <id@mailforum.test>" is in the sink's spool/new; returns those found.
std::map<std::string, Spooled> WaitForSpooled(const std::string& spool, const std::set<std::string>& ids) {
  std::map<std::string, Spooled> found;
  std::set<std::string> seen_files;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (found.size() < ids.size() && std::chrono::steady_clock::now() < deadline) {
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(spool) / "new")) {
      const std::filesystem::path path = entry.path();
      if (path.extension() == ".json" || !seen_files.insert(path.filename()).second) continue;
      Spooled spooled{ReadFile(path), nlohmann::json::parse(ReadFile(path.string() + ".json"))};
      size_t at = spooled.raw.find("Message-Id: <");  // vmime's spelling.
      if (at == std::string::npos) at = spooled.raw.find("Message-ID: <");
      if (at == std::string::npos) continue;
      const size_t begin = at + 13;
      const std::string id = spooled.raw.substr(begin, spooled.raw.find('@', begin) - begin);
      if (ids.count(id) != 0) found[id] = std::move(spooled);
    }
    if (found.size() < ids.size()) std::this_thread::sleep_for(20ms);
  }
  return found;
}

class SmtpTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { InitializeMailLibraries(); }

  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(smtp_port, "MAILFORUM_TEST_SMTP_PORT");
    MAILFORUM_REQUIRE_SERVER(smtps_port, "MAILFORUM_TEST_SMTPS_PORT");
    MAILFORUM_REQUIRE_SERVER(ca_file, "MAILFORUM_TEST_CA_FILE");
    MAILFORUM_REQUIRE_SERVER(password, "MAILFORUM_TEST_SMTP_PASSWORD");
    MAILFORUM_REQUIRE_SERVER(spool, "MAILFORUM_TEST_SMTP_SPOOL");
    smtp_port_ = static_cast<uint16_t>(std::stoi(smtp_port));
    smtps_port_ = static_cast<uint16_t>(std::stoi(smtps_port));
    ca_file_ = ca_file;
    password_ = password;
    spool_ = spool;
  }

  // Options for the sink: host "localhost" (what its certificate names), our CA, AUTH.
  SmtpOptions Options(Tls tls) const {
    SmtpOptions options;
    options.host = "localhost";
    options.port = tls == Tls::kImplicit ? smtps_port_ : smtp_port_;
    options.tls = tls;
    options.ca_file = ca_file_;
    options.username = "itest";
    options.password = password_;
    options.timeout = 10s;
    return options;
  }

  std::unique_ptr<SmtpTransport> MustConnect(const SmtpOptions& options) {
    base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
    EXPECT_TRUE(transport.ok()) << (transport.ok() ? "" : transport.error().message);
    return transport.ok() ? std::move(transport).value() : nullptr;
  }

  // Sends one generated message and checks that the sink stored exactly its bytes.
  void ExpectDeliveredByteForByte(Tls tls) {
    std::unique_ptr<SmtpTransport> transport = MustConnect(Options(tls));
    ASSERT_NE(transport, nullptr);
    const std::string id = UniqueId("bytes");
    const std::string raw = Compose(id, kSubject, "Hallo,\r\n\r\nder Drucker druckt wieder.\r\n-- \r\nGrüße\r\n");
    ASSERT_TRUE(transport->Send({kFrom, {kTo}}, raw).ok());

    std::map<std::string, Spooled> spooled = WaitForSpooled(spool_, {id});
    ASSERT_EQ(spooled.count(id), 1u) << "message " << id << " did not arrive within 10 s";
    EXPECT_EQ(spooled[id].raw, raw);
    EXPECT_EQ(spooled[id].envelope["mail_from"], kFrom);
    EXPECT_EQ(spooled[id].envelope["rcpt_tos"], nlohmann::json::array({kTo}));
    // aiosmtpd 1.4.3 sets session.ssl only after STARTTLS, so the sink reports
    // "tls": false on its implicit-TLS port; that port speaks nothing but TLS.
    if (tls == Tls::kStartTls) {
      EXPECT_EQ(spooled[id].envelope["tls"], true);
    }

    const std::string field = RawSubjectField(spooled[id].raw);
    EXPECT_NE(field.find("=?utf-8?"), std::string::npos) << field;
    for (unsigned char c : field) ASSERT_LT(c, 0x80) << "raw 8-bit in " << field;
    EXPECT_EQ(DecodedSubject(spooled[id].raw), kSubject) << field;
  }

  // Sends to `recipients`, of which the last is one the sink refuses, and
  // checks the error and last_reply() for that refusal.
  void ExpectRecipientRefused(SmtpTransport& transport, const std::vector<std::string>& recipients, ErrorKind kind,
                              int code, const std::string& enhanced) {
    const std::string& refused = recipients.back();
    base::Status status = transport.Send({kFrom, recipients}, Compose(UniqueId("refused"), "x", "x\r\n"));
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, kind) << status.error().message;
    EXPECT_NE(status.error().message.find(std::to_string(code) + " " + enhanced), std::string::npos)
        << status.error().message;
    ASSERT_TRUE(transport.last_reply().has_value());
    EXPECT_EQ(transport.last_reply()->code, code);
    EXPECT_EQ(transport.last_reply()->enhanced_status, enhanced);
    EXPECT_EQ(transport.last_reply()->recipient, refused);
    EXPECT_EQ(transport.last_reply()->command, "RCPT TO:<" + refused + ">");
  }

  uint16_t smtp_port_ = 0;
  uint16_t smtps_port_ = 0;
  std::string ca_file_;
  std::string password_;
  std::string spool_;
};

TEST_F(SmtpTransportTest, StartTlsDeliversGeneratedMessageByteForByte) { ExpectDeliveredByteForByte(Tls::kStartTls); }

TEST_F(SmtpTransportTest, ImplicitTlsDeliversGeneratedMessageByteForByte) {
  ExpectDeliveredByteForByte(Tls::kImplicit);
}

// Dot-stuffing: lines that are ".", "..", ".x", and a '.' followed by CRLF at
// every multiple of 512 bytes, where vmime's filter would split its input.
TEST_F(SmtpTransportTest, DotsAtLineStartsAndChunkBoundariesSurvive) {
  const std::string id = UniqueId("dots");
  std::string raw = "From: <" + std::string(kFrom) + ">\r\nTo: <" + kTo + ">\r\nSubject: dots\r\nMessage-ID: <" + id +
                    "@mailforum.test>\r\n\r\n.\r\n..\r\n.leading dot\r\n...\r\n";
  while (raw.size() < 70000) {
    const size_t target = (raw.size() / 512 + 1) * 512;  // This line's '.' goes to byte target - 1.
    raw += std::string(target - 1 - raw.size(), 'x') + ".\r\n";
    if (raw.size() % 3 == 0) raw += ".\r\n";
  }
  raw += "last line ends with a dot.\r\n";

  std::unique_ptr<SmtpTransport> transport = MustConnect(Options(Tls::kStartTls));
  ASSERT_NE(transport, nullptr);
  ASSERT_TRUE(transport->Send({kFrom, {kTo}}, raw).ok());
  std::map<std::string, Spooled> spooled = WaitForSpooled(spool_, {id});
  ASSERT_EQ(spooled.count(id), 1u);
  EXPECT_EQ(spooled[id].raw.size(), raw.size());
  EXPECT_TRUE(spooled[id].raw == raw) << "the spooled message differs from the one sent";
}

TEST_F(SmtpTransportTest, FiftyMessagesOverOneConnection) {
  std::unique_ptr<SmtpTransport> transport = MustConnect(Options(Tls::kStartTls));
  ASSERT_NE(transport, nullptr);
  std::set<std::string> ids;
  std::map<std::string, std::string> sent;
  for (int i = 0; i < 50; ++i) {
    const std::string id = UniqueId("fifty");
    sent[id] = Compose(id, "Nachricht " + std::to_string(i) + " von 50", "Text " + std::to_string(i) + "\r\n");
    ids.insert(id);
    base::Status status = transport->Send({kFrom, {kTo}}, sent[id]);
    ASSERT_TRUE(status.ok()) << "message " << i << ": " << status.error().message;
  }
  std::map<std::string, Spooled> spooled = WaitForSpooled(spool_, ids);
  ASSERT_EQ(spooled.size(), 50u);
  std::set<std::string> peers;
  for (const auto& [id, message] : spooled) {
    EXPECT_EQ(message.raw, sent[id]);
    peers.insert(message.envelope["peer"].dump());
  }
  EXPECT_EQ(peers.size(), 1u) << "expected one connection (one client port), saw " << peers.size();
}

// One transport per thread, as the outbox workers will run them.
TEST_F(SmtpTransportTest, TransportsOnSeveralThreadsAtOnce) {
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::set<std::string>> ids(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      base::Result<std::unique_ptr<SmtpTransport>> transport =
          SmtpTransport::Connect(Options(t % 2 == 0 ? Tls::kStartTls : Tls::kImplicit));
      if (!transport.ok()) {
        errors[t] = transport.error().message;
        return;
      }
      for (int i = 0; i < kEach && errors[t].empty(); ++i) {
        const std::string id = UniqueId("thread" + std::to_string(t));
        base::Status status = (*transport)->Send({kFrom, {kTo}}, Compose(id, "thread", "x\r\n"));
        if (!status.ok()) errors[t] = status.error().message;
        ids[t].insert(id);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::set<std::string> all;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    all.insert(ids[t].begin(), ids[t].end());
  }
  EXPECT_EQ(WaitForSpooled(spool_, all).size(), static_cast<size_t>(kThreads * kEach));
}

TEST_F(SmtpTransportTest, ConnectsToAnIpAddressTheCertificateNames) {
  SmtpOptions options = Options(Tls::kImplicit);
  options.host = "127.0.0.1";
  EXPECT_NE(MustConnect(options), nullptr);
}

TEST_F(SmtpTransportTest, PlainConnectionAllowedToLoopbackOnly) {
  SmtpOptions options = Options(Tls::kNone);
  options.host = "127.0.0.1";
  options.username.clear();
  std::unique_ptr<SmtpTransport> transport = MustConnect(options);
  ASSERT_NE(transport, nullptr);
  const std::string id = UniqueId("plain");
  const std::string raw = Compose(id, "plain", "no TLS on loopback\r\n");
  ASSERT_TRUE(transport->Send({kFrom, {kTo}}, raw).ok());
  std::map<std::string, Spooled> spooled = WaitForSpooled(spool_, {id});
  ASSERT_EQ(spooled.count(id), 1u);
  EXPECT_EQ(spooled[id].raw, raw);
  EXPECT_EQ(spooled[id].envelope["tls"], false);
}

TEST_F(SmtpTransportTest, PlainConnectionToOtherHostIsConfigErrorWithoutConnecting) {
  SmtpOptions options = Options(Tls::kNone);
  options.host = "192.0.2.1";  // TEST-NET-1: a connection attempt would hang until the timeout.
  const auto start = std::chrono::steady_clock::now();
  base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.error().kind, ErrorKind::kConfig) << transport.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(SmtpTransportTest, SystemTrustStoreDoesNotTrustTheTestCa) {
  for (Tls tls : {Tls::kStartTls, Tls::kImplicit}) {
    SmtpOptions options = Options(tls);
    options.ca_file.clear();
    base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
    ASSERT_FALSE(transport.ok());
    EXPECT_EQ(transport.error().kind, ErrorKind::kPermanent) << transport.error().message;
    EXPECT_NE(transport.error().message.find("not valid"), std::string::npos) << transport.error().message;
  }
}

TEST_F(SmtpTransportTest, CertificateForAnotherHostIsRefused) {
  MAILFORUM_REQUIRE_SERVER(trap_port, "MAILFORUM_TEST_TRAP_PORT");
  MAILFORUM_REQUIRE_SERVER(trap_log, "MAILFORUM_TEST_TRAP_LOG");
  SmtpOptions options = Options(Tls::kImplicit);
  options.port = static_cast<uint16_t>(std::stoi(trap_port));
  base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.error().kind, ErrorKind::kPermanent) << transport.error().message;
  EXPECT_NE(transport.error().message.find("wrong.invalid"), std::string::npos) << transport.error().message;
  // Nothing was said inside the TLS session: no EHLO, let alone AUTH.
  EXPECT_EQ(ReadFile(trap_log).find("EHLO"), std::string::npos);
}

TEST_F(SmtpTransportTest, PinDecidesAlone) {
  SmtpOptions options = Options(Tls::kImplicit);
  options.tls_sha256 = std::string(64, '0');
  base::Result<std::unique_ptr<SmtpTransport>> wrong = SmtpTransport::Connect(options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kPermanent) << wrong.error().message;
  const std::string& message = wrong.error().message;
  const size_t got = message.find(", got ");
  ASSERT_NE(got, std::string::npos) << message;

  // The server's real fingerprint, taken from the refusal, is accepted, even without the CA.
  options.tls_sha256 = message.substr(got + 6);
  options.ca_file.clear();
  EXPECT_NE(MustConnect(options), nullptr);
}

TEST_F(SmtpTransportTest, WrongPasswordIsPermanent) {
  SmtpOptions options = Options(Tls::kStartTls);
  options.password = "not-" + password_;
  base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.error().kind, ErrorKind::kPermanent) << transport.error().message;
  EXPECT_EQ(transport.error().message.find(options.password), std::string::npos) << "the password leaked";
}

TEST_F(SmtpTransportTest, RejectedRecipientIsPermanentWithTheServersReply) {
  std::unique_ptr<SmtpTransport> transport = MustConnect(Options(Tls::kStartTls));
  ASSERT_NE(transport, nullptr);
  ExpectRecipientRefused(*transport, {"reject550-nobody@example.test"}, ErrorKind::kPermanent, 550, "5.1.1");

  // The transport goes on working for the next message.
  const std::string id = UniqueId("after550");
  ASSERT_TRUE(transport->Send({kFrom, {kTo}}, Compose(id, "after", "ok\r\n")).ok());
  EXPECT_FALSE(transport->last_reply().has_value());
  EXPECT_EQ(WaitForSpooled(spool_, {id}).size(), 1u);
}

TEST_F(SmtpTransportTest, DeferredRecipientIsTransient) {
  std::unique_ptr<SmtpTransport> transport = MustConnect(Options(Tls::kImplicit));
  ASSERT_NE(transport, nullptr);
  ExpectRecipientRefused(*transport, {kTo, "defer451-later@example.test"}, ErrorKind::kTransient, 451, "4.3.0");
}

TEST_F(SmtpTransportTest, MalformedInputIsRefusedBeforeSending) {
  std::unique_ptr<SmtpTransport> transport = MustConnect(Options(Tls::kStartTls));
  ASSERT_NE(transport, nullptr);
  const std::string good = Compose(UniqueId("bad"), "x", "x\r\n");
  const std::vector<std::pair<Envelope, std::string>> cases = {
      {{kFrom, {}}, good},
      {{"", {kTo}}, good},
      {{kFrom, {"a@b>\r\nRCPT TO:<evil@example.test"}}, good},
      {{kFrom, {"no-at-sign"}}, good},
      {{kFrom, {kTo}}, "Subject: bare LF\n\nbody\n"},
      {{kFrom, {kTo}}, ".starts with a dot\r\n"},
  };
  for (const auto& [envelope, message] : cases) {
    base::Status status = transport->Send(envelope, message);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().kind, ErrorKind::kInvalidInput) << status.error().message;
  }
}

TEST_F(SmtpTransportTest, DisconnectThenSendReconnects) {
  std::unique_ptr<SmtpTransport> transport = MustConnect(Options(Tls::kStartTls));
  ASSERT_NE(transport, nullptr);
  transport->Disconnect();
  EXPECT_FALSE(transport->connected());
  const std::string id = UniqueId("reconnect");
  ASSERT_TRUE(transport->Send({kFrom, {kTo}}, Compose(id, "again", "x\r\n")).ok());
  EXPECT_TRUE(transport->connected());
  EXPECT_EQ(WaitForSpooled(spool_, {id}).size(), 1u);
}

// Not a pass/fail test: messages per second with our socket and with vmime's,
// one connection each, over STARTTLS (shared/TESTENV.md, vmime pitfall 1).
TEST_F(SmtpTransportTest, ThroughputOurSocketVersusVmimeStock) {
  constexpr int kMessages = 100;
  for (SmtpOptions::Socket socket : {SmtpOptions::Socket::kOurs, SmtpOptions::Socket::kVmimeStock}) {
    const char* name = socket == SmtpOptions::Socket::kOurs ? "ours" : "vmime_stock";
    SmtpOptions options = Options(Tls::kStartTls);
    options.socket = socket;
    const auto connect_start = std::chrono::steady_clock::now();
    std::unique_ptr<SmtpTransport> transport = MustConnect(options);
    ASSERT_NE(transport, nullptr);
    const auto connect_time = std::chrono::steady_clock::now() - connect_start;
    std::vector<std::string> messages;
    for (int i = 0; i < kMessages; ++i) messages.push_back(Compose(UniqueId(name), "bench", "x\r\n"));
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& message : messages) ASSERT_TRUE(transport->Send({kFrom, {kTo}}, message).ok());
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = kMessages / seconds;
    const double connect_ms = std::chrono::duration<double, std::milli>(connect_time).count();
    std::cout << "[ throughput ] socket=" << name << ": " << static_cast<int>(rate) << " messages/s over STARTTLS ("
              << kMessages << " in " << seconds << " s); connect+STARTTLS+AUTH " << connect_ms << " ms\n";
    RecordProperty(std::string(name) + "_messages_per_second", static_cast<int>(rate));
  }
}

// ---------------------------------------------------------------------------
// A scripted plain SMTP server on 127.0.0.1 for what the sink cannot do:
// drop a connection at a chosen point, or never answer. It serves one
// connection at a time, in order; connection i follows script[i] (later ones
// are served normally).
class FakeSmtpServer {
 public:
  enum class Fault {
    kNone,
    kSilent,          // Accepts the connection and never says a word.
    k421OnNextMail,   // After `messages` deliveries, answers the next command with 421 and closes.
    kCloseInData,     // After `messages` deliveries, answers DATA with 354 and closes amid the data.
    // Offers STARTTLS and answers it with "220 go ahead\r\n250 injected\r\n" in one write (a man in the
    // middle appending a reply), then records whatever the client sends.
    kInjectAfterStartTls,
    // The same reply, pipelined ahead: appended to the answer to EHLO, so that the client finds it
    // already buffered when it sends STARTTLS (which is then not answered).
    kInjectBeforeStartTls,
    // Answers STARTTLS with "220 go ahead" alone, records the first bytes the client sends (its TLS
    // ClientHello) and closes: the control case, where the client must go on to the handshake.
    kStartTlsThenClose,
  };
  struct Step {
    Fault fault = Fault::kNone;
    int messages = 0;
  };

  explicit FakeSmtpServer(std::vector<Step> script) : script_(std::move(script)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), size) != 0 || ::listen(listener_, 8) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      ADD_FAILURE() << "fake SMTP server cannot listen";
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~FakeSmtpServer() {
    ::shutdown(listener_, SHUT_RDWR);  // Wakes accept().
    if (const int client = client_.load(); client >= 0) ::shutdown(client, SHUT_RDWR);  // Wakes recv().
    thread_.join();
    ::close(listener_);
  }

  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  // Waits up to 10 s until `n` connections have been served to their end.
  bool WaitForServed(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return served_changed_.wait_for(lock, 10s, [&] { return served_ >= n; });
  }
  // What the clients sent after their STARTTLS command.
  std::string after_starttls() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return after_starttls_;
  }
  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return messages_;
  }

 private:
  void Run() {
    while (true) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      client_ = fd;
      const size_t index = static_cast<size_t>(connections_++);
      Serve(fd, index < script_.size() ? script_[index] : Step{});
      client_ = -1;
      ::close(fd);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ++served_;
      }
      served_changed_.notify_all();
    }
  }

  // One line without its CRLF, or nullopt when the client has gone.
  std::optional<std::string> ReadLine(int fd, std::string& buffer) {
    while (buffer.find("\r\n") == std::string::npos) {
      char chunk[4096];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) return std::nullopt;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    const size_t end = buffer.find("\r\n");
    std::string line = buffer.substr(0, end);
    buffer.erase(0, end + 2);
    return line;
  }

  static void Say(int fd, const std::string& text) { ::send(fd, text.data(), text.size(), MSG_NOSIGNAL); }

  // Appends to after_starttls_ what is buffered and what arrives until the
  // client closes (or only the first chunk).
  void RecordUntilClosed(int fd, std::string& buffer, bool first_chunk_only) {
    std::string received = std::move(buffer);
    while (received.empty() || !first_chunk_only) {
      char chunk[4096];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      received.append(chunk, static_cast<size_t>(n));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    after_starttls_ += received;
  }

  void Serve(int fd, Step step) {
    std::string buffer;
    if (step.fault == Fault::kSilent) {
      while (ReadLine(fd, buffer)) {
      }
      return;
    }
    const bool starttls = step.fault == Fault::kInjectAfterStartTls || step.fault == Fault::kInjectBeforeStartTls ||
                          step.fault == Fault::kStartTlsThenClose;
    // Multi-line replies, so that the client's count of replies is tried too.
    Say(fd, starttls ? "220-fake ESMTP\r\n220 hello\r\n" : "220 fake ESMTP\r\n");
    int delivered = 0;
    while (std::optional<std::string> line = ReadLine(fd, buffer)) {
      const std::string verb = line->substr(0, 4);
      const bool due = delivered >= step.messages;
      if (starttls && (verb == "EHLO" || verb == "HELO")) {
        Say(fd, std::string("250-fake\r\n250-STARTTLS\r\n250 8BITMIME\r\n") +
                    (step.fault == Fault::kInjectBeforeStartTls ? "220 go ahead\r\n250 injected\r\n" : ""));
      } else if (starttls && verb == "STAR") {
        if (step.fault == Fault::kInjectAfterStartTls) Say(fd, "220 go ahead\r\n250 injected\r\n");
        if (step.fault == Fault::kStartTlsThenClose) Say(fd, "220 go ahead\r\n");
        RecordUntilClosed(fd, buffer, /*first_chunk_only=*/step.fault == Fault::kStartTlsThenClose);
        return;
      } else if (verb == "EHLO" || verb == "HELO") {
        Say(fd, "250-fake\r\n250 8BITMIME\r\n");
      } else if (verb == "QUIT") {
        Say(fd, "221 bye\r\n");
        return;
      } else if (step.fault == Fault::k421OnNextMail && due) {
        Say(fd, "421 4.4.2 fake: closing idle connection\r\n");
        return;
      } else if (verb == "DATA") {
        Say(fd, "354 go ahead\r\n");
        if (step.fault == Fault::kCloseInData && due) {
          ReadLine(fd, buffer);
          return;
        }
        std::string message;
        while (std::optional<std::string> data = ReadLine(fd, buffer)) {
          if (*data == ".") break;
          message += (data->compare(0, 1, ".") == 0 ? data->substr(1) : *data) + "\r\n";
        }
        {
          std::lock_guard<std::mutex> lock(mutex_);
          messages_.push_back(message);
        }
        ++delivered;
        Say(fd, "250 2.0.0 queued\r\n");
      } else {
        Say(fd, "250 ok\r\n");
      }
    }
  }

  std::vector<Step> script_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> client_{-1};  // The connection being served, if any.
  mutable std::mutex mutex_;
  std::condition_variable served_changed_;
  int served_ = 0;              // connections served to their end; guarded by mutex_
  std::string after_starttls_;  // guarded by mutex_
  std::vector<std::string> messages_;
  std::thread thread_;
};

SmtpOptions FakeOptions(const FakeSmtpServer& server) {
  SmtpOptions options;
  options.host = "127.0.0.1";
  options.port = server.port();
  options.tls = Tls::kNone;
  options.timeout = 2s;
  return options;
}

class SmtpTransportFaultTest : public ::testing::Test {
 protected:
  static constexpr char kFirst[] = "Subject: one\r\n\r\none\r\n";
  static constexpr char kSecond[] = "Subject: two\r\n\r\ntwo\r\n";

  static void SetUpTestSuite() { InitializeMailLibraries(); }

  // Connects to `server` and sends kFirst, which must arrive, then kSecond;
  // returns how the second Send() went. The transport stays in transport_.
  base::Status SendTwo(const FakeSmtpServer& server) {
    base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(FakeOptions(server));
    if (!transport.ok()) return transport.error();
    transport_ = std::move(transport).value();
    if (base::Status first = transport_->Send({kFrom, {kTo}}, kFirst); !first.ok()) return first;
    return transport_->Send({kFrom, {kTo}}, kSecond);
  }

  std::unique_ptr<SmtpTransport> transport_;
};

// The server closed an idle connection that still looked open (it answers
// the next command with 421): Send() reconnects once and delivers.
TEST_F(SmtpTransportFaultTest, ReconnectsOnceWhenTheServerDroppedTheConnection) {
  FakeSmtpServer server({{FakeSmtpServer::Fault::k421OnNextMail, 1}});
  base::Status second = SendTwo(server);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.messages(), (std::vector<std::string>{kFirst, kSecond}));
}

// Once the message data has started to flow, a lost connection is reported,
// not retried: the message may have been delivered.
TEST_F(SmtpTransportFaultTest, NoRetryOnceTheDataHasStarted) {
  FakeSmtpServer server({{FakeSmtpServer::Fault::kCloseInData, 1}});
  base::Status lost = SendTwo(server);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().kind, ErrorKind::kTransient) << lost.error().message;
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.messages(), std::vector<std::string>{kFirst});
  EXPECT_FALSE(transport_->last_reply().has_value());

  // The next message goes over a new connection.
  ASSERT_TRUE(transport_->Send({kFrom, {kTo}}, "Subject: three\r\n\r\nthree\r\n").ok());
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(SmtpTransportFaultTest, SilentServerTimesOut) {
  FakeSmtpServer server({{FakeSmtpServer::Fault::kSilent, 0}});
  SmtpOptions options = FakeOptions(server);
  options.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.error().kind, ErrorKind::kTransient) << transport.error().message;
  EXPECT_NE(transport.error().message.find("300 ms"), std::string::npos) << transport.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(SmtpTransportFaultTest, RefusedConnectionIsTransient) {
  uint16_t port = 0;
  {
    FakeSmtpServer server({});
    port = server.port();
  }
  SmtpOptions options;
  options.host = "127.0.0.1";
  options.port = port;  // Nobody listens there any more.
  options.tls = Tls::kNone;
  base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.error().kind, ErrorKind::kTransient) << transport.error().message;
  EXPECT_NE(transport.error().message.find("refused"), std::string::npos) << transport.error().message;
}

// Issue 8 item 9: a man in the middle appends "250 injected" to the server's
// plaintext "220" answer to STARTTLS. vmime would keep it buffered and read
// it after the handshake as the answer to EHLO; the transport refuses before
// the handshake and sends nothing more: no TLS, no AUTH, no MAIL FROM.
TEST_F(SmtpTransportFaultTest, PlaintextInjectedAfterTheAnswerToStartTlsIsRefused) {
  for (FakeSmtpServer::Fault fault : {FakeSmtpServer::Fault::kInjectAfterStartTls,
                                      FakeSmtpServer::Fault::kInjectBeforeStartTls}) {
    SCOPED_TRACE(fault == FakeSmtpServer::Fault::kInjectAfterStartTls ? "after" : "pipelined before");
    FakeSmtpServer server({{fault, 0}});
    SmtpOptions options = FakeOptions(server);
    options.tls = Tls::kStartTls;
    options.username = "itest";
    options.password = "secret";
    base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
    ASSERT_FALSE(transport.ok());
    EXPECT_EQ(transport.error().kind, ErrorKind::kProtocol) << transport.error().message;
    EXPECT_NE(transport.error().message.find("SMTP 127.0.0.1:" + std::to_string(server.port())), std::string::npos)
        << transport.error().message;
    EXPECT_NE(transport.error().message.find("injection"), std::string::npos) << transport.error().message;
    ASSERT_TRUE(server.WaitForServed(1));
    EXPECT_EQ(server.after_starttls(), "");
  }
}

// The control: a "220" alone leads to the TLS handshake (the fake server
// cannot do TLS and hangs up after the ClientHello). The delivery over
// STARTTLS to the real sink (StartTlsDeliversGeneratedMessageByteForByte) is
// the same path carried through.
TEST_F(SmtpTransportFaultTest, AnswerToStartTlsAloneGoesOnToTheHandshake) {
  FakeSmtpServer server({{FakeSmtpServer::Fault::kStartTlsThenClose, 0}});
  SmtpOptions options = FakeOptions(server);
  options.tls = Tls::kStartTls;
  base::Result<std::unique_ptr<SmtpTransport>> transport = SmtpTransport::Connect(options);
  ASSERT_FALSE(transport.ok());
  EXPECT_EQ(transport.error().kind, ErrorKind::kTransient) << transport.error().message;
  EXPECT_EQ(transport.error().message.find("injection"), std::string::npos) << transport.error().message;
  ASSERT_TRUE(server.WaitForServed(1));
  const std::string hello = server.after_starttls();
  ASSERT_FALSE(hello.empty());
  EXPECT_EQ(hello[0], '\x16') << "not a TLS handshake record";
}

}  // namespace
}  // namespace mail
