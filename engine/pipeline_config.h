// The pipeline's configuration for one mailbox, built from the loaded
// configuration: shared by mailforumd (its mailbox workers) and mailforumctl
// (route, quarantine retry), so that a dry run and a retry decide exactly as
// the daemon does.
//
// Pure. Thread-safety: a function over plain values.
#ifndef MAILFORUM_ENGINE_PIPELINE_CONFIG_H_
#define MAILFORUM_ENGINE_PIPELINE_CONFIG_H_

#include <string>

#include "config/config.h"
#include "engine/pipeline.h"

namespace engine {

// What Decide needs to handle mail of `box` (which must be one of
// `cfg.mailboxes`): its rules, the limits, the reply-token key and
// template, our own addresses, the trusted authserv-ids and the watchers of
// every category. Cannot fail: a loaded config is already valid.
PipelineConfig PipelineConfigFor(const config::Config& cfg, const config::MailboxConfig& box);

// The bare address of "Name <address>" (or the whole text when there are no
// brackets), lower-case.
std::string BareAddress(const std::string& text);

// smtp.bounce_address ("bounces+{token}@example.com") in the form
// mail::VerpAddress and mail::ParseVerpAddress take ("bounces+{id}@example.com").
std::string VerpTemplate(const config::Config& cfg);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_PIPELINE_CONFIG_H_
