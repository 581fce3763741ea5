// What mailforumctl test-connection advises when a check fails: the fix to
// try for an error of each kind of check, from the error's kind and the
// server's answer. Internal to cli/.
//
// Pure. Thread-safety: functions over values.
#ifndef MAILFORUM_CLI_CONNECTION_CHECKS_H_
#define MAILFORUM_CLI_CONNECTION_CHECKS_H_

#include <string>

#include "base/result.h"

namespace ctl {

enum class Check {
  kDatabase,      // connecting to PostgreSQL, reading the schema version
  kImapLogin,     // connecting to the IMAP server, TLS, logging in
  kFolder,        // selecting the folder the mailbox is read from
  kCreateFolder,  // creating the after: or quarantine folder
  kSmtpLogin,     // connecting to the SMTP server, TLS, AUTH
  kSmtpProbe,     // MAIL FROM / RCPT TO of our own envelope
};

// The fix to try for `error` in `check` (one sentence, naming the configuration keys to look at).
std::string FixFor(Check check, const base::Error& error);

// The fix when the database's schema version is `version` and this build needs `needed` (they differ).
std::string SchemaFix(int version, int needed);

}  // namespace ctl

#endif  // MAILFORUM_CLI_CONNECTION_CHECKS_H_
