// Fault-injecting fakes of the outbound ports (engine/ports.h): a clock that
// moves when told, an outbox table with leases as forum::Store keeps it
// (every update only of a 'pending' row; a claim moves next_attempt_at a
// lease ahead), and an SMTP server that accepts, or fails its next
// send with a chosen reply (leveldb's SpecialEnv is the model).
//
// Thread-safety: FakeClock and FakeOutbox take calls from any thread (an
// OutboxDelivery claims on a thread of its own); read FakeOutbox's public
// members when no pass runs. FakeMailer: one thread.
#ifndef MAILFORUM_ENGINE_TESTING_FAKE_OUTBOX_H_
#define MAILFORUM_ENGINE_TESTING_FAKE_OUTBOX_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/ports.h"

namespace engine::testing {

// Thread-safe: a delivery claims on a thread of its own while a test's send hook moves the clock.
class FakeClock : public Clock {
 public:
  std::chrono::steady_clock::time_point Now() override {
    return std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(ticks_.load()));
  }
  void Advance(std::chrono::milliseconds d) {
    ticks_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(d).count();
  }

 private:
  std::atomic<std::chrono::steady_clock::rep> ticks_{
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::hours(1000)).count()};
};

class FakeOutbox : public OutboxQueue {
 public:
  explicit FakeOutbox(FakeClock& clock) : clock_(clock) {}

  struct Row {
    forum::ClaimedMail mail;
    std::string status = "pending";  // pending, sent, failed, suppressed
    std::chrono::steady_clock::time_point next_attempt_at;
    std::string last_error;
  };
  std::map<int64_t, Row> rows;

  // Queues an answer to `recipient` with a stable Message-ID; its id.
  int64_t Queue(const std::string& recipient);

  base::Result<std::vector<forum::ClaimedMail>> ClaimDue(int limit, std::chrono::milliseconds lease) override;
  base::Status SavePayloads(const std::vector<std::pair<int64_t, std::string>>& payloads) override;
  base::Status RecordOutcomes(const std::vector<forum::OutboxOutcome>& outcomes) override;
  base::Result<std::vector<forum::ClaimedMail>> RecordOutcomesAndClaim(
      const std::vector<forum::OutboxOutcome>& outcomes, int limit, std::chrono::milliseconds lease) override;
  int outcome_commits = 0;  // transactions of RecordOutcomes (with outcomes) and RecordOutcomesAndClaim
  // Called at the end of each ClaimDue and RecordOutcomesAndClaim, outside the lock (e.g. to show that
  // a claim ran while a mail was being sent).
  std::function<void()> on_claim;
  base::Result<std::optional<std::chrono::milliseconds>> LoopPause(
      const std::string& address, const forum::LoopBreakerLimits& limits) override;

 private:
  // The fates of `outcomes`, each only of a row still 'pending'.
  void Apply(const std::vector<forum::OutboxOutcome>& outcomes);
  // Row `id` when it is still 'pending' (every update's WHERE), else nullptr.
  Row* Pending(int64_t id);

  // ClaimDue without the lock (RecordOutcomesAndClaim holds it).
  std::vector<forum::ClaimedMail> Claim(int limit, std::chrono::milliseconds lease);

  FakeClock& clock_;
  int64_t next_id_ = 1;
  std::mutex mu_;  // guards everything, public members included, during a call
};

class FakeMailer : public Mailer {
 public:
  // What the server accepted: recipient and the message's bytes, in order.
  struct Delivery {
    std::string recipient;
    std::string raw;
  };
  std::vector<Delivery> accepted;

  // The (skip + 1)-th next Send fails with SMTP reply `code` (e.g. 421,
  // which also closes the connection, or 550); 0: the connection breaks
  // without a reply.
  void FailNext(int code, int skip = 0) { fault_ = Fault{code, skip}; }
  // Called inside each Send before it is answered (e.g. to move the clock or run another worker).
  std::function<void()> during_send;

  bool connected() const override { return connected_; }
  base::Status Connect() override;
  base::Status Send(const mail::Envelope& envelope, std::string_view raw,
                    std::optional<int>& reply_code) override;
  void Disconnect() override { connected_ = false; }
  int connects() const { return connects_; }

 private:
  struct Fault {
    int code;
    int skip;
  };
  std::optional<Fault> fault_;
  bool connected_ = false;
  int connects_ = 0;
};

}  // namespace engine::testing

#endif  // MAILFORUM_ENGINE_TESTING_FAKE_OUTBOX_H_
