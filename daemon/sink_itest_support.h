// The fixture of the integration tests that follow mail out to the SMTP sink
// of scripts/test (daemon/outbox_worker_itest.cc, daemon/forged_mail_itest.cc):
// a help mailbox whose categories are watched, an outbox worker that sends to
// the sink, and what the sink received, read from its spool
// (MAILFORUM_TEST_SMTP_SPOOL/new: each message and its envelope as
// NAME.json). Each test mails addresses of a domain of its own, so tests
// never see each other's mail. Test-only (mf_daemon_testing).
#ifndef MAILFORUM_DAEMON_SINK_ITEST_SUPPORT_H_
#define MAILFORUM_DAEMON_SINK_ITEST_SUPPORT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "daemon/outbox_worker.h"
#include "daemon/worker_itest_support.h"
#include "mail/message.h"

namespace mailforumd::itest {

// The VERP return path of every outbox worker SinkTest makes.
inline constexpr char kBounceTemplate[] = "bounces+{id}@example.com";

// One message the sink accepted for a recipient.
struct Received {
  std::string mail_from;  // the envelope sender: our VERP return path
  std::string raw;
  mail::Message message;
};

// Everything in the sink's spool whose envelope recipient satisfies `wanted`
// (given the lower-case address), grouped by that recipient, in the order the
// sink received them.
std::map<std::string, std::vector<Received>> Spool(const std::string& spool,
                                                  const std::function<bool(const std::string&)>& wanted);

class SinkTest : public WorkerTest {
 protected:
  explicit SinkTest(std::string db_prefix) : WorkerTest(std::move(db_prefix)) {}

  // The shared servers and the sink, a scratch database, a help mailbox user
  // and a domain of this test's own with a watcher in it.
  void SetUp() override;

  // A mailbox worker for the help address, whose IT and general categories
  // are watched by watcher_, which knows our VERP return path, acknowledges
  // every new thread (the tests count deliveries) and trusts the
  // Authentication-Results of mx.example.com.
  WorkerOptions Mailbox() const;

  // An outbox worker that sends to the sink over STARTTLS, with short retry delays.
  OutboxOptions Outbox() const;

  // One mailbox pass / one outbox pass; a failure fails the test.
  void Ingest(const WorkerOptions& options);
  void Ingest() { Ingest(Mailbox()); }
  OutboxPassStats Send();

  // What the sink received for addresses of this test's domain, by recipient.
  std::map<std::string, std::vector<Received>> Mailed() const;
  // What `recipient` (any case) received, in order.
  std::vector<Received> MailedTo(const std::string& recipient) const;
  // What `recipient` received once it has received at least `count` messages (waits up to 10 s).
  std::vector<Received> WaitForMail(const std::string& recipient, size_t count) const;

  uint16_t smtp_port_ = 0;
  std::string spool_, help_user_, domain_, watcher_;
};

}  // namespace mailforumd::itest

#endif  // MAILFORUM_DAEMON_SINK_ITEST_SUPPORT_H_
