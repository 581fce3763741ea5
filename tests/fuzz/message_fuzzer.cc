// libFuzzer target over the pure core of mail/: parse, trim, classify, and
// HTML to text. Built with clang only (MAILFORUM_FUZZ=ON); scripts/test runs it
// for 60 s from the corpora's messages, and scripts/fuzz runs it for longer.
// Anything it finds is a crash, a leak, an ASan/UBSan report, or a hang (-timeout).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mail/classifier.h"
#include "mail/html_to_text.h"
#include "mail/mime_parser.h"
#include "mail/reply_trimmer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  mail::ParseLimits limits;
  limits.max_size = 1 << 20;
  const mail::Message message = mail::ParseMessage(raw, limits);
  const mail::TrimResult trimmed = mail::TrimReply(message.text_body);
  const mail::Classification kind = mail::Classify(message);
  // The raw bytes as a body and as HTML too: the trimmer and the HTML converter see hostile text directly.
  const mail::TrimResult direct = mail::TrimReply(raw);
  const std::string text = mail::HtmlToText(raw);
  return static_cast<int>(trimmed.trimmed.size() + direct.elided.size() + kind.failed.size() + text.size()) & 0;
}
