// The engine's ports: what the gateway's logic asks of the world, as small
// abstract interfaces (DESIGN.md §3). daemon/ implements them with the real
// IMAP session, SMTP transport and PostgreSQL store; engine/testing/ has
// fault-injecting fakes for unit tests. Every method returns the error of
// the real operation (kTransient for a lost connection or a serialization
// failure); none throws.
//
// The ports take batches where the engine works a batch at a time: a
// ledger records a batch of decisions in one transaction, a mail source
// fetches and finishes a batch of messages.
#ifndef MAILFORUM_ENGINE_PORTS_H_
#define MAILFORUM_ENGINE_PORTS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "engine/pipeline.h"
#include "forum/inbound.h"
#include "forum/outbox.h"
#include "mail/imap_session.h"
#include "mail/smtp_transport.h"

namespace engine {

// One IMAP mailbox (an mail::ImapSession in the daemon).
class MailSource {
 public:
  virtual ~MailSource() = default;
  // Selects `folder`; its UIDVALIDITY.
  virtual base::Result<uint32_t> Select(const std::string& folder) = 0;
  // UIDs >= first_uid in the selected folder, ascending.
  virtual base::Result<std::vector<uint32_t>> UidsFrom(uint32_t first_uid) = 0;
  // Sizes and arrival times of `uids`.
  virtual base::Result<std::vector<mail::ImapMessageInfo>> FetchInfo(const std::vector<uint32_t>& uids) = 0;
  // The messages `uids` (their first `max_bytes` bytes when not 0), in any order; fetching sets no flag.
  virtual base::Result<std::vector<mail::ImapMessage>> FetchBatch(const std::vector<uint32_t>& uids,
                                                                  uint32_t max_bytes) = 0;
  // The post-actions: set \Seen, move to `folder`, delete (expunge).
  virtual base::Status MarkSeen(const std::vector<uint32_t>& uids) = 0;
  virtual base::Status Move(const std::vector<uint32_t>& uids, const std::string& folder) = 0;
  virtual base::Status Delete(const std::vector<uint32_t>& uids) = 0;
};

// The inbound side of the forum (a forum::Store in the daemon): the thread
// lookups of the decision pipeline (ForumLookup), the record of decisions
// and the mailbox's cursor, its post-actions still owed and the crash-loop
// breaker's notes. See forum/store.h for each operation's contract.
// Thread-safe: a mailbox pass records a batch on one thread while it notes
// and prepares the next on another.
class InboundLedger : public ForumLookup {
 public:
  // Whether this process still holds the mailbox's cluster-wide lock.
  virtual base::Result<bool> HoldsMailboxLock(const std::string& mailbox) = 0;
  virtual base::Result<std::optional<forum::MailboxState>> GetMailboxState(const std::string& mailbox) = 0;
  virtual base::Status ResetMailbox(const std::string& mailbox, uint32_t uidvalidity) = 0;
  virtual base::Result<std::vector<forum::PendingPostAction>> PendingPostActions(const std::string& mailbox,
                                                                                 uint32_t uidvalidity) = 0;
  virtual base::Status MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                           const std::vector<uint32_t>& uids) = 0;
  // A batch of decisions (UID order) in ONE transaction: all or nothing for
  // a transient error; an item that fails by itself holds its error.
  virtual base::Result<std::vector<base::Result<forum::RecordResult>>> RecordBatch(
      const std::vector<forum::InboundItem>& items, const std::string& domain) = 0;
  // The search vectors of post bodies, made ahead of their recording (forum::Store::MakeSearchVectors).
  virtual base::Result<std::vector<forum::SearchVector>> MakeSearchVectors(
      const std::vector<std::string>& texts) = 0;
  virtual base::Status NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid,
                                   const std::string& owner) = 0;
  virtual base::Result<std::optional<forum::CrashedWork>> TakeCrashedWork(const std::string& mailbox,
                                                                          uint32_t uidvalidity,
                                                                          const std::string& owner) = 0;
  // Gives new threads their public reply address; how many it filled.
  virtual base::Result<int> FillReplyAddresses(
      const std::function<std::string(int64_t thread_id)>& address_for, int limit) = 0;
};

// The outbox table (a forum::Store in the daemon): claims with a lease and
// the fates of a batch of claimed rows, each batch's in one statement and
// one commit. See forum/store.h for each operation.
class OutboxQueue {
 public:
  virtual ~OutboxQueue() = default;
  virtual base::Result<std::vector<forum::ClaimedMail>> ClaimDue(int limit,
                                                                 std::chrono::milliseconds lease) = 0;
  // The composed messages of claimed rows (id, bytes): every later try sends them.
  virtual base::Status SavePayloads(const std::vector<std::pair<int64_t, std::string>>& payloads) = 0;
  virtual base::Status RecordOutcomes(const std::vector<forum::OutboxOutcome>& outcomes) = 0;
  // RecordOutcomes(outcomes) and ClaimDue(limit, lease) in one transaction: one commit for a batch's
  // fates and the next batch's claims.
  virtual base::Result<std::vector<forum::ClaimedMail>> RecordOutcomesAndClaim(
      const std::vector<forum::OutboxOutcome>& outcomes, int limit, std::chrono::milliseconds lease) = 0;
  virtual base::Result<std::optional<std::chrono::milliseconds>> LoopPause(
      const std::string& address, const forum::LoopBreakerLimits& limits) = 0;
};

// An SMTP connection (a mail::SmtpTransport in the daemon), opened lazily.
class Mailer {
 public:
  virtual ~Mailer() = default;
  virtual bool connected() const = 0;
  virtual base::Status Connect() = 0;
  // Sends one message; on failure `reply_code` is the server's reply that
  // failed it (nullopt: none, e.g. the connection broke).
  virtual base::Status Send(const mail::Envelope& envelope, std::string_view raw,
                            std::optional<int>& reply_code) = 0;
  virtual void Disconnect() = 0;
};

// Monotonic time (leases, the loop breaker's log).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::steady_clock::time_point Now() = 0;
};

// The real one.
class SteadyClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() override { return std::chrono::steady_clock::now(); }
};

}  // namespace engine

#endif  // MAILFORUM_ENGINE_PORTS_H_
