#include "mail/library_init.h"

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <signal.h>

#include <vmime/platforms/posix/posixHandler.hpp>
#include <vmime/vmime.hpp>

namespace mail {

void InitializeMailLibraries() {
  static bool done = false;
  if (done) return;
  done = true;
  signal(SIGPIPE, SIG_IGN);
  gnutls_global_init();
  curl_global_init(CURL_GLOBAL_DEFAULT);  // mail/oauth2.cc
  vmime::platform::setHandler<vmime::platforms::posix::posixHandler>();
}

}  // namespace mail
