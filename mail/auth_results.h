// The DMARC verdict of a message, read from the Authentication-Results header
// fields (RFC 8601) that our own receiving MTAs added.
//
// Anyone can write an Authentication-Results header into a message they send,
// so only fields whose authserv-id is one of the operator's trusted ids count;
// every other field is ignored. A receiving MTA prepends its fields, so the
// topmost trusted field is the freshest; RFC 8601 §5 asks that MTA to delete
// fields that carry its own authserv-id from incoming mail, and when it does
// not, a forged field can only sit below the genuine one and is never read
// while the genuine one reports DMARC.
//
// Parsing is tolerant: comments in parentheses, quoted strings, a version
// after the authserv-id, method versions ("dmarc/1=pass"), reasons and
// properties, and the "none" no-result form are all accepted, and a resinfo
// that cannot be read is skipped rather than failing the field.
//
// Pure: no I/O. Thread-safety: stateless functions.
#ifndef MAILFORUM_MAIL_AUTH_RESULTS_H_
#define MAILFORUM_MAIL_AUTH_RESULTS_H_

#include <string>
#include <string_view>
#include <vector>

#include "mail/message.h"

namespace mail {

// The DMARC result (RFC 7489 §11.2).
enum class DmarcVerdict {
  kPass,
  kFail,
  kNone,  // No policy, or no trusted field reports DMARC at all.
  kTempError,
  kPermError,
};

// "pass", "fail", "none", "temperror" or "permerror": the words of RFC 7489
// §11.2, which are also the names the configuration's `dmarc` matcher uses.
std::string_view DmarcVerdictName(DmarcVerdict verdict);

// The DMARC result of the topmost Authentication-Results field whose
// authserv-id equals (ASCII case-insensitively) one of
// `trusted_authserv_ids` and which reports a "dmarc" method; within that
// field, its first dmarc resinfo. kNone when no trusted field reports DMARC
// (in particular when `trusted_authserv_ids` is empty). A result word outside
// RFC 7489's five (e.g. Microsoft's "bestguesspass") is kNone: it is not a
// DMARC pass.
DmarcVerdict TrustedDmarc(const Message& message, const std::vector<std::string>& trusted_authserv_ids);

}  // namespace mail

#endif  // MAILFORUM_MAIL_AUTH_RESULTS_H_
