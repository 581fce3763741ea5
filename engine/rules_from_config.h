// The composition root's bridge from the configuration's rule tree
// (config::Rule, what the YAML loader produces) to the rules engine's own
// model (forum::Rule): forum/ may not include config/, so the daemon, which
// may use both, converts once per mailbox at start and on reload.
//
// Pure. Thread-safety: a stateless function over plain values.
#ifndef MAILFORUM_ENGINE_RULES_FROM_CONFIG_H_
#define MAILFORUM_ENGINE_RULES_FROM_CONFIG_H_

#include <vector>

#include "config/config.h"
#include "forum/rules.h"

namespace engine {

// The same rules in the same order, field by field. Enum values become the
// names forum's matchers compare with: classifications become
// config::ClassificationName() (which equals mail::MessageKindName()), DMARC
// results config::DmarcResultName() (which equals mail::DmarcVerdictName()).
// Compiled regexes are shared, not recompiled. Cannot fail: a loaded config
// is already valid.
std::vector<forum::Rule> RulesFromConfig(const std::vector<config::Rule>& rules);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_RULES_FROM_CONFIG_H_
