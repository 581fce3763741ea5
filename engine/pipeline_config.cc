#include "engine/pipeline_config.h"

#include <chrono>
#include <string>

#include "base/ascii.h"
#include "engine/rules_from_config.h"
#include "mail/reply_token.h"

namespace engine {

std::string BareAddress(const std::string& text) {
  std::string out = text;
  const auto open = text.rfind('<');
  const auto close = text.rfind('>');
  if (open != std::string::npos && close != std::string::npos && close > open) {
    out = text.substr(open + 1, close - open - 1);
  }
  return base::AsciiLower(out);
}

PipelineConfig PipelineConfigFor(const config::Config& cfg, const config::MailboxConfig& box) {
  PipelineConfig p;
  p.mailbox = box.name;
  p.rules = RulesFromConfig(box.rules);
  p.reply_to_template = cfg.smtp.reply_to;
  p.reply_key = cfg.secrets.reply_key.reveal();
  p.bounce_template = VerpTemplate(cfg);
  p.own_addresses = {BareAddress(cfg.smtp.from)};
  p.trusted_authserv_ids = cfg.auth.trusted_authserv_ids;
  p.max_message_size = cfg.limits.max_message_size;
  p.max_mime_depth = cfg.limits.max_mime_depth;
  p.max_parts = cfg.limits.max_parts;
  p.new_threads_per_sender_per_hour = cfg.limits.new_threads_per_sender_per_hour;
  p.acknowledge = box.acknowledge;
  p.notify_unverified_senders = box.notify_unverified_senders;
  p.auto_replies_per_domain_per_hour = cfg.outbox.auto_replies_per_domain_per_hour;
  p.auto_replies_per_hour = cfg.outbox.auto_replies_per_hour;
  p.acknowledgement_interval =
      std::chrono::duration_cast<std::chrono::seconds>(cfg.outbox.acknowledgement_interval);
  for (const auto& c : cfg.categories) {
    // Mailing lists are watchers whose mail carries no unsubscribe link (DeliveryOptions::list_addresses).
    std::vector<std::string> watchers = c.watchers;
    watchers.insert(watchers.end(), c.lists.begin(), c.lists.end());
    p.list_addresses.insert(p.list_addresses.end(), c.lists.begin(), c.lists.end());
    p.watchers.emplace_back(c.slug, std::move(watchers));
  }
  return p;
}

std::string VerpTemplate(const config::Config& cfg) {
  return mail::FillAddressTemplate(cfg.smtp.bounce_address, "{token}", "{id}");
}

}  // namespace engine
