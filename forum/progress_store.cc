// Store: the crash-loop breaker's notes (see store.h, "the crash-loop breaker").
#include <pqxx/pqxx>

#include "forum/store.h"
#include "forum/store_internal.h"

namespace forum {

base::Status Store::NoteWorking(const std::string& mailbox, uint32_t uidvalidity, uint32_t uid,
                                const std::string& owner) {
  const std::string what = "noting the message mailbox " + mailbox + " works on";
  // One simple-query round trip: an explicit transaction whose commit does not wait for the WAL flush
  // (SET LOCAL), so noting each message costs no disk wait even with synchronous_commit on.
  return InTransaction<pqxx::nontransaction>(impl_->conn, what, [&](Tx& tx) {
    const std::string validity = std::to_string(uidvalidity);
    tx.exec("BEGIN; SET LOCAL synchronous_commit TO off; UPDATE mailbox_state SET "
            "crashed_uid = CASE WHEN working_uidvalidity IS DISTINCT FROM " + validity +
            " THEN NULL ELSE crashed_uid END, working_uidvalidity = " + validity +
            ", working_uid = " + (uid == 0 ? "NULL" : std::to_string(uid)) + ", working_owner = " + tx.quote(owner) +
            " WHERE mailbox = " + tx.quote(mailbox) + "; COMMIT");
  });
}

base::Result<std::optional<CrashedWork>> Store::TakeCrashedWork(const std::string& mailbox, uint32_t uidvalidity,
                                                                const std::string& owner) {
  auto recorded = [&](pqxx::transaction_base& tx, int64_t uid) {
    return !tx.exec_params("SELECT 1 FROM inbound_messages WHERE mailbox = $1 AND uidvalidity = $2 AND uid = $3",
                           mailbox, static_cast<int64_t>(uidvalidity), uid)
                .empty();
  };
  const std::string what = "reading what a crash left in mailbox " + mailbox;
  return InTransaction<pqxx::work>(impl_->conn, what, [&](Tx& tx) {
    const pqxx::result r = tx.exec_params(
        "SELECT working_uid, working_owner IS DISTINCT FROM $3, crashed_uid, crashed_deaths FROM mailbox_state "
        "WHERE mailbox = $1 AND working_uidvalidity = $2 FOR UPDATE",
        mailbox, static_cast<int64_t>(uidvalidity), owner);
    if (r.empty()) return std::optional<CrashedWork>();
    std::optional<int64_t> crashed_uid;
    if (!r[0][2].is_null()) crashed_uid = r[0][2].as<int64_t>();
    int deaths = r[0][3].as<int>();
    bool changed = false;
    // Another process's note on a message it never recorded: that process died deciding it.
    if (!r[0][0].is_null() && r[0][1].as<bool>()) {
      const int64_t working = r[0][0].as<int64_t>();
      if (!recorded(tx, working)) {
        deaths = crashed_uid == working ? deaths + 1 : 1;
        crashed_uid = working;
      }
      changed = true;
    }
    // A message that was recorded after all (by a later pass) has no more deaths to count.
    if (crashed_uid && recorded(tx, *crashed_uid)) {
      crashed_uid.reset();
      deaths = 0;
      changed = true;
    }
    if (changed) {
      tx.exec_params(
          "UPDATE mailbox_state SET crashed_uid = $2, crashed_deaths = $3, working_uid = NULL, working_owner "
          "= $4 "
          "WHERE mailbox = $1",
          mailbox, crashed_uid, deaths, owner);
    }
    if (!crashed_uid) return std::optional<CrashedWork>();
    return std::optional<CrashedWork>(CrashedWork{static_cast<uint32_t>(*crashed_uid), deaths});
  });
}

}  // namespace forum
