// A seeded, deterministic generator of a realistic mailbox for the
// benchmarks (DESIGN.md §9): the mail a help address receives, as raw RFC 5322
// bytes with CRLF line ends, the way an IMAP server hands them out.
//
// What a corpus holds:
//  - plain questions (text/plain, sometimes format=flowed, with a signature
//    and sometimes a pasted log);
//  - top-posted replies ("On … wrote:" and the quoted history of the thread,
//    or Outlook's From/Sent/To/Subject block), as plain text or as
//    multipart/alternative with Gmail's quote markup in the HTML;
//  - inline replies (answers written between quoted lines);
//  - HTML mail with attachments: multipart/mixed around
//    multipart/alternative (quoted-printable text and HTML), or HTML only, or
//    multipart/related with an inline image; base64 PDFs and images of random
//    bytes, filenames in RFC 2231 when they are not ASCII;
//  - text in UTF-8, US-ASCII, ISO-8859-1 and windows-1252, subjects and names
//    in RFC 2047 encoded words when they are not ASCII.
// Sizes follow a fixed distribution over the corpus: 20% medium (16–100 KB),
// 8% large (100 KB–1 MB), 0.5% (at least one) of 5 MiB, the largest, and the
// rest (71.5%) small (1–16 KB), each size roughly log-uniform within its
// class. Large and 5 MiB messages are mostly mail with attachments, as in a
// real mailbox; some large ones are long quoted threads or pasted logs.
//
// Determinism: the same seed and count give a byte-identical corpus on every
// platform (the generator uses its own splitmix64 random numbers, never the
// implementation-defined std:: distributions or std::shuffle). Each message
// has a seed of its own, so one message can be made without the others
// (GenerateMessage(PlanCorpus(seed, count)[i])).
//
// Thread-safety: pure functions; safe to call concurrently.
#ifndef MAILFORUM_BENCH_CORPUS_GENERATOR_H_
#define MAILFORUM_BENCH_CORPUS_GENERATOR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

enum class MailKind {
  kQuestion,             // plain-text question
  kTopPostedReply,       // reply above "On … wrote:" and the quoted thread
  kInlineReply,          // answers between quoted lines
  kHtmlWithAttachments,  // HTML (with or without a text alternative) and attached files
};

// "question", "top_posted_reply", "inline_reply" or "html_with_attachments".
std::string_view MailKindName(MailKind kind);

enum class SizeClass {
  kSmall,   // 1–16 KB
  kMedium,  // 16–100 KB
  kLarge,   // 100 KB–1 MB
  kHuge,    // 5 MiB
};

// "small", "medium", "large" or "huge".
std::string_view SizeClassName(SizeClass size_class);

// What one message of the corpus will be. The generated message is within
// about 10% of target_size; small ones, where headers and fixed markup weigh
// more, within about 40%.
struct MessagePlan {
  uint64_t seed = 0;  // the message's own seed
  int index = 0;      // position in the corpus
  MailKind kind = MailKind::kQuestion;
  SizeClass size_class = SizeClass::kSmall;
  size_t target_size = 0;  // bytes
};

// The plan of a corpus of `count` messages (count >= 1), in mailbox order.
std::vector<MessagePlan> PlanCorpus(uint64_t seed, int count);

// The raw message `plan` describes (CRLF line ends).
std::string GenerateMessage(const MessagePlan& plan);

struct CorpusMessage {
  MessagePlan plan;
  std::string raw;
};

// Every message of PlanCorpus(seed, count), generated.
std::vector<CorpusMessage> GenerateCorpus(uint64_t seed, int count);

}  // namespace bench

#endif  // MAILFORUM_BENCH_CORPUS_GENERATOR_H_
