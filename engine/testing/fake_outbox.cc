#include "engine/testing/fake_outbox.h"

#include <mutex>
#include <utility>

namespace engine::testing {

int64_t FakeOutbox::Queue(const std::string& recipient) {
  const std::lock_guard lock(mu_);
  const int64_t id = next_id_++;
  Row& row = rows[id];
  row.mail.id = id;
  row.mail.kind = forum::OutboxKind::kAnswer;
  row.mail.recipient = recipient;
  row.mail.message_id = "post." + std::to_string(id) + ".stable@example.com";
  row.mail.queued_at = std::chrono::system_clock::now();
  row.mail.thread_id = 1;
  row.mail.thread_subject = "The printer is jammed";
  row.mail.thread_author = "ann@example.org";
  row.mail.post_body = "Try turning it off and on again.";
  row.mail.post_author_address = "bob@example.org";
  row.next_attempt_at = clock_.Now();
  return id;
}

FakeOutbox::Row* FakeOutbox::Pending(int64_t id) {
  auto it = rows.find(id);
  return it == rows.end() || it->second.status != "pending" ? nullptr : &it->second;
}

base::Result<std::vector<forum::ClaimedMail>> FakeOutbox::ClaimDue(int limit,
                                                                   std::chrono::milliseconds lease) {
  std::vector<forum::ClaimedMail> out;
  {
    const std::lock_guard lock(mu_);
    out = Claim(limit, lease);
  }
  if (on_claim) on_claim();
  return out;
}

std::vector<forum::ClaimedMail> FakeOutbox::Claim(int limit, std::chrono::milliseconds lease) {
  std::vector<forum::ClaimedMail> out;
  for (auto& [id, row] : rows) {
    if (static_cast<int>(out.size()) >= limit) break;
    if (row.status != "pending" || row.next_attempt_at > clock_.Now()) continue;
    row.next_attempt_at = clock_.Now() + lease;
    ++row.mail.attempts;
    out.push_back(row.mail);
  }
  return out;
}

base::Result<std::vector<forum::ClaimedMail>> FakeOutbox::RecordOutcomesAndClaim(
    const std::vector<forum::OutboxOutcome>& outcomes, int limit, std::chrono::milliseconds lease) {
  std::vector<forum::ClaimedMail> out;
  {
    const std::lock_guard lock(mu_);
    ++outcome_commits;
    Apply(outcomes);
    out = Claim(limit, lease);
  }
  if (on_claim) on_claim();
  return out;
}

base::Status FakeOutbox::SavePayloads(const std::vector<std::pair<int64_t, std::string>>& payloads) {
  const std::lock_guard lock(mu_);
  for (const auto& [id, payload] : payloads) {
    if (Row* row = Pending(id)) row->mail.payload = payload;
  }
  return {};
}

base::Status FakeOutbox::RecordOutcomes(const std::vector<forum::OutboxOutcome>& outcomes) {
  if (outcomes.empty()) return {};  // as forum::Store: no transaction for nothing
  const std::lock_guard lock(mu_);
  ++outcome_commits;
  Apply(outcomes);
  return {};
}

void FakeOutbox::Apply(const std::vector<forum::OutboxOutcome>& outcomes) {
  using Fate = forum::OutboxOutcome::Fate;
  for (const forum::OutboxOutcome& o : outcomes) {
    Row* row = Pending(o.id);
    if (row == nullptr) continue;
    switch (o.fate) {
      case Fate::kSent:
        row->status = "sent";
        break;
      case Fate::kFailed:
      case Fate::kSuppressed:
      case Fate::kUnsubscribed:
        row->status = o.fate == Fate::kFailed ? "failed" : "suppressed";
        row->last_error = o.error;
        break;
      case Fate::kRetry:
        row->last_error = o.error;
        row->next_attempt_at = clock_.Now() + o.delay;
        break;
      case Fate::kReleased:
      case Fate::kDeferred:
        row->next_attempt_at =
            clock_.Now() + (o.fate == Fate::kDeferred ? o.delay : std::chrono::milliseconds(0));
        if (o.fate == Fate::kDeferred) row->last_error = o.error;
        if (row->mail.attempts > 0) --row->mail.attempts;
        break;
    }
  }
}

base::Result<std::optional<std::chrono::milliseconds>> FakeOutbox::LoopPause(
    const std::string&, const forum::LoopBreakerLimits&) {
  return std::optional<std::chrono::milliseconds>();
}

base::Status FakeMailer::Connect() {
  connected_ = true;
  ++connects_;
  return {};
}

base::Status FakeMailer::Send(const mail::Envelope& envelope, std::string_view raw,
                              std::optional<int>& reply_code) {
  reply_code.reset();
  if (!connected_) return base::Error{base::ErrorKind::kTransient, "not connected"};
  if (during_send) during_send();
  if (fault_ && fault_->skip-- == 0) {
    const int code = fault_->code;
    fault_.reset();
    if (code == 0 || code == 421) connected_ = false;  // 421: the server closes the connection
    if (code == 0) return base::Error{base::ErrorKind::kTransient, "connection reset"};
    reply_code = code;
    return base::Error{code >= 500 ? base::ErrorKind::kPermanent : base::ErrorKind::kTransient,
                       std::to_string(code) + " from the server"};
  }
  accepted.push_back(
      {envelope.recipients.empty() ? std::string() : envelope.recipients.front(), std::string(raw)});
  return {};
}

}  // namespace engine::testing
