// Store: the crash-loop breaker's notes (see store.h, "the crash-loop breaker").
#include <pqxx/pqxx>

#include "forum/store.h"
#include "forum/store_internal.h"

namespace forum {

base::Status Store::NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid, int deaths,
                                const std::string& owner) {
  try {
    // One simple-query round trip: an explicit transaction whose commit does not wait for the WAL flush
    // (SET LOCAL), so noting each message costs no disk wait even with synchronous_commit on.
    pqxx::nontransaction tx(impl_->conn);
    tx.exec("BEGIN; SET LOCAL synchronous_commit TO off; UPDATE mailbox_state SET working_uidvalidity = " +
            std::to_string(uidvalidity) + ", working_uid = " + (uid == 0 ? "NULL" : std::to_string(uid)) +
            ", working_deaths = " + std::to_string(uid == 0 ? 0 : deaths) + ", working_owner = " + tx.quote(owner) +
            " WHERE mailbox = " + tx.quote(mailbox) + "; COMMIT");
    return {};
  } catch (const std::exception& e) {
    return FromException(e, "noting the message mailbox " + mailbox + " works on");
  }
}

base::Result<std::optional<CrashedWork>> Store::TakeCrashedWork(const std::string& mailbox, uint32_t uidvalidity,
                                                                const std::string& owner) {
  try {
    pqxx::work tx(impl_->conn);
    const pqxx::result r = tx.exec_params(
        "SELECT working_uid, working_deaths, working_owner IS DISTINCT FROM $3, "
        "EXISTS (SELECT 1 FROM inbound_messages i WHERE i.mailbox = s.mailbox "
        "AND i.uidvalidity = s.working_uidvalidity AND i.uid = s.working_uid) "
        "FROM mailbox_state s WHERE mailbox = $1 AND working_uidvalidity = $2 AND working_uid IS NOT NULL "
        "FOR UPDATE",
        mailbox, static_cast<int64_t>(uidvalidity), owner);
    if (r.empty()) return std::optional<CrashedWork>();
    CrashedWork work;
    work.uid = static_cast<uint32_t>(r[0][0].as<int64_t>());
    work.deaths = r[0][1].as<int>();
    const bool other_owner = r[0][2].as<bool>();
    const bool recorded = r[0][3].as<bool>();
    if (recorded) {
      tx.exec_params("UPDATE mailbox_state SET working_uid = NULL, working_deaths = 0 WHERE mailbox = $1", mailbox);
      tx.commit();
      return std::optional<CrashedWork>();
    }
    if (other_owner) {
      ++work.deaths;
      tx.exec_params("UPDATE mailbox_state SET working_deaths = $2, working_owner = $3 WHERE mailbox = $1", mailbox,
                     work.deaths, owner);
      tx.commit();
    }
    if (work.deaths == 0) return std::optional<CrashedWork>();
    return std::optional<CrashedWork>(work);
  } catch (const std::exception& e) {
    return FromException(e, "reading what a crash left in mailbox " + mailbox);
  }
}

}  // namespace forum
