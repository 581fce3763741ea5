// WebService: the web view (web/site.h) served on web.listen, as mailforumd
// runs it beside its workers and mailforum-web runs it alone. It needs only
// the database (web.dsn, or database.dsn) and the configuration's instance
// and web sections.
//
// Thread-safety: Start and destruction on one thread; the server has its own.
#ifndef MAILFORUM_DAEMON_WEB_SERVICE_H_
#define MAILFORUM_DAEMON_WEB_SERVICE_H_

#include <cstdint>
#include <memory>

#include "base/result.h"
#include "config/config.h"
#include "daemon/heartbeat.h"
#include "web/http_server.h"
#include "web/site.h"

namespace mailforumd {

class WebService {
 public:
  // Connects to the database, binds web.listen and starts serving; logs
  // "web: listening on http://HOST:PORT" (tests and operators wait for it).
  // Errors: kConfig when the address cannot be bound or the schema does not
  // match; kTransient when the database cannot be reached.
  static base::Result<std::unique_ptr<WebService>> Start(const config::Config& cfg);
  // Stops serving (requests in flight get a few seconds to finish).
  ~WebService();
  WebService(const WebService&) = delete;
  WebService& operator=(const WebService&) = delete;

  uint16_t port() const { return port_; }

  // Beats `heartbeat` with `next_within` from an I/O thread of the server
  // when one is free (HttpServer::Post): wedged web threads stop the beats.
  // `heartbeat` must outlive this service.
  void Probe(Heartbeat& heartbeat, std::chrono::milliseconds next_within);

 private:
  WebService() = default;
  std::unique_ptr<web::Site> site_;
  std::unique_ptr<web::HttpServer> server_;
  uint16_t port_ = 0;
};

// The site's options from the configuration.
web::SiteOptions SiteOptionsFor(const config::Config& cfg);

// Raises this process's soft limit of open files to its hard limit: every
// idle keep-alive connection holds one.
void RaiseOpenFileLimit();

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_WEB_SERVICE_H_
