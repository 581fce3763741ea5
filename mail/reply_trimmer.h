// The reply trimmer: splits a plain-text email body into what the person
// wrote in this message and what the forum should not show as their post —
// the quoted history, the headers of an embedded or forwarded mail, the
// signature and mobile sign-offs.
//
// It works line by line: each line is classified (text, quote, empty,
// delimiter, embedded-mail marker such as "On … wrote:", header of an embedded
// mail, mobile sign-off), and fixed rules over the sequence of classes decide
// what is kept. The rules follow Discourse's email_reply_trimmer, whose test
// corpus (tests/corpus/email_reply_trimmer) is the conformance bar. Markers are
// recognised in many languages and also when a client wrapped them over up to
// five lines. Replies written between quoted lines are kept, and so are code
// blocks (``` fences, and indented blocks after an empty line), whose lines
// are never taken for quotes, delimiters or headers.
//
// Pure: no I/O, and time and memory linear in the input size for every input
// (no regular expressions, no backtracking; the lines are views into the body).
// Thread-safety: a pure function; safe to call concurrently.
#ifndef MAILFORUM_MAIL_REPLY_TRIMMER_H_
#define MAILFORUM_MAIL_REPLY_TRIMMER_H_

#include <string>
#include <string_view>

namespace mail {

struct TrimResult {
  std::string trimmed;  // What the person wrote in this message.
  std::string elided;   // What was removed (quoted history, headers of embedded mail, signature).
};

// Splits a plain-text (UTF-8) email body into the new text and the elided
// rest. Line ends (CRLF, CR, LF) come out as LF. Both parts lose their
// leading empty lines and trailing whitespace; quote prefixes written as
// "Name>" or "|" come out as ">", and a marker a client wrapped over several
// lines comes out as one line. PGP clear-signing armour is dropped from both.
// Bytes that are not valid UTF-8 are kept as they are. Never fails: a body
// with nothing recognisable is returned whole as `trimmed`, and `trimmed` is
// empty when the body holds only quoted history (nothing new was written).
TrimResult TrimReply(std::string_view body);

}  // namespace mail

#endif  // MAILFORUM_MAIL_REPLY_TRIMMER_H_
