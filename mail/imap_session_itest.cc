// ImapSession against the real Dovecot of scripts/testenv: STARTTLS and
// implicit TLS, by host name and by IP address, and the refusals that protect
// the password (untrusted CA, wrong host name, wrong pin, clear text to a
// remote host).
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "mail/imap_session.h"
#include "mail/library_init.h"
#include "mail/tls_verify.h"
#include "tests/support/test_env.h"

namespace mail {
namespace {

using base::ErrorKind;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Tls = ImapOptions::Tls;
using Clock = std::chrono::steady_clock;

// CRLF line ends, 8-bit bytes and a long line: what FetchBatch returns must be these bytes exactly.
const std::string kMessage =
    "From: Alice <alice@example.com>\r\n"
    "To: help@example.com\r\n"
    "Subject: printer on 3rd floor \xc3\xa9\r\n"
    "Message-ID: <itest.1@example.com>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "The printer says PC LOAD LETTER. \xe2\x9c\x93\r\n" +
    std::string(900, 'x') + "\r\n" +
    "-- \r\nAlice\r\n";

std::string NumberedMessage(int n) {
  return "Subject: message " + std::to_string(n) + "\r\nMessage-ID: <n" + std::to_string(n) +
         "@example.com>\r\n\r\nbody " + std::to_string(n) + "\r\n";
}

// Appends NumberedMessage(1..count) to INBOX; their UIDs (fewer after a recorded failure).
std::vector<uint32_t> AppendNumbered(ImapSession& session, int count) {
  std::vector<uint32_t> uids;
  for (int i = 1; i <= count; ++i) {
    base::Result<std::optional<uint32_t>> uid = session.Append("INBOX", NumberedMessage(i));
    if (!uid.ok() || !uid->has_value()) {
      ADD_FAILURE() << "APPEND " << i << ": " << (uid.ok() ? "no APPENDUID" : uid.error().message);
      break;
    }
    uids.push_back(**uid);
  }
  return uids;
}

// A user name no earlier run has used: Dovecot gives it an empty Maildir.
std::string FreshUser() {
  static std::atomic<int> counter{0};
  return "imap" + std::to_string(getpid()) + "t" +
         std::to_string(std::chrono::system_clock::now().time_since_epoch().count() % 1000000000) + "n" +
         std::to_string(counter++);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A port on 127.0.0.1 where nothing listens (bound, then released).
uint16_t UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct TimedIdle {
  base::Result<IdleOutcome> outcome;
  Clock::duration waited;
};

// Idles on `session` for up to `max_wait`; `meanwhile`, when given, runs on
// another thread 300 ms into the wait.
TimedIdle IdleWhile(ImapSession& session, std::chrono::milliseconds max_wait,
                    const std::function<void()>& meanwhile = nullptr) {
  std::thread other;
  if (meanwhile) {
    other = std::thread([&meanwhile] {
      std::this_thread::sleep_for(milliseconds(300));
      meanwhile();
    });
  }
  const auto start = Clock::now();
  base::Result<IdleOutcome> outcome = session.Idle(max_wait);
  TimedIdle timed{std::move(outcome), Clock::now() - start};
  if (other.joinable()) other.join();
  return timed;
}

class ImapTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { InitializeMailLibraries(); }

  void SetUp() override {
    MAILFORUM_REQUIRE_SERVER(ca_file, "MAILFORUM_TEST_CA_FILE");
    MAILFORUM_REQUIRE_SERVER(imap_port, "MAILFORUM_TEST_IMAP_PORT");
    MAILFORUM_REQUIRE_SERVER(imaps_port, "MAILFORUM_TEST_IMAPS_PORT");
    MAILFORUM_REQUIRE_SERVER(password, "MAILFORUM_TEST_IMAP_PASSWORD");
    MAILFORUM_REQUIRE_SERVER(home, "MAILFORUM_TEST_IMAP_HOME");
    MAILFORUM_REQUIRE_SERVER(trap_port, "MAILFORUM_TEST_TRAP_PORT");
    MAILFORUM_REQUIRE_SERVER(trap_log, "MAILFORUM_TEST_TRAP_LOG");
    ca_file_ = ca_file;
    imap_port_ = static_cast<uint16_t>(std::stoi(imap_port));
    imaps_port_ = static_cast<uint16_t>(std::stoi(imaps_port));
    trap_port_ = static_cast<uint16_t>(std::stoi(trap_port));
    password_ = password;
    home_ = home;
    trap_log_ = trap_log;
  }

  ImapOptions Options(Tls tls, const std::string& host = "localhost") const {
    ImapOptions options;
    options.host = host;
    options.port = tls == Tls::kImplicit ? imaps_port_ : imap_port_;
    options.tls = tls;
    options.ca_file = ca_file_;
    options.username = user_;
    options.password = password_;
    // Dovecot delays logins from an IP for a few seconds after a failed one (its auth penalty).
    options.timeout = seconds(20);
    return options;
  }

  // The session, or null after recording a failure.
  static std::unique_ptr<ImapSession> MustConnect(const ImapOptions& options) {
    base::Result<std::unique_ptr<ImapSession>> session = ImapSession::Connect(options);
    if (!session.ok()) {
      ADD_FAILURE() << "connect: " << session.error().message;
      return nullptr;
    }
    return std::move(session).value();
  }

  // The error Connect() fails with (a test failure when it connects).
  static base::Error ConnectError(const ImapOptions& options) {
    base::Result<std::unique_ptr<ImapSession>> session = ImapSession::Connect(options);
    if (session.ok()) {
      ADD_FAILURE() << "connected to " << options.host << ":" << options.port << "; expected a refusal";
      return base::MakeError(ErrorKind::kInternal, "connected");
    }
    return session.error();
  }

  // The Maildir flag letters ("S", "ST", ...) of every message file of the user's INBOX.
  std::vector<std::string> MaildirFlags() const {
    std::vector<std::string> flags;
    for (const char* sub : {"/Maildir/new", "/Maildir/cur"}) {
      std::filesystem::path dir = home_ + "/" + user_ + sub;
      if (!std::filesystem::exists(dir)) continue;
      for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::string name = entry.path().filename().string();
        size_t info = name.find(":2,");
        flags.push_back(info == std::string::npos ? "" : name.substr(info + 3));
      }
    }
    return flags;
  }

  std::string ca_file_;
  uint16_t imap_port_ = 0;
  uint16_t imaps_port_ = 0;
  uint16_t trap_port_ = 0;
  std::string password_;
  std::string home_;
  std::string trap_log_;
  std::string user_ = FreshUser();
};

// --- the normal flow, over both TLS modes and both ways of naming the server ---

struct Endpoint {
  Tls tls;
  const char* host;
};

class ImapFlowTest : public ImapTest, public ::testing::WithParamInterface<Endpoint> {
 protected:
  ImapOptions Options() const { return ImapTest::Options(GetParam().tls, GetParam().host); }
};

TEST_P(ImapFlowTest, AppendThenFetchBackByteForByte) {
  auto session = MustConnect(Options());
  ASSERT_TRUE(session);
  EXPECT_TRUE(session->HasCapability("IDLE"));
  EXPECT_TRUE(session->HasCapability("uidplus"));

  base::Result<ImapFolderState> empty = session->Select("INBOX");
  ASSERT_TRUE(empty.ok()) << empty.error().message;
  EXPECT_NE(empty->uidvalidity, 0u);
  EXPECT_GE(empty->uidnext, 1u);
  EXPECT_EQ(empty->exists, 0u);

  const auto before = std::chrono::system_clock::now();
  base::Result<std::optional<uint32_t>> appended = session->Append("INBOX", kMessage);
  ASSERT_TRUE(appended.ok()) << appended.error().message;
  ASSERT_TRUE(appended->has_value()) << "Dovecot has UIDPLUS: APPENDUID expected";
  const uint32_t uid = **appended;
  EXPECT_EQ(uid, empty->uidnext);

  base::Result<ImapFolderState> one = session->Select("INBOX");
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(one->uidvalidity, empty->uidvalidity);
  EXPECT_EQ(one->uidnext, uid + 1);
  EXPECT_EQ(one->exists, 1u);

  base::Result<std::vector<uint32_t>> all = session->UidSearchAll();
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_EQ(*all, std::vector<uint32_t>{uid});

  base::Result<std::vector<ImapMessage>> fetched = session->FetchBatch({uid});
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  ASSERT_EQ(fetched->size(), 1u);
  const ImapMessage& message = fetched->front();
  EXPECT_EQ(message.uid, uid);
  EXPECT_EQ(message.raw, kMessage);
  EXPECT_EQ(message.size, kMessage.size());
  // INTERNALDATE has whole seconds.
  EXPECT_GE(message.internal_date, before - seconds(2));
  EXPECT_LE(message.internal_date, std::chrono::system_clock::now() + seconds(2));
  // BODY.PEEK[] leaves the message unread.
  EXPECT_EQ(MaildirFlags(), std::vector<std::string>{""});

  EXPECT_TRUE(session->Logout().ok());
  EXPECT_FALSE(session->alive());
}

TEST_P(ImapFlowTest, StoreFlagsMarksMessagesSeen) {
  auto session = MustConnect(Options());
  ASSERT_TRUE(session);
  base::Result<std::optional<uint32_t>> first = session->Append("INBOX", NumberedMessage(1));
  base::Result<std::optional<uint32_t>> second = session->Append("INBOX", NumberedMessage(2));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(session->Select("INBOX").ok());

  base::Status stored = session->StoreFlags({**first}, "\\Seen");
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  std::vector<std::string> flags = MaildirFlags();
  std::sort(flags.begin(), flags.end());
  EXPECT_EQ(flags, (std::vector<std::string>{"", "S"}));

  EXPECT_TRUE(session->StoreFlags({**second}, "$Forwarded").ok());
  base::Status bad = session->StoreFlags({**second}, "two words");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalidInput);
  EXPECT_TRUE(session->StoreFlags({}, "\\Seen").ok()) << "an empty set is a no-op";
}

TEST_P(ImapFlowTest, MoveToCreatedFolderThenDelete) {
  auto session = MustConnect(Options());
  ASSERT_TRUE(session);
  base::Status created = session->CreateFolder("Processed");
  ASSERT_TRUE(created.ok()) << created.error().message;
  created = session->CreateFolder("Processed");
  EXPECT_TRUE(created.ok()) << "an existing folder is fine: " << created.error().message;

  std::vector<uint32_t> uids = AppendNumbered(*session, 3);
  ASSERT_EQ(uids.size(), 3u);
  ASSERT_TRUE(session->Select("INBOX").ok());

  base::Status moved = session->Move({uids[0], uids[1]}, "Processed");
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  base::Result<std::vector<uint32_t>> left = session->UidSearchAll();
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(*left, std::vector<uint32_t>{uids[2]});

  base::Status nowhere = session->Move({uids[2]}, "NoSuchFolder");
  ASSERT_FALSE(nowhere.ok());
  EXPECT_EQ(nowhere.error().kind, ErrorKind::kPermanent);
  EXPECT_TRUE(Contains(nowhere.error().message, "NoSuchFolder")) << nowhere.error().message;

  base::Status deleted = session->Delete({uids[2]});
  ASSERT_TRUE(deleted.ok()) << deleted.error().message;
  base::Result<ImapFolderState> inbox = session->Select("INBOX");
  ASSERT_TRUE(inbox.ok());
  EXPECT_EQ(inbox->exists, 0u);

  base::Result<ImapFolderState> processed = session->Select("Processed");
  ASSERT_TRUE(processed.ok()) << processed.error().message;
  EXPECT_EQ(processed->exists, 2u);
  base::Result<std::vector<uint32_t>> moved_uids = session->UidSearchAll();
  ASSERT_TRUE(moved_uids.ok());
  base::Result<std::vector<ImapMessage>> fetched = session->FetchBatch(*moved_uids);
  ASSERT_TRUE(fetched.ok()) << fetched.error().message;
  ASSERT_EQ(fetched->size(), 2u);
  EXPECT_EQ((*fetched)[0].raw, NumberedMessage(1));
  EXPECT_EQ((*fetched)[1].raw, NumberedMessage(2));
}

TEST_P(ImapFlowTest, IdleWakesWhenAnotherSessionAppends) {
  auto watcher = MustConnect(Options());
  ASSERT_TRUE(watcher);
  ASSERT_TRUE(watcher->Select("INBOX").ok());

  TimedIdle woke = IdleWhile(*watcher, seconds(20), [options = Options()] {
    auto writer = MustConnect(options);
    if (writer) {
      EXPECT_TRUE(writer->Append("INBOX", NumberedMessage(7)).ok());
    }
  });
  ASSERT_TRUE(woke.outcome.ok()) << woke.outcome.error().message;
  EXPECT_EQ(*woke.outcome, IdleOutcome::kChanged);
  // Dovecot notifies about 0.5 s after the change.
  EXPECT_LT(woke.waited, seconds(5));

  base::Result<std::vector<uint32_t>> uids = watcher->UidsFrom(1);
  ASSERT_TRUE(uids.ok());
  EXPECT_EQ(uids->size(), 1u);
}

TEST_P(ImapFlowTest, IdleWakesOnInterruptFromAnotherThread) {
  auto session = MustConnect(Options());
  ASSERT_TRUE(session);
  ASSERT_TRUE(session->Select("INBOX").ok());

  TimedIdle woke = IdleWhile(*session, seconds(20), [&session] { session->Interrupt(); });
  ASSERT_TRUE(woke.outcome.ok()) << woke.outcome.error().message;
  EXPECT_EQ(*woke.outcome, IdleOutcome::kInterrupted);
  EXPECT_LT(woke.waited, seconds(3));

  // The interrupt is used up, and the session still works.
  TimedIdle quiet = IdleWhile(*session, seconds(1));
  ASSERT_TRUE(quiet.outcome.ok()) << quiet.outcome.error().message;
  EXPECT_EQ(*quiet.outcome, IdleOutcome::kTimeout);
  EXPECT_TRUE(session->Select("INBOX").ok());
}

INSTANTIATE_TEST_SUITE_P(Dovecot, ImapFlowTest,
                         ::testing::Values(Endpoint{Tls::kStartTls, "localhost"},
                                           Endpoint{Tls::kImplicit, "localhost"},
                                           Endpoint{Tls::kStartTls, "127.0.0.1"},
                                           Endpoint{Tls::kImplicit, "127.0.0.1"}),
                         [](const ::testing::TestParamInfo<Endpoint>& param) {
                           std::string name = param.param.tls == Tls::kImplicit ? "Implicit" : "StartTls";
                           return name + (std::string(param.param.host) == "localhost" ? "ByName" : "ByIp");
                         });

// --- details that need one mode only ---

TEST_F(ImapTest, UidsFromNeverReturnsUidsBelowTheStart) {
  auto session = MustConnect(Options(Tls::kImplicit));
  ASSERT_TRUE(session);
  std::vector<uint32_t> uids = AppendNumbered(*session, 3);
  ASSERT_EQ(uids.size(), 3u);
  ASSERT_TRUE(session->Select("INBOX").ok());
  base::Result<std::vector<uint32_t>> from_second = session->UidsFrom(uids[1]);
  ASSERT_TRUE(from_second.ok()) << from_second.error().message;
  EXPECT_EQ(*from_second, (std::vector<uint32_t>{uids[1], uids[2]}));
  base::Result<std::vector<uint32_t>> beyond = session->UidsFrom(uids[2] + 1);
  ASSERT_TRUE(beyond.ok());
  EXPECT_TRUE(beyond->empty()) << "UID n:* includes the highest UID; it must be filtered out";
  base::Result<std::vector<ImapMessage>> batch = session->FetchBatch({uids[2], uids[0], 999999});
  ASSERT_TRUE(batch.ok()) << batch.error().message;
  ASSERT_EQ(batch->size(), 2u) << "an unknown UID is simply missing";
  EXPECT_EQ((*batch)[0].uid, uids[0]);
  EXPECT_EQ((*batch)[1].raw, NumberedMessage(3));
}

TEST_F(ImapTest, AppendSendsBareLineFeedsAsCrlf) {
  auto session = MustConnect(Options(Tls::kImplicit));
  ASSERT_TRUE(session);
  base::Result<std::optional<uint32_t>> uid = session->Append("INBOX", "Subject: lf\n\nline\n", {"\\Seen"});
  ASSERT_TRUE(uid.ok() && uid->has_value()) << (uid.ok() ? "no uid" : uid.error().message);
  ASSERT_TRUE(session->Select("INBOX").ok());
  base::Result<std::vector<ImapMessage>> fetched = session->FetchBatch({**uid});
  ASSERT_TRUE(fetched.ok() && fetched->size() == 1u);
  EXPECT_EQ(fetched->front().raw, "Subject: lf\r\n\r\nline\r\n");
  EXPECT_EQ(MaildirFlags(), std::vector<std::string>{"S"});
}

// A message that lands after a pass's search, announced in the reply to a
// later command of the pass (here a FETCH): IDLE never announces it again,
// so Idle() must not wait for a change that already happened.
TEST_F(ImapTest, IdleReturnsAtOnceForMailThatArrivedAfterTheLastSearch) {
  auto session = MustConnect(Options(Tls::kImplicit));
  ASSERT_TRUE(session);
  ASSERT_TRUE(session->Select("INBOX").ok());
  base::Result<std::vector<uint32_t>> before = session->UidsFrom(1);
  ASSERT_TRUE(before.ok()) << before.error().message;
  ASSERT_TRUE(before->empty());
  {
    auto writer = MustConnect(Options(Tls::kImplicit));
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->Append("INBOX", NumberedMessage(1)).ok());
  }
  base::Result<std::vector<ImapMessage>> other = session->FetchBatch({999999});
  ASSERT_TRUE(other.ok()) << other.error().message;
  TimedIdle woke = IdleWhile(*session, seconds(10));
  ASSERT_TRUE(woke.outcome.ok()) << woke.outcome.error().message;
  EXPECT_EQ(*woke.outcome, IdleOutcome::kChanged);
  EXPECT_LT(woke.waited, seconds(3));
  base::Result<std::vector<uint32_t>> after = session->UidsFrom(1);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), 1u);
}

TEST_F(ImapTest, IdleTimesOutWithoutChanges) {
  auto session = MustConnect(Options(Tls::kStartTls));
  ASSERT_TRUE(session);
  ASSERT_TRUE(session->Select("INBOX").ok());
  TimedIdle quiet = IdleWhile(*session, seconds(1));
  ASSERT_TRUE(quiet.outcome.ok()) << quiet.outcome.error().message;
  EXPECT_EQ(*quiet.outcome, IdleOutcome::kTimeout);
  EXPECT_GE(quiet.waited, milliseconds(900));
  EXPECT_LT(quiet.waited, seconds(3));
}

// Open descriptors of this process.
size_t OpenDescriptors() {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator("/proc/self/fd"),
                                           std::filesystem::directory_iterator()));
}

// What one session costs in descriptors (a daemon holds one per mailbox): its
// socket and libetpan's two pipes (read cancellation, IDLE interruption).
TEST_F(ImapTest, ASessionHoldsItsSocketAndTwoPipes) {
  const size_t before = OpenDescriptors();
  auto session = MustConnect(Options(Tls::kStartTls));
  ASSERT_TRUE(session);
  ASSERT_TRUE(session->Select("INBOX").ok());
  const size_t held = OpenDescriptors() - before;
  std::printf("one IMAP session holds %zu descriptors\n", held);
  EXPECT_LE(held, 5u);
  ASSERT_TRUE(session->Logout().ok());
  EXPECT_EQ(OpenDescriptors(), before);
}

// libetpan waits with select(): a session whose descriptors reach FD_SETSIZE
// would abort the process. Connect refuses instead, and the process goes on.
TEST_F(ImapTest, ConnectRefusesDescriptorsNearFdSetSize) {
  std::vector<int> filler;
  for (;;) {
    const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << "cannot open descriptors up to FD_SETSIZE (ulimit -n below 1024?)";
    filler.push_back(fd);
    if (fd >= FD_SETSIZE - 6) break;
  }
  const base::Error error = ConnectError(Options(Tls::kStartTls));
  EXPECT_EQ(error.kind, ErrorKind::kTransient);
  EXPECT_NE(error.message.find("select()"), std::string::npos) << error.message;
  for (int fd : filler) close(fd);
  auto session = MustConnect(Options(Tls::kStartTls));
  ASSERT_TRUE(session);
  EXPECT_TRUE(session->Select("INBOX").ok());
}

TEST_F(ImapTest, InterruptBeforeIdleEndsTheNextIdleAtOnce) {
  auto session = MustConnect(Options(Tls::kStartTls));
  ASSERT_TRUE(session);
  ASSERT_TRUE(session->Select("INBOX").ok());
  session->Interrupt();
  session->Interrupt();  // coalesced with the first
  TimedIdle woke = IdleWhile(*session, seconds(20));
  ASSERT_TRUE(woke.outcome.ok()) << woke.outcome.error().message;
  EXPECT_EQ(*woke.outcome, IdleOutcome::kInterrupted);
  EXPECT_LT(woke.waited, seconds(2));
  TimedIdle quiet = IdleWhile(*session, seconds(1));
  ASSERT_TRUE(quiet.outcome.ok());
  EXPECT_EQ(*quiet.outcome, IdleOutcome::kTimeout);
}

TEST_F(ImapTest, IdleNeedsASelectedFolder) {
  auto session = MustConnect(Options(Tls::kImplicit));
  ASSERT_TRUE(session);
  base::Result<IdleOutcome> outcome = session->Idle(seconds(1));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().kind, ErrorKind::kInternal);
}

TEST_F(ImapTest, SelectOfMissingFolderIsPermanent) {
  auto session = MustConnect(Options(Tls::kImplicit));
  ASSERT_TRUE(session);
  base::Result<ImapFolderState> missing = session->Select("NoSuchFolder");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kPermanent);
  EXPECT_TRUE(Contains(missing.error().message, "SELECT NoSuchFolder")) << missing.error().message;
  EXPECT_TRUE(session->alive());
}

TEST_F(ImapTest, ClosedSessionFailsTransiently) {
  auto session = MustConnect(Options(Tls::kImplicit));
  ASSERT_TRUE(session);
  ASSERT_TRUE(session->Logout().ok());
  base::Result<ImapFolderState> after = session->Select("INBOX");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().kind, ErrorKind::kTransient);
  session->Interrupt();  // harmless on a closed session
}

TEST_F(ImapTest, PlainTextToLoopbackIsAllowed) {
  ImapOptions options = Options(Tls::kNone, "127.0.0.1");
  auto session = MustConnect(options);
  ASSERT_TRUE(session);
  EXPECT_TRUE(session->Select("INBOX").ok());
}

TEST_F(ImapTest, SystemTrustStorePinMatchesDovecotCertificate) {
  // The server certificate sits next to the CA in the test environment.
  const std::string pem = ReadFile(std::filesystem::path(ca_file_).parent_path() / "server.pem");
  if (pem.empty()) GTEST_SKIP() << "no server.pem next to " << ca_file_;
  gnutls_datum_t in{reinterpret_cast<unsigned char*>(const_cast<char*>(pem.data())),
                    static_cast<unsigned>(pem.size())};
  gnutls_datum_t der{};
  ASSERT_EQ(gnutls_pem_base64_decode2("CERTIFICATE", &in, &der), 0);
  const std::string pin = CertificateSha256(std::string(reinterpret_cast<char*>(der.data), der.size));
  gnutls_free(der.data);

  ImapOptions options = Options(Tls::kImplicit);
  options.ca_file.clear();
  options.tls_sha256 = pin;
  auto session = MustConnect(options);
  EXPECT_TRUE(session);
}

// --- refusals ---

TEST_F(ImapTest, RefusesDovecotUnderSystemTrustStore) {
  for (Tls tls : {Tls::kImplicit, Tls::kStartTls}) {
    ImapOptions options = Options(tls);
    options.ca_file.clear();
    base::Error error = ConnectError(options);
    EXPECT_EQ(error.kind, ErrorKind::kPermanent);
    EXPECT_EQ(error.message, "IMAP localhost:" + std::to_string(options.port) +
                                 ": certificate for localhost is not valid: signer not found");
  }
}

TEST_F(ImapTest, RefusesWrongHostNameBeforeLogin) {
  ImapOptions options = Options(Tls::kImplicit);
  options.port = trap_port_;
  base::Error error = ConnectError(options);
  EXPECT_EQ(error.kind, ErrorKind::kPermanent);
  EXPECT_EQ(error.message, "IMAP localhost:" + std::to_string(trap_port_) +
                               ": host name mismatch: certificate is for wrong.invalid, expected localhost");
  // Give the trap a moment to log anything that might still be on its way.
  std::this_thread::sleep_for(milliseconds(300));
  const std::string received = ReadFile(trap_log_);
  EXPECT_FALSE(Contains(received, "LOGIN")) << received;
  EXPECT_FALSE(Contains(received, password_));
}

TEST_F(ImapTest, RefusesWrongPin) {
  ImapOptions options = Options(Tls::kImplicit);
  options.tls_sha256 = std::string(64, '0');
  base::Error error = ConnectError(options);
  EXPECT_EQ(error.kind, ErrorKind::kPermanent);
  EXPECT_TRUE(Contains(error.message, "certificate pin mismatch: expected 00:00:")) << error.message;
}

TEST_F(ImapTest, RefusesClearTextToRemoteHostWithoutConnecting) {
  ImapOptions options = Options(Tls::kNone, "192.0.2.1");
  options.port = 143;
  options.timeout = seconds(30);
  const auto start = Clock::now();
  base::Error error = ConnectError(options);
  EXPECT_EQ(error.kind, ErrorKind::kConfig);
  EXPECT_TRUE(Contains(error.message, "loopback")) << error.message;
  EXPECT_LT(Clock::now() - start, milliseconds(100)) << "the check must come before any connection attempt";
}

TEST_F(ImapTest, RefusesWrongPassword) {
  ImapOptions options = Options(Tls::kStartTls);
  options.password = "not-" + password_;
  base::Error error = ConnectError(options);
  EXPECT_EQ(error.kind, ErrorKind::kPermanent);
  EXPECT_TRUE(Contains(error.message, "LOGIN as " + user_)) << error.message;
  EXPECT_FALSE(Contains(error.message, options.password));
}

TEST_F(ImapTest, UnreachableServerIsTransient) {
  ImapOptions options = Options(Tls::kImplicit);
  options.port = UnusedPort();
  base::Error error = ConnectError(options);
  EXPECT_EQ(error.kind, ErrorKind::kTransient);
  EXPECT_TRUE(Contains(error.message, "refused")) << error.message;
}

TEST_F(ImapTest, SilentServerTimesOutTransiently) {
  // STARTTLS mode on the implicit-TLS port: the server waits for a TLS hello, we for a greeting.
  ImapOptions options = Options(Tls::kStartTls);
  options.port = imaps_port_;
  options.timeout = milliseconds(1000);
  const auto start = Clock::now();
  base::Error error = ConnectError(options);
  EXPECT_EQ(error.kind, ErrorKind::kTransient) << error.message;
  EXPECT_LT(Clock::now() - start, seconds(5));
}

}  // namespace
}  // namespace mail
