#include "base/result.h"

namespace base {

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kTransient: return "transient";
    case ErrorKind::kPermanent: return "permanent";
    case ErrorKind::kConfig: return "config";
    case ErrorKind::kProtocol: return "protocol";
    case ErrorKind::kInvalidInput: return "invalid input";
    case ErrorKind::kInternal: return "internal";
  }
  return "unknown";
}

Error Error::WithContext(std::string_view context) const {
  Error e = *this;
  e.message = std::string(context) + ": " + message;
  return e;
}

}  // namespace base
