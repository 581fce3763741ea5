-- mailforum schema, revision 9: outbox claims tied to their owner's liveness
-- (issue 13 item 3). Forward-only: never edit a released migration; add a new
-- numbered file instead.
--
-- A claim (Store::ClaimDue) still pushes next_attempt_at one lease ahead, and
-- now also records its owner: a number from outbox_claim_owners that the
-- claiming connection holds as a session advisory lock (two-key form: 1835429751
-- = 'mfow', the owner). When that session ends (the daemon was killed, or
-- its connection to PostgreSQL was lost), PostgreSQL drops the lock, and the
-- next claim of any worker takes the rows at once instead of after the lease.
-- An owner that is alive but stuck keeps its lock, so its claims last the
-- whole lease as before. Every recorded fate clears the owner.
CREATE SEQUENCE outbox_claim_owners AS integer MINVALUE 1 MAXVALUE 2147483647 CYCLE;

ALTER TABLE outbox ADD COLUMN claim_owner integer;

CREATE INDEX outbox_claimed ON outbox (claim_owner) WHERE status = 'pending' AND claim_owner IS NOT NULL;
