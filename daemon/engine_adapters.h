// The engine's ports (engine/ports.h) on the real things: a mail::ImapSession
// as the MailSource, a forum::Store as the InboundLedger. Each call is the
// wrapped object's, unchanged.
#ifndef MAILFORUM_DAEMON_ENGINE_ADAPTERS_H_
#define MAILFORUM_DAEMON_ENGINE_ADAPTERS_H_

#include "daemon/mailbox_database.h"
#include "engine/ports.h"
#include "forum/store.h"
#include "mail/imap_session.h"
#include "mail/smtp_transport.h"

namespace mailforumd {

class ImapMailSource : public engine::MailSource {
 public:
  explicit ImapMailSource(mail::ImapSession& imap) : imap_(imap) {}
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
};

class StoreLedger : public engine::InboundLedger {
 public:
  // `locks` (may be null: `store` holds the locks itself) answers HoldsMailboxLock.
  explicit StoreLedger(forum::Store& store, MailboxDatabase* locks = nullptr)
      : store_(store), locks_(locks) {}
  base::Result<bool> ThreadExists(int64_t id) override { return store_.ThreadExists(id); }
  base::Result<std::optional<int64_t>> FindThreadByMessageIds(const std::vector<std::string>& ids) override {
    return store_.FindThreadByMessageIds(ids);
  }
  base::Result<int64_t> CountThreadsOpenedSince(const std::string& address, int64_t seconds) override {
    return store_.CountThreadsOpenedSince(address, seconds);
  }
  base::Result<std::optional<forum::ThreadAudience>> FindThreadAudience(int64_t thread_id) override {
    return store_.FindThreadAudience(thread_id);
  }
  base::Result<std::optional<forum::PostRef>> FindPostByMessageId(const std::string& message_id) override {
    return store_.FindPostByMessageId(message_id);
  }
  base::Result<bool> MailedDomain(const std::string& domain, std::optional<int64_t> outbox_id,
                                  const std::vector<std::string>& message_ids) override {
    return store_.MailedDomain(domain, outbox_id, message_ids);
  }
  base::Result<std::optional<forum::UnsubscribeTarget>> FindUnsubscribeTarget(int64_t outbox_id) override {
    return store_.FindUnsubscribeTarget(outbox_id);
  }
  base::Result<bool> HoldsMailboxLock(const std::string& mailbox) override {
    return locks_ != nullptr ? locks_->Holds(mailbox) : store_.HoldsMailboxLock(mailbox);
  }
  base::Result<std::optional<forum::MailboxState>> GetMailboxState(const std::string& mailbox) override {
    return store_.GetMailboxState(mailbox);
  }
  base::Status ResetMailbox(const std::string& mailbox, uint32_t uidvalidity) override {
    return store_.ResetMailbox(mailbox, uidvalidity);
  }
  base::Result<std::vector<forum::PendingPostAction>> PendingPostActions(const std::string& mailbox,
                                                                         uint32_t uidvalidity) override {
    return store_.PendingPostActions(mailbox, uidvalidity);
  }
  base::Status MarkPostActionsDone(const std::string& mailbox, uint32_t uidvalidity,
                                   const std::vector<uint32_t>& uids) override {
    return store_.MarkPostActionsDone(mailbox, uidvalidity, uids);
  }
  base::Result<std::vector<base::Result<forum::RecordResult>>> RecordBatch(
      const std::vector<forum::InboundItem>& items, const std::string& domain) override {
    return store_.RecordBatch(items, domain);
  }
  base::Status NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid,
                           const std::string& owner) override {
    return store_.NoteWorking(mailbox, uidvalidity, uid, owner);
  }
  base::Result<std::optional<forum::CrashedWork>> TakeCrashedWork(const std::string& mailbox,
                                                                  uint32_t uidvalidity,
                                                                  const std::string& owner) override {
    return store_.TakeCrashedWork(mailbox, uidvalidity, owner);
  }
  base::Result<int> FillReplyAddresses(const std::function<std::string(int64_t thread_id)>& address_for,
                                       int limit) override {
    return store_.FillReplyAddresses(address_for, limit);
  }

 private:
  forum::Store& store_;
  MailboxDatabase* locks_;
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
