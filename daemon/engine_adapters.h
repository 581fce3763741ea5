// The engine's ports (engine/ports.h) on the real things: a mail::ImapSession
// as the MailSource, the mailbox workers' pooled forum::Store connections as
// the InboundLedger. Each call is the wrapped object's, unchanged.
#ifndef MAILFORUM_DAEMON_ENGINE_ADAPTERS_H_
#define MAILFORUM_DAEMON_ENGINE_ADAPTERS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "daemon/mailbox_database.h"
#include "engine/ports.h"
#include "forum/store.h"
#include "mail/imap_session.h"
#include "mail/smtp_transport.h"

namespace mailforumd {

// The mail source on an IMAP session. `selected` (may be null; kept by the
// caller for as long as the session lives) remembers the folder the session
// selected and its UIDVALIDITY, so that selecting it again sends nothing:
// the session stays on that folder (nothing else selects), the server keeps
// its view current (EXISTS, EXPUNGE), and a server whose folder's UIDs change
// ends the session, since UIDs must persist within one (RFC 3501 2.3.1.1).
// A pass calls it from two threads, one at a time (engine/mailbox_pass.h).
class ImapMailSource : public engine::MailSource {
 public:
  using Selected = std::optional<std::pair<std::string, uint32_t>>;
  explicit ImapMailSource(mail::ImapSession& imap, Selected* selected = nullptr)
      : imap_(imap), selected_(selected) {}
  base::Result<uint32_t> Select(const std::string& folder) override;
  base::Result<std::vector<uint32_t>> UidsFrom(uint32_t first_uid) override {
    return imap_.UidsFrom(first_uid);
  }
  base::Result<std::vector<mail::ImapMessageInfo>> FetchInfo(const std::vector<uint32_t>& uids) override {
    return imap_.FetchInfo(uids);
  }
  base::Result<std::vector<mail::ImapMessage>> FetchBatch(const std::vector<uint32_t>& uids,
                                                          uint32_t max_bytes) override {
    return imap_.FetchBatch(uids, max_bytes);
  }
  base::Status MarkSeen(const std::vector<uint32_t>& uids) override {
    return imap_.StoreFlags(uids, "\\Seen");
  }
  base::Status Move(const std::vector<uint32_t>& uids, const std::string& folder) override {
    return imap_.Move(uids, folder);
  }
  base::Status Delete(const std::vector<uint32_t>& uids) override { return imap_.Delete(uids); }

 private:
  mail::ImapSession& imap_;
  Selected* selected_;
};

// The ledger on a MailboxDatabase: each call borrows a pooled connection for
// itself alone (a connection whose call failed is discarded), so a pass holds
// none while it talks IMAP, decides or waits; the mailbox locks are answered
// by the lock connection. Every call is one transaction or none, so which
// connection serves it does not matter. With `reply_address_for`, RecordBatch
// inserts each new thread with its public reply address (forum::Store::RecordBatch).
class PooledLedger : public engine::InboundLedger {
 public:
  // `waiting` (may be empty) is called about every second while a call waits for a free connection.
  PooledLedger(MailboxDatabase& database, std::function<void()> waiting,
               std::function<std::string(int64_t thread_id)> reply_address_for = {})
      : database_(database), waiting_(std::move(waiting)), reply_address_for_(std::move(reply_address_for)) {}
  base::Result<bool> ThreadExists(int64_t id) override { return With([&](forum::Store& s) { return s.ThreadExists(id); }); }
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override {
    return With([&](forum::Store& s) { return s.FindThreadByMessageIds(ids); });
  }
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) override {
    return With([&](forum::Store& s) { return s.CountThreadsOpenedSince(address, seconds); });
  }
  base::Result<std::map<std::string, int64_t>> FindThreadsOfMessageIds(
      const std::vector<std::string>& ids) override {
    return With([&](forum::Store& s) { return s.FindThreadsOfMessageIds(ids); });
  }
  base::Result<std::map<std::string, int64_t>> CountThreadsOpenedSinceEach(
      const std::vector<std::string>& addresses, int64_t seconds) override {
    return With([&](forum::Store& s) { return s.CountThreadsOpenedSinceEach(addresses, seconds); });
  }
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) override {
    return With([&](forum::Store& s) { return s.FindThreadAudience(thread_id); });
  }
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) override {
    return With([&](forum::Store& s) { return s.FindPostByMessageId(message_id); });
  }
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids) override {
    return With([&](forum::Store& s) { return s.MailedDomain(domain, outbox_id, message_ids); });
  }
  base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id) override {
    return With([&](forum::Store& s) { return s.FindUnsubscribeTarget(outbox_id); });
  }
  base::Result<bool> HoldsMailboxLock(const std::string& mailbox) override {
    return database_.Holds(mailbox);
  }
  base::Result<std::optional<forum::MailboxState>> GetMailboxState(const std::string& mailbox) override {
    return With([&](forum::Store& s) { return s.GetMailboxState(mailbox); });
  }
  base::Status ResetMailbox(const std::string& mailbox, uint32_t uidvalidity) override {
    return With([&](forum::Store& s) { return s.ResetMailbox(mailbox, uidvalidity); });
  }
  base::Result<std::vector<forum::PendingPostAction>> PendingPostActions(const std::string& mailbox,
                                                                         uint32_t uidvalidity) override {
    return With([&](forum::Store& s) { return s.PendingPostActions(mailbox, uidvalidity); });
  }
  base::Status MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                   const std::vector<uint32_t>& uids) override {
    return With([&](forum::Store& s) { return s.MarkPostActionsDone(mailbox, uidvalidity, uids); });
  }
  base::Result<std::vector<base::Result<forum::RecordResult>>> RecordBatch(
      const std::vector<forum::InboundItem>& items, const std::string& domain) override {
    return With([&](forum::Store& s) { return s.RecordBatch(items, domain, reply_address_for_); });
  }
  base::Result<std::vector<forum::SearchVector>> MakeSearchVectors(
      const std::vector<std::string>& texts) override {
    return With([&](forum::Store& s) { return s.MakeSearchVectors(texts); });
  }
  base::Status NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid,
                           const std::string& owner) override {
    return With([&](forum::Store& s) { return s.NoteWorking(mailbox, uidvalidity, uid, owner); });
  }
  base::Result<std::optional<forum::CrashedWork>> TakeCrashedWork(const std::string& mailbox,
                                                                  uint32_t uidvalidity,
                                                                  const std::string& owner) override {
    return With([&](forum::Store& s) { return s.TakeCrashedWork(mailbox, uidvalidity, owner); });
  }
  base::Result<int> FillReplyAddresses(const std::function<std::string(int64_t thread_id)>& address_for,
                                       int limit) override {
    return With([&](forum::Store& s) { return s.FillReplyAddresses(address_for, limit); });
  }

 private:
  template <class F>
  std::invoke_result_t<F, forum::Store&> With(F f) {
    auto lease = database_.Acquire(waiting_);
    if (!lease) return lease.error();
    auto result = f(lease->store());
    if (!result.ok()) lease->Discard();  // a connection that failed may be in any state
    return result;
  }

  MailboxDatabase& database_;
  std::function<void()> waiting_;
  std::function<std::string(int64_t thread_id)> reply_address_for_;
};

class StoreOutboxQueue : public engine::OutboxQueue {
 public:
  explicit StoreOutboxQueue(forum::Store& store) : store_(store) {}
  base::Result<std::vector<forum::ClaimedMail>> ClaimDue(int limit,
                                                         std::chrono::milliseconds lease) override {
    return store_.ClaimDue(limit, lease);
  }
  base::Status SavePayloads(const std::vector<std::pair<int64_t, std::string>>& payloads) override {
    return store_.SavePayloads(payloads);
  }
  base::Status RecordOutcomes(const std::vector<forum::OutboxOutcome>& outcomes) override {
    return store_.RecordOutcomes(outcomes);
  }
  base::Result<std::vector<forum::ClaimedMail>> RecordOutcomesAndClaim(
      const std::vector<forum::OutboxOutcome>& outcomes, int limit, std::chrono::milliseconds lease) override {
    return store_.RecordOutcomesAndClaim(outcomes, limit, lease);
  }
  base::Result<std::optional<std::chrono::milliseconds>> LoopPause(
      const std::string& address, const forum::LoopBreakerLimits& limits) override {
    return store_.LoopPause(address, limits);
  }

 private:
  forum::Store& store_;
};

// The mailer on a mail::SmtpTransport kept in `slot` (the worker's, reused
// across passes): Connect opens it with `options`.
class SmtpMailer : public engine::Mailer {
 public:
  SmtpMailer(const mail::SmtpOptions& options, std::unique_ptr<mail::SmtpTransport>& slot)
      : options_(options), slot_(slot) {}
  bool connected() const override { return slot_ != nullptr; }
  base::Status Connect() override;
  base::Status Send(const mail::Envelope& envelope, std::string_view raw,
                    std::optional<int>& reply_code) override;
  void Disconnect() override {
    if (slot_) slot_->Disconnect();
  }

 private:
  const mail::SmtpOptions& options_;
  std::unique_ptr<mail::SmtpTransport>& slot_;
};

}  // namespace mailforumd

#endif  // MAILFORUM_DAEMON_ENGINE_ADAPTERS_H_
