#include "daemon/engine_adapters.h"

#include <utility>

namespace mailforumd {

base::Result<uint32_t> ImapMailSource::Select(const std::string& folder) {
  if (selected_ != nullptr && selected_->has_value() && (*selected_)->first == folder) return (*selected_)->second;
  auto selected = imap_.Select(folder);
  if (!selected) return selected.error();
  if (selected_ != nullptr) *selected_ = std::make_pair(folder, selected->uidvalidity);
  return selected->uidvalidity;
}

base::Status SmtpMailer::Connect() {
  auto connected = mail::SmtpTransport::Connect(options_);
  if (!connected) return connected.error();
  slot_ = std::move(connected).value();
  return {};
}

base::Status SmtpMailer::Send(const mail::Envelope& envelope, std::string_view raw,
                              std::optional<int>& reply_code) {
  const base::Status sent = slot_->Send(envelope, raw);
  reply_code =
      !sent.ok() && slot_->last_reply() ? std::optional<int>(slot_->last_reply()->code) : std::nullopt;
  return sent;
}

}  // namespace mailforumd
