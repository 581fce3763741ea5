#include "mail/message.h"

#include <strings.h>

namespace mail {
namespace {

bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

const std::string* Message::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (SameName(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::vector<std::string_view> Message::Headers(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : headers) {
    if (SameName(h.name, name)) out.push_back(h.value);
  }
  return out;
}

}  // namespace mail
