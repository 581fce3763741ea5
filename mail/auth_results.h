// The DMARC verdict of a message, read from the Authentication-Results header
// field (RFC 8601) that our own receiving MTA added, as RFC 8601 §4 and
// RFC 7489 intend.
//
// Anyone can write an Authentication-Results field into a message they send,
// so only a field whose authserv-id is one of the operator's trusted ids
// counts. A receiving MTA prepends its field, so the topmost field is the one
// added last, on our side; everything below it was there before and may be
// the sender's. Hence exactly ONE field is read: the topmost one, and only if
// its authserv-id is trusted (otherwise the verdict is kNone: a host we do not
// trust wrote it, and a trusted field below it may be forged). Lower fields
// are never read, even when the topmost has no dmarc result (then the verdict
// is kNone): falling through would let a forged "<trusted id>; dmarc=pass"
// below a genuine field decide. Operators whose MTA writes DMARC into a
// separate field from SPF/DKIM must make the DMARC field the topmost one (run
// the DMARC milter last) or combine them, and list every host that adds a
// field after the DMARC check as trusted (docs/configuration.md).
//
// The field is parsed from its raw value (HeaderField::raw_value), never from
// the RFC 2047-decoded one: encoded words are not syntax in this field, and
// decoding would let sender-controlled text inside a genuine field (a comment,
// a quoted reason) turn into "; dmarc=pass".
//
// The result must also be about the message as it is: DMARC authenticates
// the domain of THE From: address, so a message with no From: field, several
// From: fields or a From: with several (or no) addresses is kNone, and when
// the dmarc resinfo names the domain it checked (header.from=DOMAIN) that
// must be the From: address's domain, else kNone.
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

// A verdict and why it is what it is, for the trace.
struct DmarcEvidence {
  DmarcVerdict verdict = DmarcVerdict::kNone;
  // One phrase: where the verdict was read ("dmarc=pass from mx.example.com")
  // or why it is kNone ("2 From fields", "no trusted Authentication-Results
  // field", "header.from=evil.test is not the From domain example.com").
  std::string why;
};

// The DMARC result of the topmost Authentication-Results field whose
// authserv-id equals (ASCII case-insensitively) one of
// `trusted_authserv_ids`: its first dmarc resinfo, checked against the
// message's From: as the file comment says. kNone when there is no such
// field (in particular when `trusted_authserv_ids` is empty), when that field
// has no dmarc result, or when From: does not qualify. A result word outside
// RFC 7489's five (e.g. Microsoft's "bestguesspass") is kNone: it is not a
// DMARC pass. Reads HeaderField::raw_value only.
DmarcEvidence ReadTrustedDmarc(const Message& message, const std::vector<std::string>& trusted_authserv_ids);

// ReadTrustedDmarc's verdict alone.
DmarcVerdict TrustedDmarc(const Message& message, const std::vector<std::string>& trusted_authserv_ids);

}  // namespace mail

#endif  // MAILFORUM_MAIL_AUTH_RESULTS_H_
