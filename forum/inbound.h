// What the ingestion pipeline hands to the store for one fetched message, and
// what the store answers. Plain values; see Store::RecordBatch.
#ifndef MAILFORUM_FORUM_INBOUND_H_
#define MAILFORUM_FORUM_INBOUND_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "forum/outbox.h"
#include "forum/subscriptions.h"

namespace forum {

// What became of an inbound message (inbound_messages.outcome).
enum class Outcome {
  kPosted,        // a new thread or a post in an existing one
  kIgnored,       // an `ignore` rule
  kRejected,      // a `reject` rule, a rate limit, or a sender policy
  kQuarantined,   // poison or a `quarantine` rule: raw bytes kept, moved to the quarantine folder
  kMachine,       // auto-reply, bounce, feedback report or delivery notice: never posted
  kDuplicate,     // its message key was already recorded (another mailbox, a rescan, a resend)
  kTooOld,        // older than import_max_age on first contact with the mailbox
  kUnsubscribed,  // a message to a signed unsubscribe address: recorded (InboundItem::subscription), never
                  // posted
};
std::string_view OutcomeName(Outcome outcome);

// What kind of mail an inbound message is (mail/classifier.h decides;
// inbound_messages.classification holds Name's text).
enum class Classification { kNormal, kAutoReply, kBounce, kFeedback, kDeliveryNotice };

// "normal", "auto_reply", "bounce", "feedback" or "delivery_notice".
std::string_view Name(Classification classification);

// The Classification `name` (Name's text) stands for; nullopt for any other text.
std::optional<Classification> ParseClassification(std::string_view name);

// A file attached to a post.
struct AttachmentDraft {
  std::string filename;
  std::string content_type;
  std::string content_id;  // "" when not an inline image
  std::string sha256;      // lower-case hex of `content`
  std::string content;     // the bytes
};

// A post's search vector made ahead of its recording (Store::MakeSearchVectors,
// on another connection while the batch before is recorded), so that the
// recording transaction does not make it.
struct SearchVector {
  std::string config;    // the text search configuration it was made with
  std::string vector;    // the tsvector, in PostgreSQL's binary form (tsvectorsend)
  size_t text_hash = 0;  // std::hash of the text it was made of
};

// The post to create when the outcome is kPosted.
struct PostDraft {
  // Answer in this thread; nullopt: open a new thread. Within one
  // Store::RecordBatch call a negative id -(i + 1) names the thread of the
  // batch's item i (decided earlier in the same batch): the thread it opened
  // or joined, or when it turned out a duplicate the thread its Message-ID
  // leads to. The same placeholders may stand in ThreadUpdate's thread_id and
  // accepted_post_id (item i's post).
  std::optional<int64_t> thread_id;
  std::string category;              // new thread: the category slug (must exist)
  std::vector<std::string> tags;     // new thread: its tags
  std::string subject;               // new thread: its subject
  std::string author_address;
  std::string author_name;
  // The author is proven: a trusted, aligned DMARC pass for author_address's
  // domain (mail/auth_results.h). Without it the author is only what the From
  // string claims.
  bool author_verified = false;
  std::string body;                  // trimmed text
  std::string elided;                // the quoted history and signature that were cut
  std::vector<AttachmentDraft> attachments;
  // The body's search vector, made ahead; used only while it is of the body
  // (text_hash) and the configuration is still the database's, else (and
  // when nullopt) the recording makes it.
  std::optional<SearchVector> search;
};

// An outbound mail to queue in the same transaction (sent by the outbox worker).
struct OutboxDraft {
  OutboxKind kind = OutboxKind::kAnswer;
  std::string recipient;  // one address
  // Acknowledgements only: none is queued when one to the same recipient was
  // queued less than this long ago (0: no limit). Rejections are limited to
  // one per address per day regardless.
  std::chrono::seconds min_interval{0};
  // Acknowledgements and rejections: none is queued when this many of them
  // together were queued in the last hour to the recipient's domain, or
  // overall (0: no cap). The inbound row's reason then says so.
  int max_per_domain_per_hour = 0;
  int max_per_hour = 0;
};

// A change of an existing thread commanded by its author (`#resolved`,
// `#reopen`, `#accept` lines; see daemon/thread_commands.h).
struct ThreadUpdate {
  int64_t thread_id = 0;
  enum class Status {
    kUnchanged,
    kResolved,  // threads.status = 'resolved'
    // 'answered' when someone other than the author posted in it, else 'open'.
    kReopened,
  };
  Status status = Status::kUnchanged;
  std::optional<int64_t> accepted_post_id;  // threads.accepted_post_id
};

// A post as the thread matcher sees it (Store::FindPostByMessageId).
struct PostRef {
  int64_t post_id = 0;
  int64_t thread_id = 0;
  std::string author_address;  // lower-case
};

// A failed recipient reported by a bounce. It raises a bounce score only
// when the bounce came to the return path of one of our outbox rows
// (InboundItem::bounced_outbox_id) and the address is that row's recipient.
struct BounceDraft {
  std::string address;
  bool hard = false;
  std::string reason;
};

// Everything the pipeline decided about one fetched message.
struct InboundItem {
  std::string mailbox;
  uint32_t uidvalidity = 0;
  uint32_t uid = 0;
  // Message-ID + sender address, or "sha256:<hex>" of the raw bytes when there is no Message-ID.
  std::string message_key;
  std::string message_id;      // "" when missing
  std::string from_address;
  std::string subject;
  uint64_t size = 0;
  Classification classification = Classification::kNormal;
  Outcome outcome = Outcome::kIgnored;
  std::string rule;            // the rule that decided ("" when none)
  std::string reason;          // why, for people (trace, quarantine list)
  std::string raw;             // the raw message; stored only for kQuarantined
  std::optional<PostDraft> post;  // set exactly when outcome is kPosted
  // Applied with the item (after its post, if any), unless it is a duplicate.
  std::optional<ThreadUpdate> thread_update;
  std::vector<OutboxDraft> outbox;
  std::vector<BounceDraft> bounces;
  // A bounce sent to the VERP return path of outbox row N (its signature
  // verified): that row is marked bounced and its recipient alone is scored
  // (see RecordBatch). Without it, `bounces` changes no score.
  std::optional<int64_t> bounced_outbox_id;
  // Machine mail that answers mail we sent to its From's domain: sent to a
  // verified VERP return path of ours, or carrying a valid reply token, or
  // naming one of our Message-IDs in In-Reply-To/References, each of mail
  // that went to that domain (daemon/pipeline.h). Only such mail feeds the
  // loop circuit breaker (Store::LoopPause): anyone can forge the rest.
  bool tied_to_ours = false;
  // An unsubscription (a signed unsubscribe address, `#mute`) or its undoing
  // (`#unmute`, a proven reply in the thread), recorded with the item unless
  // it is a duplicate.
  std::optional<SubscriptionChange> subscription;
};

// What the store did with one item.
struct RecordResult {
  Outcome outcome = Outcome::kIgnored;  // kDuplicate when the message key was already recorded
  bool already_recorded = false;        // this (mailbox, uidvalidity, uid) was recorded before: nothing changed
  std::optional<int64_t> thread_id;
  std::optional<int64_t> post_id;
};

// The server-side step still owed for a committed message.
struct PendingPostAction {
  uint32_t uid = 0;
  Outcome outcome = Outcome::kIgnored;  // kQuarantined goes to the quarantine folder
};

// mailbox_state: where ingestion of a mailbox stands.
struct MailboxState {
  uint32_t uidvalidity = 0;
  uint32_t last_uid = 0;  // every UID up to this one has been recorded
  // When mailforum first saw the mailbox: mail received before
  // first_contact - import_max_age is never imported.
  std::chrono::system_clock::time_point first_contact;
};

// A message during which a daemon died (Store::TakeCrashedWork).
struct CrashedWork {
  uint32_t uid = 0;
  int deaths = 0;  // how many processes died while deciding it, this one included
};

}  // namespace forum

#endif  // MAILFORUM_FORUM_INBOUND_H_
