#include "daemon/engine_adapters.h"

namespace mailforumd {

base::Result<uint32_t> ImapMailSource::Select(const std::string& folder) {
  auto selected = imap_.Select(folder);
  if (!selected) return selected.error();
  return selected->uidvalidity;
}

}  // namespace mailforumd
