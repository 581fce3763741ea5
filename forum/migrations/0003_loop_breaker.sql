-- mailforum schema, revision 3: the loop circuit breaker and the rate limit of
-- acknowledgements. Forward-only: never edit a released migration; add a new
-- numbered file instead.

-- The outbox worker counts recent machine mail (auto-replies, bounces) from a
-- recipient's address or domain before sending it automatic mail.
CREATE INDEX inbound_messages_machine ON inbound_messages (received_at) WHERE outcome = 'machine';
CREATE INDEX outbox_bounced ON outbox (bounced_at) WHERE status = 'bounced';

-- At most one acknowledgement per address per interval: the last one queued to it.
CREATE INDEX outbox_recipient_kind ON outbox (recipient, kind, created_at);
