#include "engine/mail_options_from_config.h"

#include <memory>
#include <utility>

#include "mail/oauth2.h"

namespace engine {
namespace {

// Copies how to reach and log in to `server` into `o` (mail::ImapOptions or
// mail::SmtpOptions, whose fields have the same names).
template <typename MailOptions>
void CopyServer(const config::ServerConfig& server, MailOptions& o) {
  using Tls = decltype(o.tls);
  switch (server.tls) {
    case config::TlsMode::kImplicit:
      o.tls = Tls::kImplicit;
      break;
    case config::TlsMode::kStartTls:
      o.tls = Tls::kStartTls;
      break;
    case config::TlsMode::kNone:
      o.tls = Tls::kNone;
      break;
  }
  o.host = server.host;
  o.port = server.port;
  o.ca_file = server.ca_file;
  o.tls_sha256 = server.tls_sha256;
  o.username = server.username;
  if (server.password) o.password = server.password->reveal();
}

// `auth: oauth2`: a token source of the server's own (`account` names it in
// errors: "mailbox help"), shared by all of its reconnects, for it caches the
// access token and any rotated refresh token. Nothing for a password login.
template <typename MailOptions>
void CopyOAuth2(const config::ServerConfig& server, const std::string& account, MailOptions& o) {
  if (server.auth != config::AuthMethod::kOAuth2 || !server.oauth2) return;
  const config::OAuth2Config& c = *server.oauth2;
  mail::OAuth2Options t;
  t.token_url = c.token_url;
  t.client_id = c.client_id;
  if (c.client_secret) t.client_secret = c.client_secret->reveal();
  t.grant = c.grant == config::OAuth2GrantType::kClientCredentials ? mail::OAuth2Grant::kClientCredentials
                                                                   : mail::OAuth2Grant::kRefreshToken;
  if (c.refresh_token) t.refresh_token = c.refresh_token->reveal();
  t.scope = c.scope;
  t.ca_file = c.ca_file;
  t.account = account;
  o.auth = c.mechanism == config::OAuth2Mechanism::kOAuthBearer ? mail::MailAuth::kOAuthBearer
                                                                : mail::MailAuth::kXOAuth2;
  o.oauth2 = std::make_shared<mail::OAuth2TokenSource>(std::move(t));
}

}  // namespace

mail::ImapOptions ImapOptionsFor(const config::MailboxConfig& box) {
  mail::ImapOptions o;
  CopyServer(box.imap, o);
  CopyOAuth2(box.imap, "mailbox " + box.name, o);
  o.timeout = box.imap.timeout;
  o.keepalive = box.imap.keepalive;
  return o;
}

mail::SmtpOptions SmtpOptionsFor(const config::SmtpConfig& smtp) {
  mail::SmtpOptions o;
  CopyServer(smtp, o);
  CopyOAuth2(smtp, "smtp", o);
  return o;
}

}  // namespace engine
