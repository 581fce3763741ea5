// libFuzzer target over mail::HtmlToText alone, with inputs up to 4 MiB (the
// converter's input cap; scripts/fuzz passes -max_len=4194304) and a time
// limit per input, so that what is slow (a quadratic shape) is a finding like
// a crash. Built with clang only (MAILFORUM_FUZZ=ON), under ASan and UBSan;
// seeds: tests/corpus/fuzz/html/ (the hostile shapes of issue 8).
//
// Beyond crashes it checks what the converter promises: its text is valid
// UTF-8, bounded by the input, and Gumbo's tree stays shallow.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "mail/charset.h"
#include "mail/html_to_text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view html(reinterpret_cast<const char*>(data), size);
  const mail::HtmlText text = mail::HtmlToTextChecked(html);
  // The text stops at the HTML read plus 64 KiB; the cut is at a character boundary.
  if (!mail::IsValidUtf8(text.text) || text.text.size() > std::min(size, size_t{4} << 20) + (64 << 10)) {
    std::abort();
  }
  const mail::HtmlToTextResult split = mail::HtmlToTextSplit(html);
  if (split.truncated != text.truncated) std::abort();
  // 128 open elements from the pre-filter, at most one implied element each, document, html, body.
  if (mail::internal::ParsedTreeShape(html).depth > 2 * 128 + 3) std::abort();
  return 0;
}
