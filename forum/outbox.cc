#include "forum/outbox.h"

namespace forum {

std::string_view Name(OutboxKind kind) {
  switch (kind) {
    case OutboxKind::kAnswer:
      return "answer";
    case OutboxKind::kNotification:
      return "notification";
    case OutboxKind::kAcknowledgement:
      return "acknowledgement";
    case OutboxKind::kRejection:
      return "rejection";
  }
  return "answer";
}

std::optional<OutboxKind> ParseOutboxKind(std::string_view name) {
  for (OutboxKind kind : {OutboxKind::kAnswer, OutboxKind::kNotification, OutboxKind::kAcknowledgement,
                          OutboxKind::kRejection}) {
    if (Name(kind) == name) return kind;
  }
  return std::nullopt;
}

}  // namespace forum
