#include "mail/message.h"

#include "base/ascii.h"

namespace mail {

const std::string* Message::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (base::EqualsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::vector<std::string_view> Message::Headers(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : headers) {
    if (base::EqualsIgnoreCase(h.name, name)) out.push_back(h.value);
  }
  return out;
}

}  // namespace mail
