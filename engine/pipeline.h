// The ingestion pipeline's decision for one fetched message: parse →
// classify → rules → thread match → the forum::InboundItem to record
// (DESIGN.md §1). No I/O of its own: the forum is reached through
// ForumLookup (a Store in the daemon, a fake in unit tests).
//
// Bad mail never fails here: too large, not an email, or over the MIME
// limits becomes a quarantine outcome with its raw bytes and the reason.
// Machine mail (auto-replies, bounces, feedback reports, delivery notices,
// our own mail, anything sent to our VERP return path) is recorded as
// kMachine and never posted. A bounce to the signed VERP return path of
// one of our outbox rows names that row (its recipient's bounce score
// grows); any other bounce changes no score: its failed recipients are
// dropped and the reason lists what it claimed. Machine mail is tied to ours
// (forum::InboundItem::tied_to_ours, what the loop circuit breaker counts by
// its From) when it answers mail we sent to its From's domain: it reached
// the verified VERP return path of a row to that domain, carries a reply
// token that verifies for a thread whose people (author, participants,
// watchers) include that domain, or names in In-Reply-To/References one of
// our Message-IDs that went to that domain. So neither a forged From nor a
// token or return path the sender got for its own mail can pause mail to
// someone else's domain. (A bounce to our return path counts for the loop
// breaker through the bounced row, by that row's recipient.)
//
// What a post queues (forum::OutboxDraft): a new thread, an acknowledgement
// to its author (when the mailbox acknowledges and the author has a trusted
// DMARC pass or the mailbox notifies unverified senders, as for rejection
// notices; under the hourly caps) and a notification to each
// watcher of its category; a post in an existing thread, an answer to the
// thread's author and to every earlier participant, and a notification to
// each watcher who is neither. Each address once (case-insensitively), never
// the post's own author, never one of our own addresses.
//
// Identity needs proof: a From string is anyone's to write, so acting as a
// person takes the From address AND a trusted, aligned DMARC pass
// (mail::ReadTrustedDmarc, read once per message). PostDraft::author_verified
// records whether a post's author is proven.
//
// Unsubscribing (issue 12): a message to a signed unsubscribe address of ours
// (the reply template with "unsub-TOKEN" as its token, mail/unsubscribe_token.h)
// is recognised right after classification (bounces excepted), before the
// rules: when the token verifies for the outbox row it names, the row's
// recipient unsubscribes from what that mail was about (outcome
// kUnsubscribed, InboundItem::subscription); otherwise nothing changes
// (kIgnored, the reason says why). It is never posted, answered or
// acknowledged. In an existing thread, a reply whose whole content is
// `#mute` (`#unmute`) mutes (unmutes) the thread for its sender when the
// sender is proven (as for thread commands, below); it is never posted. A
// proven author's post in a thread subscribes them to it again.
//
// Thread lifecycle (engine/thread_commands.h): in a post that joins an
// existing thread, is written by the thread's author (addresses compared
// case-insensitively) and whose sender is proven as above, `#resolved`,
// `#reopen` and `#accept` lines become the item's forum::ThreadUpdate and are
// removed from the post; without that proof they stay in the post as text
// and the reason says why ("#resolved not applied: sender not proven
// (dmarc=none: ...)"); `#accept`
// accepts the post named by the first In-Reply-To id, when that is a post of
// the same thread by someone else (otherwise it is dropped and the reason
// says so). When only commands were written, no post is made: the outcome is
// kIgnored and the update still applies. Anyone else's command lines are
// ordinary text. Decide fails only when a
// lookup fails (the database is unreachable): then nothing is decided and the
// caller retries the batch later.
//
// Thread-safety: Decide is reentrant; a PipelineConfig is read-only.
#ifndef MAILFORUM_ENGINE_PIPELINE_H_
#define MAILFORUM_ENGINE_PIPELINE_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "forum/inbound.h"
#include "forum/outbox.h"
#include "forum/rules.h"
#include "mail/auth_results.h"
#include "mail/classifier.h"
#include "mail/message.h"
#include "mail/reply_trimmer.h"

namespace engine {

// What the pipeline asks of the forum.
class ForumLookup {
 public:
  virtual ~ForumLookup() = default;
  virtual base::Result<bool> ThreadExists(int64_t thread_id) = 0;
  virtual base::Result<std::optional<int64_t>> FindThreadByMessageIds(
      const std::vector<std::string>& ids) = 0;
  virtual base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) = 0;
  // The people of a thread, or nullopt when it does not exist.
  virtual base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) = 0;
  // The post that `message_id` (inbound or outbound) belongs to, or nullopt.
  virtual base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) = 0;
  // Whether we sent an address of `domain` (lower-case) the mail of outbox
  // row `outbox_id`, or mail carrying one of `message_ids` (our outbound
  // Message-IDs, without angle brackets).
  virtual base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                          const std::vector<std::string>& message_ids) = 0;
  // The outbox row an unsubscribe token names (its recipient and what it was about), or nullopt.
  virtual base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id) = 0;

  // Batch forms, for a batch's lookups asked at once (AddBatchLookups); a
  // lookup that cannot batch answers one by one (the defaults).
  // Each of `ids` that is known, with what FindThreadByMessageIds({id}) answers.
  virtual base::Result<std::map<std::string, int64_t>> FindThreadsOfMessageIds(
      const std::vector<std::string>& ids);
  // CountThreadsOpenedSince of each of `addresses`, keyed by lower-case address.
  virtual base::Result<std::map<std::string, int64_t>> CountThreadsOpenedSinceEach(
      const std::vector<std::string>& addresses, int64_t seconds);
};

// The window of PipelineConfig::new_threads_per_sender_per_hour, in seconds
// (what Decide passes to CountThreadsOpenedSince).
inline constexpr int64_t kNewThreadWindowSeconds = 3600;

// Everything Decide needs from the configuration, for one mailbox.
struct PipelineConfig {
  std::string mailbox;
  std::vector<forum::Rule> rules;
  std::string reply_to_template;  // "help+{token}@example.com"
  std::string reply_key;          // HMAC key of reply tokens (and of VERP addresses)
  // Our VERP return path, as mail::VerpAddress takes it ("bounces+{id}@example.com"); empty: none.
  std::string bounce_template;
  std::vector<std::string> own_addresses;  // our From and Reply-To addresses (lower-case): never answered
  std::vector<std::string> trusted_authserv_ids;  // whose Authentication-Results count
  uint64_t max_message_size = 25ull << 20;
  int max_mime_depth = 32;
  int max_parts = 500;
  int new_threads_per_sender_per_hour = 20;
  bool acknowledge = true;  // acknowledge new threads to their author
  // At most one acknowledgement per address this often (0: no limit); see OutboxDraft::min_interval.
  std::chrono::seconds acknowledgement_interval{std::chrono::hours(1)};
  // Acknowledgements and rejection notices go to senders without a trusted
  // DMARC pass too. The configuration's default (mailbox key
  // notify_unverified_senders) is false; this struct's is true so that
  // hand-built configurations (tests) acknowledge as before.
  bool notify_unverified_senders = true;
  // Hourly caps of acknowledgements and rejection notices together, per
  // recipient domain and overall (0: none); see OutboxDraft.
  int auto_replies_per_domain_per_hour = 0;
  int auto_replies_per_hour = 0;
  // Category slug → watcher addresses, notified of every new thread and post.
  std::vector<std::pair<std::string, std::vector<std::string>>> watchers;
  // The watchers that are mailing lists (categories[].lists, lower-case). No
  // unsubscribe token is minted for their mail; one that names it anyway (signed
  // while the address was a plain watcher) changes nothing: one member never
  // unsubscribes the whole list.
  std::vector<std::string> list_addresses;
};

struct FetchedMessage {
  uint32_t uidvalidity = 0;
  uint32_t uid = 0;
  std::string raw;
  // The whole message's size (RFC822.SIZE), which is more than raw.size()
  // when only its first bytes were fetched; 0: raw.size().
  uint64_t size = 0;
};

// What Decide makes of a message without asking the forum: the message
// parsed, classified, its DMARC evidence read, its first matching rule, and
// for a rule that threads it, its trimmed text and attachments. Prepare is
// pure (no lookup, no I/O), so a mailbox pass prepares one batch while the
// batch before it is recorded.
struct PreparedMessage {
  // Decided without the forum (over max_message_size, not an email, over the
  // MIME limits): the item to record as it is; nothing below is set.
  std::optional<forum::InboundItem> decided;
  mail::Message message;    // without its text, HTML and part bodies (freed: Decide reads none of them)
  forum::InboundItem item;  // mailbox, UIDs, Message-ID, sender, subject, size, key, classification
  mail::Classification kind;
  mail::DmarcEvidence proof;
  const forum::Rule* rule = nullptr;  // normal mail: the first rule that matches (in `config.rules`), if any
  mail::TrimResult trimmed;           // with a kThread rule
  std::vector<forum::AttachmentDraft> attachments;  // with a kThread rule
  // The search vector of `trimmed.trimmed`, when made ahead (SearchAhead): Decide hands it to the post.
  std::optional<forum::SearchVector> search;
};

PreparedMessage Prepare(const FetchedMessage& fetched, const PipelineConfig& config);

// The item to record for `fetched`, prepared as `prepared` (by Prepare, with
// the same config). Errors: only the lookup's (kTransient).
base::Result<forum::InboundItem> Decide(const FetchedMessage& fetched, PreparedMessage prepared,
                                        const PipelineConfig& config, ForumLookup& forum);

// Adds the ledger lookups Decide may make for `prepared` to a batch's: the
// Message-IDs it matches a thread by, and the sender whose new threads it
// counts. A lookup that Decide makes and this did not add is still answered.
void AddBatchLookups(const PreparedMessage& prepared, std::vector<std::string>& message_ids,
                     std::vector<std::string>& senders);

// Prepare and Decide in one.
base::Result<forum::InboundItem> Decide(const FetchedMessage& fetched, const PipelineConfig& config,
                                        ForumLookup& forum);

// The deduplication key of a message: "<Message-ID> <lower-case sender address>",
// or "sha256:<hex>" of the raw bytes when there is no Message-ID.
std::string MessageKey(const std::string& message_id, const std::string& from_address, std::string_view raw);

// The item that quarantines `fetched` with `reason` (for poison found after
// Decide, e.g. a message the store refused).
forum::InboundItem QuarantineItem(const std::string& mailbox, const FetchedMessage& fetched,
                                  const std::string& reason);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_PIPELINE_H_
