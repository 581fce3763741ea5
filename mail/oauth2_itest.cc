// OAuth2 logins against the real Dovecot of scripts/testenv, whose oauth2
// passdb asks the test token endpoint (scripts/testenv/oauth2_server.py):
// XOAUTH2 and OAUTHBEARER, STARTTLS and implicit TLS, the refresh-token and
// client-credentials grants, a cached token reused, an expired token replaced
// after the server refuses it, a rotated refresh token used, and a revoked
// refresh token failing that login only, with the endpoint's error. The same
// for SMTP against the test SMTP sink, which checks each exchange.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "mail/imap_session.h"
#include "mail/library_init.h"
#include "mail/oauth2.h"
#include "mail/smtp_transport.h"
#include "tests/support/test_env.h"

namespace mail {
namespace {

using base::ErrorKind;

// One HTTP/1.0 exchange with the test endpoint at 127.0.0.1; the JSON body of the answer.
nlohmann::json Call(const std::string& base_url, const std::string& method, const std::string& path,
                    const std::string& form = "") {
  const uint16_t port = static_cast<uint16_t>(std::stoi(base_url.substr(base_url.rfind(':') + 1)));
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    ADD_FAILURE() << "cannot reach the OAuth2 endpoint at " << base_url;
    return {};
  }
  const std::string request = method + " " + path +
                              " HTTP/1.0\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
                              "Content-Length: " + std::to_string(form.size()) + "\r\n\r\n" + form;
  (void)!write(fd, request.data(), request.size());
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<size_t>(n));
  close(fd);
  auto body = answer.find("\r\n\r\n");
  if (body == std::string::npos) return {};
  return nlohmann::json::parse(answer.substr(body + 4), nullptr, false);
}

std::string FreshUser() {
  static std::atomic<int> counter{0};
  return "oauth" + std::to_string(getpid()) + "n" + std::to_string(counter++);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class OAuth2ImapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitializeMailLibraries();
    MAILFORUM_REQUIRE_SERVER(host, "MAILFORUM_TEST_IMAP_HOST");
    MAILFORUM_REQUIRE_SERVER(port, "MAILFORUM_TEST_IMAP_PORT");
    MAILFORUM_REQUIRE_SERVER(imaps_port, "MAILFORUM_TEST_IMAPS_PORT");
    MAILFORUM_REQUIRE_SERVER(ca, "MAILFORUM_TEST_CA_FILE");
    MAILFORUM_REQUIRE_SERVER(password, "MAILFORUM_TEST_IMAP_PASSWORD");
    MAILFORUM_REQUIRE_SERVER(url, "MAILFORUM_TEST_OAUTH2_URL");
    MAILFORUM_REQUIRE_SERVER(client_id, "MAILFORUM_TEST_OAUTH2_CLIENT_ID");
    MAILFORUM_REQUIRE_SERVER(client_secret, "MAILFORUM_TEST_OAUTH2_CLIENT_SECRET");
    host_ = host;
    port_ = static_cast<uint16_t>(std::stoi(port));
    imaps_port_ = static_cast<uint16_t>(std::stoi(imaps_port));
    ca_ = ca;
    password_ = password;
    url_ = url;
    client_id_ = client_id;
    client_secret_ = client_secret;
    user_ = FreshUser();
  }

  // A refresh token for user_, as a user's consent gives one.
  std::string Consent() {
    return Call(url_, "POST", "/control/grant", "user=" + user_).value("refresh_token", "");
  }
  int Issued() { return Call(url_, "GET", "/control/stats?user=" + user_).value("issued", -1); }

  OAuth2Options Token(const std::string& refresh_token) {
    OAuth2Options o;
    o.token_url = url_ + "/token";
    o.client_id = client_id_;
    o.client_secret = client_secret_;
    o.refresh_token = refresh_token;
    o.scope = "imap";
    o.account = "mailbox " + user_;
    return o;
  }

  ImapOptions Imap(std::shared_ptr<OAuth2TokenSource> source,
                   ImapOptions::Auth auth = ImapOptions::Auth::kXOAuth2,
                   ImapOptions::Tls tls = ImapOptions::Tls::kStartTls) {
    ImapOptions o;
    o.host = host_;
    o.port = tls == ImapOptions::Tls::kImplicit ? imaps_port_ : port_;
    o.tls = tls;
    o.ca_file = ca_;
    o.username = user_;
    o.auth = auth;
    o.oauth2 = std::move(source);
    return o;
  }

  // Connects, selects INBOX and appends one message: the session is really logged in as user_.
  void ExpectWorks(const ImapOptions& options) {
    auto session = ImapSession::Connect(options);
    ASSERT_TRUE(session.ok()) << session.error().message;
    auto state = (*session)->Select("INBOX");
    ASSERT_TRUE(state.ok()) << state.error().message;
    auto appended = (*session)->Append("INBOX", "Subject: hello\r\n\r\nvia OAuth2\r\n");
    EXPECT_TRUE(appended.ok()) << appended.error().message;
    EXPECT_TRUE((*session)->Logout().ok());
  }

  std::string host_, ca_, password_, url_, client_id_, client_secret_, user_;
  uint16_t port_ = 0, imaps_port_ = 0;
};

TEST_F(OAuth2ImapTest, XOAuth2WithARefreshTokenLogsInAndReusesTheCachedToken) {
  auto source = std::make_shared<OAuth2TokenSource>(Token(Consent()));
  ExpectWorks(Imap(source));
  ExpectWorks(Imap(source));  // a reconnect: the token is still fresh
  EXPECT_EQ(source->refreshes(), 1);
  EXPECT_EQ(Issued(), 1);
}

TEST_F(OAuth2ImapTest, OAuthBearerOverImplicitTls) {
  auto source = std::make_shared<OAuth2TokenSource>(Token(Consent()));
  ExpectWorks(Imap(source, ImapOptions::Auth::kOAuthBearer, ImapOptions::Tls::kImplicit));
}

TEST_F(OAuth2ImapTest, AnExpiredTokenIsReplacedOnceTheServerRefusesItAndTheRotatedRefreshTokenIsUsed) {
  for (auto auth : {ImapOptions::Auth::kXOAuth2, ImapOptions::Auth::kOAuthBearer}) {
    user_ = FreshUser();
    auto source = std::make_shared<OAuth2TokenSource>(Token(Consent()));
    ExpectWorks(Imap(source, auth));
    // The endpoint ends the token early (as revocation or a clock skew would); the source still thinks
    // it fresh, offers it, is refused, and gets a new one with the rotated refresh token (the endpoint
    // has forgotten the first one), on the same connection.
    Call(url_, "POST", "/control/expire", "user=" + user_);
    ExpectWorks(Imap(source, auth));
    EXPECT_EQ(source->refreshes(), 2);
    EXPECT_EQ(Issued(), 2);
  }
}

TEST_F(OAuth2ImapTest, ARevokedRefreshTokenFailsThatLoginOnlyWithTheEndpointsError) {
  const std::string refresh_token = Consent();
  auto source = std::make_shared<OAuth2TokenSource>(Token(refresh_token));
  ExpectWorks(Imap(source));
  Call(url_, "POST", "/control/revoke", "user=" + user_);
  Call(url_, "POST", "/control/expire", "user=" + user_);
  auto refused = ImapSession::Connect(Imap(source));
  ASSERT_FALSE(refused.ok());
  const std::string& message = refused.error().message;
  EXPECT_EQ(refused.error().kind, ErrorKind::kPermanent) << message;
  EXPECT_TRUE(Contains(message, "mailbox " + user_)) << message;
  EXPECT_TRUE(Contains(message, url_ + "/token")) << message;
  EXPECT_TRUE(Contains(message, "invalid_grant (the refresh token is revoked or unknown)")) << message;
  EXPECT_FALSE(Contains(message, refresh_token)) << message;
  EXPECT_FALSE(Contains(message, client_secret_)) << message;
  // Meanwhile a password login of another user works as ever.
  ImapOptions plain;
  plain.host = host_;
  plain.port = port_;
  plain.tls = ImapOptions::Tls::kStartTls;
  plain.ca_file = ca_;
  plain.username = FreshUser();
  plain.password = password_;
  ExpectWorks(plain);
}

TEST_F(OAuth2ImapTest, ClientCredentialsGrant) {
  nlohmann::json client = Call(url_, "POST", "/control/client", "user=" + user_);
  OAuth2Options o = Token("");
  o.grant = OAuth2Grant::kClientCredentials;
  o.client_id = client.value("client_id", "");
  o.client_secret = client.value("client_secret", "");
  auto source = std::make_shared<OAuth2TokenSource>(o);
  ExpectWorks(Imap(source));
  o.client_secret = "wrong";
  auto refused = ImapSession::Connect(Imap(std::make_shared<OAuth2TokenSource>(o)));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kPermanent);
  EXPECT_TRUE(Contains(refused.error().message, "HTTP 401: invalid_client")) << refused.error().message;
}

TEST_F(OAuth2ImapTest, AnUnreachableEndpointIsTransient) {
  OAuth2Options o = Token(Consent());
  o.token_url = "http://127.0.0.1:1/token";
  auto failed = ImapSession::Connect(Imap(std::make_shared<OAuth2TokenSource>(o)));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, ErrorKind::kTransient) << failed.error().message;
  EXPECT_TRUE(Contains(failed.error().message, "http://127.0.0.1:1/token")) << failed.error().message;
}

TEST_F(OAuth2ImapTest, HttpsToTheEndpointIsVerified) {
  // The IMAP server's port speaks TLS with a certificate of the test CA, not HTTP: without that CA
  // the handshake must fail on the certificate, before any secret is sent.
  OAuth2Options o = Token(Consent());
  o.token_url = "https://localhost:" + std::to_string(imaps_port_) + "/token";
  auto failed = OAuth2TokenSource(o).AccessToken();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind, ErrorKind::kPermanent) << failed.error().message;
}

// The same tokens for SMTP, against the test SMTP sink (scripts/testenv/smtp_sink.py), which checks each
// XOAUTH2 and OAUTHBEARER exchange as a server does: it asks the test endpoint's /introspect whether the
// token is active and whose it is, and a refused token gets the error challenge that the client must
// acknowledge. It notes each exchange ("MECHANISM USER ok|refused|bad-ack") in control/oauth2.log.
class OAuth2SmtpTest : public OAuth2ImapTest {
 protected:
  void SetUp() override {
    OAuth2ImapTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    MAILFORUM_REQUIRE_SERVER(smtp_port, "MAILFORUM_TEST_SMTP_PORT");
    MAILFORUM_REQUIRE_SERVER(smtps_port, "MAILFORUM_TEST_SMTPS_PORT");
    MAILFORUM_REQUIRE_SERVER(spool, "MAILFORUM_TEST_SMTP_SPOOL");
    smtp_port_ = static_cast<uint16_t>(std::stoi(smtp_port));
    smtps_port_ = static_cast<uint16_t>(std::stoi(smtps_port));
    spool_ = spool;
  }

  SmtpOptions Smtp(std::shared_ptr<OAuth2TokenSource> source, MailAuth auth = MailAuth::kXOAuth2,
                   SmtpOptions::Tls tls = SmtpOptions::Tls::kStartTls) {
    SmtpOptions o;
    o.host = "localhost";
    o.port = tls == SmtpOptions::Tls::kImplicit ? smtps_port_ : smtp_port_;
    o.tls = tls;
    o.ca_file = ca_;
    o.username = user_;
    o.auth = auth;
    o.oauth2 = std::move(source);
    return o;
  }

  // Connects and sends one message to <user_>@example.com.
  void ExpectSends(const SmtpOptions& options) {
    auto transport = SmtpTransport::Connect(options);
    ASSERT_TRUE(transport.ok()) << transport.error().message;
    const base::Status sent = (*transport)
                                  ->Send({"sender@example.com", {user_ + "@example.com"}},
                                         "From: sender@example.com\r\nTo: " + user_ +
                                             "@example.com\r\nSubject: t\r\n\r\nvia OAuth2\r\n");
    EXPECT_TRUE(sent.ok()) << sent.error().message;
  }

  // The sink's notes on user_'s OAuth2 exchanges, in order ("XOAUTH2 ok", ...).
  std::vector<std::string> Exchanges() {
    std::ifstream log(spool_ + "/control/oauth2.log");
    std::vector<std::string> out;
    for (std::string line; std::getline(log, line);) {
      std::istringstream words(line);
      std::string mechanism, user, outcome;
      if (words >> mechanism >> user >> outcome && user == user_) out.push_back(mechanism + " " + outcome);
    }
    return out;
  }

  // How the sink says the session that delivered mail to user_ logged in: ["XOAUTH2", user], or null.
  nlohmann::json AuthOfDelivery() {
    for (const auto& entry : std::filesystem::directory_iterator(spool_ + "/new")) {
      if (entry.path().extension() != ".json") continue;
      std::ifstream in(entry.path());
      nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
      if (meta.is_object() && meta.value("rcpt_tos", nlohmann::json::array()).dump() ==
                                  nlohmann::json::array({user_ + "@example.com"}).dump()) {
        return meta["auth"];
      }
    }
    return nullptr;
  }

  uint16_t smtp_port_ = 0, smtps_port_ = 0;
  std::string spool_;
};

TEST_F(OAuth2SmtpTest, XOAuth2AndOAuthBearerSendAsTheTokensUser) {
  auto source = std::make_shared<OAuth2TokenSource>(Token(Consent()));
  ExpectSends(Smtp(source));
  EXPECT_EQ(AuthOfDelivery(), nlohmann::json::array({"XOAUTH2", user_}));
  EXPECT_EQ(Exchanges(), std::vector<std::string>{"XOAUTH2 ok"});
  user_ = FreshUser();
  source = std::make_shared<OAuth2TokenSource>(Token(Consent()));
  ExpectSends(Smtp(source, MailAuth::kOAuthBearer, SmtpOptions::Tls::kImplicit));
  EXPECT_EQ(AuthOfDelivery(), nlohmann::json::array({"OAUTHBEARER", user_}));
  EXPECT_EQ(Exchanges(), std::vector<std::string>{"OAUTHBEARER ok"});
}

TEST_F(OAuth2SmtpTest, AnExpiredTokenIsAcknowledgedRefusedAndReplacedOnce) {
  for (MailAuth auth : {MailAuth::kXOAuth2, MailAuth::kOAuthBearer}) {
    user_ = FreshUser();
    const std::string name = auth == MailAuth::kXOAuth2 ? "XOAUTH2" : "OAUTHBEARER";
    auto source = std::make_shared<OAuth2TokenSource>(Token(Consent()));
    ExpectSends(Smtp(source, auth));
    Call(url_, "POST", "/control/expire", "user=" + user_);
    ExpectSends(Smtp(source, auth));  // the cached token is refused; a new one (rotated grant) is not
    EXPECT_EQ(source->refreshes(), 2);
    // "refused", not "bad-ack": the client answered the error challenge as its mechanism says.
    EXPECT_EQ(Exchanges(), (std::vector<std::string>{name + " ok", name + " refused", name + " ok"}));
  }
}

TEST_F(OAuth2SmtpTest, ARevokedRefreshTokenIsAPermanentErrorWithTheEndpointsWords) {
  const std::string refresh_token = Consent();
  auto source = std::make_shared<OAuth2TokenSource>(Token(refresh_token));
  ExpectSends(Smtp(source));
  Call(url_, "POST", "/control/revoke", "user=" + user_);
  Call(url_, "POST", "/control/expire", "user=" + user_);
  auto refused = SmtpTransport::Connect(Smtp(source));
  ASSERT_FALSE(refused.ok());
  const std::string& message = refused.error().message;
  EXPECT_EQ(refused.error().kind, ErrorKind::kPermanent) << message;
  EXPECT_TRUE(Contains(message, "invalid_grant (the refresh token is revoked or unknown)")) << message;
  EXPECT_FALSE(Contains(message, refresh_token)) << message;
  EXPECT_FALSE(Contains(message, client_secret_)) << message;
}

}  // namespace
}  // namespace mail
