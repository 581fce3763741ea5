#include "engine/pipeline.h"

#include <algorithm>

#include "base/ascii.h"
#include "engine/thread_commands.h"
#include "mail/auth_results.h"
#include "mail/classifier.h"
#include "mail/composer.h"
#include "mail/message.h"
#include "mail/mime_parser.h"
#include "mail/reply_token.h"
#include "mail/reply_trimmer.h"
#include "mail/sha256.h"
#include "mail/unsubscribe_token.h"

namespace engine {
namespace {

// The outbox row whose VERP return path `address` is, when it is one and its signature verifies.
std::optional<int64_t> VerpOutboxId(const PipelineConfig& config, const std::string& address) {
  if (config.bounce_template.empty()) return std::nullopt;
  return mail::ParseVerpAddress(config.bounce_template, address, config.reply_key);
}

bool IsOwnAddress(const PipelineConfig& config, const std::string& address) {
  const std::string lower = base::AsciiLower(address);
  if (std::find(config.own_addresses.begin(), config.own_addresses.end(), lower) !=
      config.own_addresses.end()) {
    return true;
  }
  // Our reply addresses (help+TOKEN@...) and return paths (bounces+ID@...) are ours too.
  return mail::ExtractToken(config.reply_to_template, lower).has_value() || VerpOutboxId(config, lower);
}

// Where the message was addressed: To, Cc, Delivered-To and X-Original-To.
std::vector<std::string> RecipientAddresses(const mail::Message& m) {
  std::vector<std::string> out;
  for (const auto& a : m.to) out.push_back(a.address);
  for (const auto& a : m.cc) out.push_back(a.address);
  out.insert(out.end(), m.delivered_to.begin(), m.delivered_to.end());
  out.insert(out.end(), m.x_original_to.begin(), m.x_original_to.end());
  return out;
}

// The outbox row whose VERP return path the message was sent to, if any.
std::optional<int64_t> BouncedOutboxId(const mail::Message& m, const PipelineConfig& config) {
  for (const std::string& address : RecipientAddresses(m)) {
    if (auto id = VerpOutboxId(config, address)) return id;
  }
  return std::nullopt;
}

// What the trace says of a bounce that reached no signed return path of
// ours: anyone can write one listing anyone, so it changes no score; the
// addresses it claimed (the first ten) are shown for the operator.
std::string UnverifiedBounceNote(const std::vector<forum::BounceDraft>& claimed) {
  constexpr size_t kShown = 10;
  std::string note = "bounce not addressed to a return path of ours: no score changed";
  if (claimed.empty()) return note + " (it named no failed recipient)";
  note += " (it claimed:";
  for (size_t i = 0; i < claimed.size() && i < kShown; ++i) {
    note += (i ? ", " : " ") + claimed[i].address + (claimed[i].hard ? " hard" : " soft");
  }
  if (claimed.size() > kShown) note += " and " + std::to_string(claimed.size() - kShown) + " more";
  return note + ")";
}

// The thread named by a valid reply token in To, Cc, Delivered-To or X-Original-To.
// A token that does not verify is noted in `note` and never trusted.
base::Result<std::optional<int64_t>> ThreadFromToken(const mail::Message& m, const PipelineConfig& config,
                                                     ForumLookup& forum, std::string& note) {
  for (const std::string& address : RecipientAddresses(m)) {
    auto token = mail::ExtractToken(config.reply_to_template, address);
    if (!token) continue;
    auto thread = mail::VerifyReplyToken(*token, config.reply_key);
    if (!thread) {
      note = "reply token in " + address + " does not verify; ignored";
      continue;
    }
    auto exists = forum.ThreadExists(static_cast<int64_t>(*thread));
    if (!exists) return exists.error();
    if (*exists) return std::optional<int64_t>(static_cast<int64_t>(*thread));
    note = "reply token names thread " + std::to_string(*thread) + ", which does not exist";
  }
  return std::optional<int64_t>();
}

// The Message-IDs of `m`'s ancestors, nearest first: In-Reply-To, then References from the newest.
std::vector<std::string> AncestorIds(const mail::Message& m) {
  std::vector<std::string> ids = m.in_reply_to;
  for (auto it = m.references.rbegin(); it != m.references.rend(); ++it) ids.push_back(*it);
  return ids;
}

// The thread of the nearest known ancestor.
base::Result<std::optional<int64_t>> ThreadFromReferences(const mail::Message& m, ForumLookup& forum) {
  return forum.FindThreadByMessageIds(AncestorIds(m));
}

// When `m` was sent to an unsubscribe address of ours (help+unsub-TOKEN@):
// `item` records the unsubscription its token names when the token verifies
// for its outbox row's recipient and scope (kUnsubscribed), or that nothing
// changed (kIgnored). Either way nothing is posted or answered; true.
base::Result<bool> UnsubscribeByAddress(const mail::Message& m, const PipelineConfig& config,
                                        ForumLookup& forum, forum::InboundItem& item) {
  std::string note;
  for (const std::string& address : RecipientAddresses(m)) {
    const auto token = mail::ExtractUnsubscribeToken(config.reply_to_template, address);
    if (!token) continue;
    const auto row = mail::UnsubscribeTokenRow(*token);
    std::optional<forum::UnsubscribeTarget> target;
    if (row) {
      auto found = forum.FindUnsubscribeTarget(static_cast<int64_t>(*row));
      if (!found) return found.error();
      target = *found;
    }
    const std::string scope = target ? target->scope() : "";
    if (scope.empty() || !mail::VerifyUnsubscribeToken(*token, target->recipient, scope, config.reply_key)) {
      note = "unsubscribe token in " + address + " does not verify: nothing changed";
      continue;
    }
    if (std::find(config.list_addresses.begin(), config.list_addresses.end(), target->recipient) !=
        config.list_addresses.end()) {
      note = "unsubscribe token in " + address + " names mail to the mailing list " + target->recipient +
             " (categories[].lists), which one member cannot unsubscribe: nothing changed";
      continue;
    }
    item.outcome = forum::Outcome::kUnsubscribed;
    item.reason = target->recipient + " unsubscribed from " + forum::DescribeScope(scope) + " (mailto)";
    item.subscription =
        forum::SubscriptionChange{forum::SubscriptionChange::Action::kUnsubscribe, target->recipient, scope,
                                  forum::UnsubscribeSource::kMailto};
    return true;
  }
  if (note.empty()) return false;
  item.outcome = forum::Outcome::kIgnored;
  item.reason = note;
  return true;
}

// A reply in thread `audience` that is only `#mute` or `#unmute` (see
// engine/thread_commands.h): its sender's subscription to the thread changes
// when the sender is proven (a trusted, aligned DMARC pass: nobody mutes a
// thread for someone else); never posted either way. False when `post` is
// no such reply.
bool TakeMuteCommand(const forum::PostDraft& post, const forum::ThreadAudience& audience,
                     const mail::DmarcEvidence& proof, forum::InboundItem& item) {
  if (!post.attachments.empty()) return false;
  const auto command = ParseMuteCommand(post.body);
  if (!command) return false;
  const bool mute = *command == MuteCommand::kMute;
  const std::string what = mute ? "#mute" : "#unmute";
  const std::string thread = "thread " + std::to_string(audience.thread_id);
  item.outcome = forum::Outcome::kIgnored;
  if (proof.verdict != mail::DmarcVerdict::kPass) {
    item.reason = what + " in " + thread + " not applied: sender not proven (dmarc=" +
                  std::string(mail::DmarcVerdictName(proof.verdict)) + ": " + proof.why + ")";
    return true;
  }
  const std::string address = base::AsciiLower(post.author_address);
  item.subscription = forum::SubscriptionChange{mute ? forum::SubscriptionChange::Action::kUnsubscribe
                                                     : forum::SubscriptionChange::Action::kResubscribe,
                                                address, forum::ThreadScope(audience.thread_id),
                                                forum::UnsubscribeSource::kMute};
  if (mute) item.outcome = forum::Outcome::kUnsubscribed;
  item.reason = address + (mute ? " muted " : " unmuted ") + thread;
  return true;
}

const std::vector<std::string>* WatchersOf(const PipelineConfig& config, const std::string& category) {
  for (const auto& [slug, addresses] : config.watchers) {
    if (slug == category) return &addresses;
  }
  return nullptr;
}

// The domain of `address`, lower-case ("" when it has none).
std::string DomainOf(const std::string& address) {
  const size_t at = address.rfind('@');
  return at == std::string::npos ? std::string() : base::AsciiLower(address.substr(at + 1));
}

// Whether machine mail `m` from `from` answers mail we sent to `from`'s
// domain (issue 8 item 7; see the header): only then may it feed the loop
// breaker, which counts it against that domain. A From alone proves
// nothing, and neither does a token or a return path that any sender gets
// for its own mail.
base::Result<bool> TiedToOurs(const mail::Message& m, const std::string& from, const PipelineConfig& config,
                              ForumLookup& forum) {
  const std::string domain = DomainOf(from);
  if (domain.empty()) return false;
  const auto in_domain = [&](const std::string& address) { return DomainOf(address) == domain; };
  for (const std::string& address : RecipientAddresses(m)) {
    const auto token = mail::ExtractToken(config.reply_to_template, address);
    if (!token) continue;
    const auto thread = mail::VerifyReplyToken(*token, config.reply_key);
    if (!thread) continue;
    auto audience = forum.FindThreadAudience(static_cast<int64_t>(*thread));
    if (!audience) return audience.error();
    if (!audience->has_value()) continue;
    const forum::ThreadAudience& people = **audience;
    if (in_domain(people.author_address) ||
        std::any_of(people.participants.begin(), people.participants.end(), in_domain)) {
      return true;
    }
    if (const auto* watchers = WatchersOf(config, people.category)) {
      if (std::any_of(watchers->begin(), watchers->end(), in_domain)) return true;
    }
  }
  // Hostile mail may list thousands of references: the nearest ancestors are the ones a reply names.
  constexpr size_t kMaxIds = 50;
  std::vector<std::string> ids;
  for (auto it = m.in_reply_to.begin(); it != m.in_reply_to.end() && ids.size() < kMaxIds; ++it) {
    ids.push_back(*it);
  }
  for (auto it = m.references.rbegin(); it != m.references.rend() && ids.size() < kMaxIds; ++it) {
    ids.push_back(*it);
  }
  const std::optional<int64_t> verp = BouncedOutboxId(m, config);
  if (!verp && ids.empty()) return false;
  return forum.MailedDomain(domain, verp, ids);
}

// Queues `kind` mail to `address` for `item`'s post, unless it goes to the
// post's author, to one of our own addresses, or is queued already.
void Queue(forum::InboundItem& item, const PipelineConfig& config, forum::OutboxKind kind,
           const std::string& address) {
  const std::string lower = base::AsciiLower(address);
  if (lower.empty() || lower == base::AsciiLower(item.from_address) || IsOwnAddress(config, lower)) return;
  for (const forum::OutboxDraft& queued : item.outbox) {
    if (base::AsciiLower(queued.recipient) == lower) return;
  }
  item.outbox.push_back({kind, lower});
}

// The forum's record of what the classifier found (the same five kinds).
forum::Classification ClassificationOf(mail::MessageKind kind) {
  switch (kind) {
    case mail::MessageKind::kNormal:
      return forum::Classification::kNormal;
    case mail::MessageKind::kAutoReply:
      return forum::Classification::kAutoReply;
    case mail::MessageKind::kBounce:
      return forum::Classification::kBounce;
    case mail::MessageKind::kFeedback:
      return forum::Classification::kFeedback;
    case mail::MessageKind::kDeliveryNotice:
      return forum::Classification::kDeliveryNotice;
  }
  return forum::Classification::kNormal;
}

// Queues a notice of `kind` ("acknowledgement" or "rejection") to the
// sender, with the per-address interval `min_interval` and the hourly caps.
// Anyone can write any From: a notice to a sender without a trusted DMARC
// pass may reach someone who never wrote (backscatter), so none is queued
// unless the mailbox notifies unverified senders; the reason says so.
void QueueNotice(forum::InboundItem& item, const PipelineConfig& config, const mail::DmarcEvidence& proof,
                 forum::OutboxKind kind, std::chrono::seconds min_interval = std::chrono::seconds(0)) {
  if (item.from_address.empty()) return;
  if (proof.verdict != mail::DmarcVerdict::kPass && !config.notify_unverified_senders) {
    item.reason +=
        std::string("; no ") + std::string(forum::Name(kind)) +
        " sent: the sender is not verified (dmarc=" + std::string(mail::DmarcVerdictName(proof.verdict)) +
        ")";
    return;
  }
  forum::OutboxDraft notice{kind, item.from_address, min_interval};
  notice.max_per_domain_per_hour = config.auto_replies_per_domain_per_hour;
  notice.max_per_hour = config.auto_replies_per_hour;
  item.outbox.push_back(std::move(notice));
}

// A post in an existing thread: answers to its author and earlier
// participants, notifications to the category's other watchers.
void QueueAnswers(forum::InboundItem& item, const PipelineConfig& config,
                  const forum::ThreadAudience& audience) {
  Queue(item, config, forum::OutboxKind::kAnswer, audience.author_address);
  for (const std::string& participant : audience.participants)
    Queue(item, config, forum::OutboxKind::kAnswer, participant);
  if (const auto* watchers = WatchersOf(config, audience.category)) {
    for (const std::string& w : *watchers) Queue(item, config, forum::OutboxKind::kNotification, w);
  }
}

// The post `m` replies to directly (its first In-Reply-To id), when that is
// an answer in `thread_id`: a post there by someone other than `asker`.
base::Result<std::optional<int64_t>> AnswerRepliedTo(const mail::Message& m, int64_t thread_id,
                                                     const std::string& asker, ForumLookup& forum) {
  if (m.in_reply_to.empty()) return std::optional<int64_t>();
  auto post = forum.FindPostByMessageId(m.in_reply_to.front());
  if (!post) return post.error();
  if (!post->has_value() || (*post)->thread_id != thread_id ||
      base::AsciiLower((*post)->author_address) == asker) {
    return std::optional<int64_t>();
  }
  return std::optional<int64_t>((*post)->post_id);
}

const char* CommandName(ThreadCommand command) {
  switch (command) {
    case ThreadCommand::kResolve:
      return "#resolved";
    case ThreadCommand::kReopen:
      return "#reopen";
    case ThreadCommand::kAccept:
      return "#accept";
  }
  return "#?";
}

// Why the command lines in `parsed` stay text: "#resolved not applied: <why>".
std::string NotApplied(const ThreadCommands& parsed, const std::string& why) {
  std::string names;
  for (ThreadCommand command : parsed.commands) {
    const std::string name = CommandName(command);
    if (names.find(name) == std::string::npos) names += (names.empty() ? "" : ", ") + name;
  }
  return names + " not applied: " + why;
}

// The thread author's command lines in `post`'s body: removed from it and
// returned as the update they make (nullopt when there are none or they do
// not apply). They apply only when the From address is the thread author's
// AND `proof` is a trusted, aligned DMARC pass: a From string alone is
// anyone's to write. Otherwise they stay in the post as ordinary text.
// `note` says what was done, why the commands stayed text, or why an #accept
// was dropped.
base::Result<std::optional<forum::ThreadUpdate>> TakeThreadCommands(const mail::Message& m,
                                                                    const forum::ThreadAudience& audience,
                                                                    const mail::DmarcEvidence& proof,
                                                                    forum::PostDraft& post,
                                                                    ForumLookup& forum, std::string& note) {
  ThreadCommands parsed = ParseThreadCommands(post.body);
  if (parsed.commands.empty()) return std::optional<forum::ThreadUpdate>();
  if (base::AsciiLower(post.author_address) != base::AsciiLower(audience.author_address)) {
    note = NotApplied(parsed, "not the thread's author");
    return std::optional<forum::ThreadUpdate>();
  }
  if (proof.verdict != mail::DmarcVerdict::kPass) {
    note =
        NotApplied(parsed, "sender not proven (dmarc=" + std::string(mail::DmarcVerdictName(proof.verdict)) +
                               ": " + proof.why + ")");
    return std::optional<forum::ThreadUpdate>();
  }
  post.body = std::move(parsed.rest);
  forum::ThreadUpdate update;
  update.thread_id = audience.thread_id;
  const std::string thread = "thread " + std::to_string(audience.thread_id);
  for (ThreadCommand command : parsed.commands) {
    switch (command) {
      case ThreadCommand::kResolve:
        update.status = forum::ThreadUpdate::Status::kResolved;
        break;
      case ThreadCommand::kReopen:
        update.status = forum::ThreadUpdate::Status::kReopened;
        break;
      case ThreadCommand::kAccept: {
        auto answer =
            AnswerRepliedTo(m, audience.thread_id, base::AsciiLower(audience.author_address), forum);
        if (!answer) return answer.error();
        update.accepted_post_id = *answer;
        break;
      }
    }
  }
  std::vector<std::string> done;
  if (update.status == forum::ThreadUpdate::Status::kResolved) done.push_back(thread + " resolved");
  if (update.status == forum::ThreadUpdate::Status::kReopened) done.push_back(thread + " reopened");
  if (update.accepted_post_id)
    done.push_back("post " + std::to_string(*update.accepted_post_id) + " accepted");
  const bool accept_dropped =
      !update.accepted_post_id && std::find(parsed.commands.begin(), parsed.commands.end(),
                                            ThreadCommand::kAccept) != parsed.commands.end();
  if (accept_dropped) done.push_back("#accept ignored: not a reply to an answer in " + thread);
  for (size_t i = 0; i < done.size(); ++i) note += (i ? "; " : "") + done[i];
  note += " by its author";
  return std::optional<forum::ThreadUpdate>(update);
}

std::vector<forum::AttachmentDraft> Attachments(const mail::Message& m) {
  std::vector<forum::AttachmentDraft> out;
  for (const mail::Attachment& a : m.attachments) {
    if (a.part < 0 || static_cast<size_t>(a.part) >= m.parts.size()) continue;
    out.push_back(
        {a.filename, a.content_type, a.content_id, a.sha256, m.parts[static_cast<size_t>(a.part)].body});
  }
  return out;
}

}  // namespace

base::Result<std::map<std::string, int64_t>> ForumLookup::FindThreadsOfMessageIds(
    const std::vector<std::string>& ids) {
  std::map<std::string, int64_t> out;
  for (const std::string& id : ids) {
    auto thread = FindThreadByMessageIds({id});
    if (!thread) return thread.error();
    if (thread->has_value()) out[id] = **thread;
  }
  return out;
}

base::Result<std::map<std::string, int64_t>> ForumLookup::CountThreadsOpenedSinceEach(
    const std::vector<std::string>& addresses, int64_t seconds) {
  std::map<std::string, int64_t> out;
  for (const std::string& address : addresses) {
    auto count = CountThreadsOpenedSince(address, seconds);
    if (!count) return count.error();
    out[base::AsciiLower(address)] = *count;
  }
  return out;
}

void AddBatchLookups(const PreparedMessage& prepared, std::vector<std::string>& message_ids,
                     std::vector<std::string>& senders) {
  if (prepared.decided || prepared.rule == nullptr || prepared.rule->action != forum::RuleAction::kThread)
    return;
  for (std::string& id : AncestorIds(prepared.message)) message_ids.push_back(std::move(id));
  senders.push_back(prepared.item.from_address);
}

std::string MessageKey(const std::string& message_id, const std::string& from_address, std::string_view raw) {
  if (message_id.empty()) return "sha256:" + mail::Sha256Hex(raw);
  return message_id + " " + base::AsciiLower(from_address);
}

forum::InboundItem QuarantineItem(const std::string& mailbox, const FetchedMessage& fetched,
                                  const std::string& reason) {
  forum::InboundItem item;
  item.mailbox = mailbox;
  item.uidvalidity = fetched.uidvalidity;
  item.uid = fetched.uid;
  item.size = fetched.size != 0 ? fetched.size : fetched.raw.size();
  // Poison has no trustworthy Message-ID: the raw bytes are its identity.
  item.message_key = MessageKey("", "", fetched.raw);
  item.classification = forum::Classification::kNormal;
  item.outcome = forum::Outcome::kQuarantined;
  item.reason = reason;
  item.raw = fetched.raw;
  return item;
}

PreparedMessage Prepare(const FetchedMessage& fetched, const PipelineConfig& config) {
  PreparedMessage out;
  if (fetched.raw.size() > config.max_message_size) {
    out.decided = QuarantineItem(config.mailbox, fetched,
                                 "message of " + std::to_string(fetched.raw.size()) +
                                     " bytes is over max_message_size (" +
                                     std::to_string(config.max_message_size) + ")");
    return out;
  }
  if (!mail::LooksLikeEmail(fetched.raw)) {
    out.decided = QuarantineItem(config.mailbox, fetched, "not an email: no header fields before the body");
    return out;
  }
  mail::ParseLimits limits;
  limits.max_size = config.max_message_size;
  limits.max_depth = config.max_mime_depth;
  limits.max_parts = config.max_parts;
  out.message = mail::ParseMessage(fetched.raw, limits);
  const mail::Message& m = out.message;
  if (m.truncated) {
    std::string why = "over the MIME limits";
    if (!m.warnings.empty()) why += ": " + m.warnings.front();
    out.decided = QuarantineItem(config.mailbox, fetched, why);
    return out;
  }

  forum::InboundItem& item = out.item;
  item.mailbox = config.mailbox;
  item.uidvalidity = fetched.uidvalidity;
  item.uid = fetched.uid;
  item.message_id = m.message_id;
  item.from_address = m.from ? m.from->address : "";
  item.subject = m.subject;
  item.size = fetched.raw.size();
  item.message_key = MessageKey(m.message_id, item.from_address, fetched.raw);

  out.kind = mail::Classify(m);
  item.classification = ClassificationOf(out.kind.kind);
  if (out.kind.kind != mail::MessageKind::kNormal) return out;
  // Computed once: the rules match on it, and it is the only proof that the
  // From address is its owner's (thread commands, PostDraft::author_verified).
  out.proof = mail::ReadTrustedDmarc(m, config.trusted_authserv_ids);
  const std::string dmarc(mail::DmarcVerdictName(out.proof.verdict));
  out.rule = forum::FirstMatch(config.rules, forum::RuleFacts{m, forum::Name(item.classification), dmarc});
  if (out.rule != nullptr && out.rule->action == forum::RuleAction::kThread) {
    out.trimmed = mail::TrimReply(m.text_body);
    out.attachments = Attachments(m);
  }
  return out;
}

base::Result<forum::InboundItem> Decide(const FetchedMessage& fetched, const PipelineConfig& config,
                                        ForumLookup& forum) {
  return Decide(fetched, Prepare(fetched, config), config, forum);
}

base::Result<forum::InboundItem> Decide(const FetchedMessage& fetched, PreparedMessage prepared,
                                        const PipelineConfig& config, ForumLookup& forum) {
  if (prepared.decided) return std::move(*prepared.decided);
  const mail::Message& m = prepared.message;
  forum::InboundItem item = std::move(prepared.item);
  const mail::Classification& kind = prepared.kind;
  // A message to a signed unsubscribe address is an unsubscription and
  // nothing else, whatever it says (a mail client's "Unsubscribe" sends
  // one; Apple Mail marks it as automatic). Bounces go to the return path.
  if (kind.kind != mail::MessageKind::kBounce) {
    auto unsubscribed = UnsubscribeByAddress(m, config, forum, item);
    if (!unsubscribed) return unsubscribed.error();
    if (*unsubscribed) return item;
  }
  if (kind.kind != mail::MessageKind::kNormal) {
    item.outcome = forum::Outcome::kMachine;
    item.reason = kind.why;
    for (const auto& f : kind.failed) item.bounces.push_back({f.address, f.hard, f.reason});
    if (kind.kind == mail::MessageKind::kBounce) {
      item.bounced_outbox_id = BouncedOutboxId(m, config);
      if (!item.bounced_outbox_id) {
        item.reason += "; " + UnverifiedBounceNote(item.bounces);
        item.bounces.clear();
      }
    }
    auto tied = TiedToOurs(m, item.from_address, config, forum);
    if (!tied) return tied.error();
    item.tied_to_ours = *tied;
    if (!item.tied_to_ours) item.reason += "; not tied to mail of ours: ignored by the loop breaker";
    return item;
  }
  // Only machines write to our return path; whatever comes there is never a post.
  if (const auto verp = BouncedOutboxId(m, config)) {
    item.outcome = forum::Outcome::kMachine;
    item.reason = "sent to the return path of outbox row " + std::to_string(*verp);
    auto tied = TiedToOurs(m, item.from_address, config, forum);
    if (!tied) return tied.error();
    item.tied_to_ours = *tied;
    return item;
  }
  if (IsOwnAddress(config, item.from_address)) {
    item.outcome = forum::Outcome::kMachine;
    item.reason = "sent by this gateway";
    return item;
  }

  const mail::DmarcEvidence& proof = prepared.proof;
  const forum::Rule* rule = prepared.rule;
  if (rule == nullptr) {
    item.outcome = forum::Outcome::kIgnored;
    item.reason = "no rule matched";
    return item;
  }
  item.rule = rule->name;
  switch (rule->action) {
    case forum::RuleAction::kIgnore:
      item.outcome = forum::Outcome::kIgnored;
      item.reason = "rule " + rule->name;
      return item;
    case forum::RuleAction::kQuarantine:
      item.outcome = forum::Outcome::kQuarantined;
      item.reason = "rule " + rule->name;
      item.raw = fetched.raw;
      return item;
    case forum::RuleAction::kReject:
      item.outcome = forum::Outcome::kRejected;
      item.reason = rule->reason.empty() ? "rule " + rule->name : rule->reason;
      QueueNotice(item, config, proof, forum::OutboxKind::kRejection);
      return item;
    case forum::RuleAction::kThread:
      break;
  }

  // Thread matching: a valid reply token, then known Message-IDs, then a new thread. Never the subject.
  std::string note;
  auto thread = ThreadFromToken(m, config, forum, note);
  if (!thread) return thread.error();
  if (!thread->has_value()) {
    thread = ThreadFromReferences(m, forum);
    if (!thread) return thread.error();
  }

  forum::PostDraft post;
  post.author_address = item.from_address;
  post.author_name = m.from ? m.from->name : "";
  post.author_verified = proof.verdict == mail::DmarcVerdict::kPass;
  post.body = std::move(prepared.trimmed.trimmed);
  post.search = std::move(prepared.search);  // the store checks that it is still of the body
  post.elided = std::move(prepared.trimmed.elided);
  post.attachments = std::move(prepared.attachments);
  if (post.body.empty() && post.attachments.empty()) {
    item.outcome = forum::Outcome::kIgnored;
    item.reason = "nothing left after trimming quotes and signature";
    return item;
  }

  if (thread->has_value()) {
    post.thread_id = **thread;
    item.reason = note.empty() ? "answer in thread " + std::to_string(**thread) : note;
    auto audience = forum.FindThreadAudience(**thread);
    if (!audience) return audience.error();
    if (audience->has_value()) {
      if (TakeMuteCommand(post, **audience, proof, item)) return item;
      std::string done;
      auto update = TakeThreadCommands(m, **audience, proof, post, forum, done);
      if (!update) return update.error();
      item.thread_update = *update;
      if (!done.empty()) item.reason += "; " + done;
      if (post.body.empty() && post.attachments.empty()) {
        // Only commands: they apply, and nothing is posted or mailed.
        item.outcome = forum::Outcome::kIgnored;
        item.reason = done;
        return item;
      }
      QueueAnswers(item, config, **audience);
      // Writing in the thread again subscribes its (proven) author to it
      // again: a forged From must not undo someone's unsubscription.
      if (post.author_verified) {
        item.subscription =
            forum::SubscriptionChange{forum::SubscriptionChange::Action::kResubscribe,
                                      base::AsciiLower(post.author_address), forum::ThreadScope(**thread)};
      }
    }
  } else {
    auto recent = forum.CountThreadsOpenedSince(item.from_address, kNewThreadWindowSeconds);
    if (!recent) return recent.error();
    if (*recent >= config.new_threads_per_sender_per_hour) {
      item.outcome = forum::Outcome::kRejected;
      item.reason = "over new_threads_per_sender_per_hour (" +
                    std::to_string(config.new_threads_per_sender_per_hour) + ")";
      QueueNotice(item, config, proof, forum::OutboxKind::kRejection);
      return item;
    }
    post.category = rule->category;
    post.tags = rule->tags;
    post.subject = m.subject.empty() ? "(no subject)" : m.subject;
    item.reason = note.empty() ? "new thread" : note + "; new thread";
    if (config.acknowledge) {
      QueueNotice(item, config, proof, forum::OutboxKind::kAcknowledgement, config.acknowledgement_interval);
    }
    if (const auto* watchers = WatchersOf(config, post.category)) {
      for (const std::string& w : *watchers) Queue(item, config, forum::OutboxKind::kNotification, w);
    }
  }
  item.outcome = forum::Outcome::kPosted;
  item.post = std::move(post);
  // What the parser had to repair or cut (e.g. HTML text truncated at its limit) shows in trace.
  constexpr size_t kWarningsShown = 3;
  for (size_t i = 0; i < m.warnings.size() && i < kWarningsShown; ++i)
    item.reason += "; warning: " + m.warnings[i];
  if (m.warnings.size() > kWarningsShown) {
    item.reason += "; " + std::to_string(m.warnings.size() - kWarningsShown) + " more warning(s)";
  }
  return item;
}

}  // namespace engine
