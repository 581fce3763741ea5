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

namespace {

constexpr Classification kClassifications[] = {Classification::kNormal, Classification::kAutoReply,
                                               Classification::kBounce, Classification::kFeedback,
                                               Classification::kDeliveryNotice};

}  // namespace

std::string_view Name(Classification classification) {
  switch (classification) {
    case Classification::kNormal:
      return "normal";
    case Classification::kAutoReply:
      return "auto_reply";
    case Classification::kBounce:
      return "bounce";
    case Classification::kFeedback:
      return "feedback";
    case Classification::kDeliveryNotice:
      return "delivery_notice";
  }
  return "normal";
}

std::optional<Classification> ParseClassification(std::string_view name) {
  for (Classification c : kClassifications) {
    if (Name(c) == name) return c;
  }
  return std::nullopt;
}

}  // namespace forum
