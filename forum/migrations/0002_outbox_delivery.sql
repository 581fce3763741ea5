-- mailforum schema, revision 2: delivering the outbox. Forward-only: never
-- edit a released migration; add a new numbered file instead.

-- A bounce that names one of our messages (its VERP return path) marks the
-- row 'bounced'; the mail left us, but never arrived.
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
  CHECK (status IN ('pending', 'sent', 'failed', 'suppressed', 'bounced'));
ALTER TABLE outbox ADD COLUMN bounced_at timestamptz;

-- `mailforumctl outbox retry` requeues a row: its max age counts from then.
ALTER TABLE outbox ADD COLUMN requeued_at timestamptz;

-- `mailforumctl outbox list --status failed`.
CREATE INDEX outbox_status ON outbox (status, id);

-- The outbox worker threads answers under the asker's own Message-ID: that
-- of the inbound message that opened the thread.
CREATE INDEX inbound_messages_post ON inbound_messages (post_id);
