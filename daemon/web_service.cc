#include "daemon/web_service.h"

#include <sys/resource.h>

#include <string>
#include <utility>

#include "base/log.h"
#include "mail/unsubscribe_token.h"

namespace mailforumd {

web::SiteOptions SiteOptionsFor(const config::Config& cfg) {
  web::SiteOptions o;
  o.info.name = cfg.instance.name;
  o.info.base_url = cfg.instance.base_url;
  o.info.author_display = cfg.web.author_display == config::AuthorDisplay::kMasked ? web::AuthorDisplay::kMasked
                                                                                  : web::AuthorDisplay::kName;
  o.dsn = cfg.web.dsn ? cfg.web.dsn->reveal() : cfg.database.dsn.reveal();
  o.cache_bytes = cfg.web.cache_size;
  o.search_per_minute = cfg.web.search_per_minute;
  o.search_burst = cfg.web.search_burst;
  for (const auto& box : cfg.mailboxes) o.mailboxes.push_back(box.name);
  o.mailbox_failure_limit = std::chrono::duration_cast<std::chrono::seconds>(cfg.web.health_failure_after);
  o.suppress_score = cfg.outbox.suppress_score;
  for (const auto& c : cfg.categories)
    o.list_addresses.insert(o.list_addresses.end(), c.lists.begin(), c.lists.end());
  // mailforum-web reads the reply key only for this (config::LoadOptions::Secrets::kDatabaseAndReplyKey).
  if (const std::string key = cfg.secrets.reply_key.reveal(); !key.empty()) {
    o.unsubscribe_row = [](std::string_view token) -> std::optional<int64_t> {
      auto row = mail::UnsubscribeTokenRow(token);
      return row ? std::optional<int64_t>(static_cast<int64_t>(*row)) : std::nullopt;
    };
    o.unsubscribe_verify = [key](std::string_view token, const std::string& recipient,
                                 const std::string& scope) {
      return mail::VerifyUnsubscribeToken(token, recipient, scope, key);
    };
  }
  return o;
}

void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

base::Result<std::unique_ptr<WebService>> WebService::Start(const config::Config& cfg) {
  auto site = web::Site::Create(SiteOptionsFor(cfg));
  if (!site) return site.error().WithContext("web");
  std::unique_ptr<WebService> service(new WebService());
  service->site_ = std::move(*site);
  web::ServerOptions options;
  web::Site* raw = service->site_.get();
  options.error_response = [raw](int status) { return raw->ErrorResponse(status); };
  service->server_ =
      std::make_unique<web::HttpServer>(std::move(options), [raw](const web::Request& r) { return raw->Handle(r); });
  web::HttpServer* server = service->server_.get();
  service->site_->SetConnectionGauge([server] { return server->OpenConnections(); });
  auto port = service->server_->Start(cfg.web.host, cfg.web.port);
  if (!port) return port.error();
  service->port_ = *port;
  const bool v6 = cfg.web.host.find(':') != std::string::npos;
  base::LogInfo("web: listening on http://" + (v6 ? "[" + cfg.web.host + "]" : cfg.web.host) + ":" +
                std::to_string(*port));
  return service;
}

void WebService::Probe(Heartbeat& heartbeat, std::chrono::milliseconds next_within) {
  server_->Post([&heartbeat, next_within] { heartbeat.Beat(next_within); });
}

WebService::~WebService() {
  // The server first: no request may reach the site while it goes away.
  if (server_) server_->Stop();
  server_.reset();
  site_.reset();
}

}  // namespace mailforumd
