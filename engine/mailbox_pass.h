// One pass over an IMAP mailbox into the forum, exactly once (DESIGN.md
// §1–§2), written against the ports (engine/ports.h): no sockets, and one
// thread of its own at a time (the overlap, below).
//
// A pass: check that this process still holds the mailbox's lock, SELECT,
// handle a new UIDVALIDITY by rescanning (deduplicated by message key),
// finish the post-actions a crash left undone, then fetch new mail in
// batches: decide each message (engine/pipeline.h), record each batch in ONE
// ledger transaction (a reply to a message of the same batch is resolved in
// memory, so a batch is never recorded in pieces; see
// forum::PostDraft::thread_id), and only after the commit do the post-action on the
// server (\Seen, move or delete; quarantined mail moves to the quarantine
// folder). A failure anywhere ends the pass with its error; the next pass
// (on fresh connections) picks up exactly where the ledger's commit left
// off, so nothing is posted twice and nothing is lost.
//
// Size first: each batch's sizes are fetched before its bytes. A batch holds
// at most batch_size messages and max_batch_bytes bytes; of a message over
// max_message_size only the first quarantine_keep_bytes are fetched, and it
// is quarantined. A pass that finds one message (the usual pass after IDLE)
// fetches its size with its first quarantine_keep_bytes, and the rest only
// when there is more and it is not over max_message_size.
//
// Overlap: deciding a message is two steps (engine/pipeline.h): Prepare,
// which asks the forum nothing (parse, classify, rules), then Decide, the
// lookups. While batch N is decided (the caller's thread), batch N+1 is
// fetched on a second thread; then N is recorded on a second thread while
// the caller's thread prepares N+1. So the daemon's CPU work and
// PostgreSQL's run side by side, and N+1's lookups still run after N has
// committed, seeing everything before them. The source is used by one
// thread at a time: N's post-actions wait for the fetch, and the fetch of
// N+2 starts after them. So at most two batches are in memory. A failed
// prefetch ends the pass with its error, as a fetch after N's post-actions
// would (they are still tried; if they fail too, they are owed); a batch
// fetched or prepared but never recorded (a stop, an error) is dropped, with
// nothing to undo: FETCH is BODY.PEEK and flags nothing.
//
// Crash-loop breaker: before a message is prepared (parsed: where hostile
// mail strikes), its UID is noted in the ledger (NoteWorking); before a
// batch is decided, its first message's UID, or in a careful pass (one that
// found a death) each message's before it is decided; after each batch's
// preparing and deciding, the note says "none". A batch decided right after
// its preparing (nothing recorded meanwhile: the pass's first batch, a new
// message to an idle mailbox) keeps the note of its last message prepared
// until it is decided, instead of "none" and then its first: two round trips
// fewer, with the same effect. A note already standing is not written again.
// The notes come from the caller's thread only, in order. When a pass finds the note of another
// process on a message that was never recorded, that process died while
// preparing or deciding it (or, for a batch's first, a message of its
// batch); after two such deaths in a row on one message it is quarantined
// unparsed. So a message that kills the daemon as it is parsed is
// quarantined after two deaths, and one that kills it as it is decided
// after at most three: the first death, pinned on its batch, makes the next
// pass careful. (A death while a batch is recorded, during the next batch's
// preparing, is counted against the message prepared at that moment.) A
// careful pass's first batch ends with the suspect when it is within twice
// the batch bounds (it always is when the dead process had the same
// bounds: it was at most one batch ahead of what it had recorded), so the
// suspect is decided and recorded by the first commit. So one death is
// counted against a message only while the message itself is worked on:
// two unrelated deaths, each soon after a commit, never add up on a message
// that was merely fetched ahead.
//
// Thread-safety: one pass, on the caller's thread and one thread of its own
// at a time. The ledger is called from both (a record beside the next
// batch's notes): an InboundLedger must take calls from two threads at once.
// The source is called from both but never at once (each handover is a
// thread start or join), so a MailSource need not be thread-safe, only
// usable from one thread at a time. The pass joins its thread before it
// returns. `stopped` may be set from any thread.
#ifndef MAILFORUM_ENGINE_MAILBOX_PASS_H_
#define MAILFORUM_ENGINE_MAILBOX_PASS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "engine/pipeline.h"
#include "engine/ports.h"

namespace engine {

struct MailboxPassOptions {
  std::string folder = "INBOX";
  enum class After { kSeen, kMove, kDelete } after = After::kSeen;
  std::string after_folder;  // kMove
  std::string quarantine_folder = "Quarantine";
  std::chrono::milliseconds import_max_age{std::chrono::hours(7 * 24)};
  PipelineConfig pipeline;                 // its `mailbox` names the mailbox
  std::string domain;                      // of our Message-IDs
  size_t batch_size = 100;                 // at most this many messages per fetch and transaction
  uint64_t max_batch_bytes = 32ull << 20;  // and at most this many bytes (one larger message goes alone)
  // Of a message over pipeline.max_message_size only this many bytes are
  // fetched, and kept in the quarantine.
  uint64_t quarantine_keep_bytes = 1ull << 20;
  // Called after a batch that queued outbound mail is committed, e.g. to
  // wake the outbox worker. Empty: nothing.
  std::function<void()> on_mail_queued;
  // The public reply address of a thread: after a batch that posted, threads
  // without one get it (InboundLedger::FillReplyAddresses). Empty: not filled.
  std::function<std::string(int64_t thread_id)> reply_address_for;
  // Test hook, called just before each message is decided (a test makes it
  // hang or crash to prove the crash-loop breaker). No configuration sets it.
  std::function<void(std::string_view raw)> before_decide;
};

// What a pass leaves for the next pass of the same worker. After a pass
// that ended without error and with no crashed message pending, nothing is
// owed: its post-actions are done and no other process can have worked the
// mailbox while this one held its lock (a lost lock fails the next pass at
// its first step, and a worker locks again only after a failed pass). So
// the next pass skips the ledger's owed post-actions and crash notes, two
// round trips of every pass an IDLE wake-up starts.
struct MailboxPassMemory {
  bool clean = false;
  uint32_t uidvalidity = 0;  // of the clean pass
};

// Runs one pass of `options`' mailbox from `source` into `ledger`, as the
// crash-loop breaker's `owner` (unique per process). Stops between batches
// once `stopped` is set. Errors: the first failure of a port (the pass
// ends there; what was committed stays), kTransient when the lock was lost.
// `memory` (optional) is read and then rewritten by the pass.
base::Status RunMailboxPass(const MailboxPassOptions& options, MailSource& source, InboundLedger& ledger,
                            const std::string& owner, const std::atomic<bool>& stopped,
                            MailboxPassMemory* memory = nullptr);

}  // namespace engine

#endif  // MAILFORUM_ENGINE_MAILBOX_PASS_H_
