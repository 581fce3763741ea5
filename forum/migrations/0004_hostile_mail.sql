-- mailforum schema, revision 4: hostile and forged mail (issue 8). Forward-only:
-- never edit a released migration; add a new numbered file instead.

-- Anyone can send an auto-reply with any From:. Machine mail feeds the loop
-- circuit breaker only when it is tied to mail we sent to its From's domain:
-- sent to a verified VERP return path of ours, or carrying a valid reply
-- token or naming one of our Message-IDs. Rows recorded before this revision
-- are not known to be tied, so they no longer count.
ALTER TABLE inbound_messages ADD COLUMN tied_to_ours boolean NOT NULL DEFAULT false;
DROP INDEX inbound_messages_machine;
CREATE INDEX inbound_messages_machine_tied ON inbound_messages (received_at)
  WHERE outcome = 'machine' AND tied_to_ours;

-- The hourly caps of acknowledgements and rejection notices (per recipient
-- domain and overall) count those queued in the last hour. Over the cap
-- none is queued, so the rows this index holds for an hour stay few.
CREATE INDEX outbox_auto_replies ON outbox (created_at) WHERE kind IN ('acknowledgement', 'rejection');
