// Site: the web view behind the HTTP server. It routes a request (the URLs
// in web/views.h plus /healthz, /metrics and /static/style.css) to the
// forum's read side (forum::Reader) and the view functions, and owns
// everything between them and the wire:
//
// - Safety: every response, errors and 304s included, carries the security
//   headers (Content-Security-Policy, X-Content-Type-Options: nosniff,
//   Referrer-Policy: same-origin). Attachments are always downloads
//   (Content-Disposition: attachment), text/* as text/plain and everything
//   else as application/octet-stream, so no HTML or SVG from a mail is ever
//   rendered. An error page never shows internals (they go to the log).
// - Caching: pages, feeds and JSON documents are cached by URL, each entry
//   tagged with the thread it shows (or as a list). A listener thread
//   (Reader::Listen) drops a thread's entries and every list when the
//   database says the thread changed, and everything when its connection is
//   lost; while it is not listening nothing is served from the cache. The
//   cache is bounded in bytes (LRU) and sharded, so a hit takes one short
//   shard lock and never touches the database.
// - HTTP: a strong ETag (hash of the body) and Last-Modified (the thread's
//   last change; for lists the newest change shown) answer conditional GETs
//   with 304; gzip when Accept-Encoding allows (the compressed bytes are
//   kept in the cache; Vary: Accept-Encoding).
// - Limits: search (pages, JSON and the search form) is rate limited per
//   client address by a token bucket (429 with Retry-After), and a query
//   longer than SiteOptions::max_query_chars is refused (400).
// - /unsubscribe/TOKEN: the one-click unsubscribe link of our mail (GET: a
//   page with a button; POST: unsubscribed), the only route that takes a POST
//   and the site's only write (Reader::Unsubscribe).
// - /healthz answers 200 when the database answers and no mailbox of
//   SiteOptions::mailboxes has been failing (its last noted error newer than
//   its last successful pass) for longer than mailbox_failure_limit, else
//   503; the body is JSON with the details per mailbox and the outbox
//   backlog. /metrics is Prometheus text: requests by route and status, cache
//   hits and misses, open connections, and from the same one database round
//   trip the mailboxes' last success and failing time, the outbox backlog and
//   the age of its oldest due mail, suppressed addresses, build info.
//
// Thread-safety: Handle and ErrorResponse may be called from any number of
// threads at once (each cache miss borrows a Reader from a pool: one
// database connection per concurrent miss). SetConnectionGauge before the
// server starts.
#ifndef MAILFORUM_WEB_SITE_H_
#define MAILFORUM_WEB_SITE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "forum/reader.h"
#include "web/http_server.h"
#include "web/views.h"

namespace web {

struct SiteOptions {
  SiteInfo info;
  // libpq connection string of the (read-only) database role. Never logged.
  std::string dsn;
  // Bytes of cached pages (identity and gzip bodies), at most.
  std::size_t cache_bytes = 64u << 20;
  // Search requests per client address: `search_burst` at once, refilled at
  // `search_per_minute`.
  double search_per_minute = 60;
  int search_burst = 10;
  // Longest search text (in characters) accepted.
  std::size_t max_query_chars = 256;
  // How long the stylesheet may be cached by browsers.
  int static_max_age_seconds = 86400;
  // The configured mailboxes (/healthz reports each; one the database does
  // not know yet is "unknown", which does not fail the check). Empty: every
  // mailbox the database knows.
  std::vector<std::string> mailboxes;
  // A mailbox failing longer than this fails /healthz.
  std::chrono::seconds mailbox_failure_limit{600};
  // The bounce score at which an address gets no more mail (outbox.suppress_score).
  double suppress_score = 3.0;
  // Unsubscribe links (/unsubscribe/TOKEN, issue 12), given by the
  // composition root (mail/unsubscribe_token.h under the reply key; the web
  // includes no mail code): the outbox row a token names, unverified, and
  // whether the token is valid for that row's recipient and scope. Unset:
  // those links answer 404.
  std::function<std::optional<int64_t>(std::string_view token)> unsubscribe_row;
  std::function<bool(std::string_view token, const std::string& recipient, const std::string& scope)>
      unsubscribe_verify;
  // Mailing lists (categories[].lists, lower-case): their mail carries no
  // unsubscribe link, and a token that names it anyway is refused (403): one
  // member never unsubscribes the whole list.
  std::vector<std::string> list_addresses;
};

class Site {
 public:
  // Connects a first Reader (so a wrong DSN or schema fails here) and starts
  // the change listener. Errors: as forum::Reader::Connect (kTransient when
  // the database cannot be reached, kConfig for a schema mismatch).
  static base::Result<std::unique_ptr<Site>> Create(SiteOptions options);
  // Stops the listener (within about a second) and closes the connections.
  ~Site();
  Site(const Site&) = delete;
  Site& operator=(const Site&) = delete;

  // Answers one request (never throws).
  Response Handle(const Request& request);

  // The response for an error status the HTTP server decides itself (400,
  // 405, 413, 414, 431): the error page with the security headers.
  Response ErrorResponse(int status);

  // Where /metrics reads the number of open connections (HttpServer::OpenConnections).
  void SetConnectionGauge(std::function<int64_t()> gauge);

  // Whether the change listener is listening (the cache is in use). For tests
  // and /metrics.
  bool Listening() const;

  struct Impl;

 private:
  explicit Site(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace web

#endif  // MAILFORUM_WEB_SITE_H_
