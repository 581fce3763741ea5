#include "forum/inbound.h"

namespace forum {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPosted:
      return "posted";
    case Outcome::kIgnored:
      return "ignored";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kQuarantined:
      return "quarantined";
    case Outcome::kMachine:
      return "machine";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kTooOld:
      return "too_old";
    case Outcome::kUnsubscribed:
      return "unsubscribed";
  }
  return "ignored";
}

}  // namespace forum
