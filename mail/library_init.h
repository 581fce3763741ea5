// Process-wide set-up of the mail libraries (vmime, libetpan, GnuTLS).
//
// Call InitializeMailLibraries() once from main(), before any thread starts:
// vmime's platform handler is a process-wide static, and libetpan writes to
// sockets without MSG_NOSIGNAL, so SIGPIPE must be ignored or a server that
// closes a connection kills the process (shared/TESTENV.md).
#ifndef MAILFORUM_MAIL_LIBRARY_INIT_H_
#define MAILFORUM_MAIL_LIBRARY_INIT_H_

namespace mail {

// Idempotent; not thread-safe (call it from main() only).
void InitializeMailLibraries();

}  // namespace mail

#endif  // MAILFORUM_MAIL_LIBRARY_INIT_H_
