-- mailforum schema, revision 12: the due outbox rows in claiming order
-- (issue 10). Forward-only: never edit a released migration; add a new
-- numbered file instead.
--
-- Store::ClaimDue takes the oldest due rows, ORDER BY next_attempt_at, id.
-- outbox_due held next_attempt_at alone, so a claim read every due row and
-- sorted them to take 50 (10,000 rows queued at once share one
-- next_attempt_at: 65 ms per claim). With id in the index a claim reads the
-- 50 rows it takes.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (next_attempt_at, id) WHERE status = 'pending';
