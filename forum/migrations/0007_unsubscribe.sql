-- mailforum schema, revision 7: unsubscribing (issue 12). Forward-only: never
-- edit a released migration; add a new numbered file instead.
--
-- What an address asked to stop receiving. `scope` says what: 'thread:<id>'
-- (answers and notifications of one thread: the unsubscribe link of an
-- answer, or #mute), 'category:<slug>' (a watcher's notifications of a
-- category) or 'acknowledgements'. The outbox re-checks it whenever it claims
-- a row, so an unsubscription that comes after a mail was queued still stops
-- it; the row becomes 'suppressed' with the reason. A reply of the address's
-- own (DMARC-proven) in a thread, `#unmute`, or `mailforumctl subscriptions
-- clear` deletes the row again.
CREATE TABLE unsubscriptions (
  address    text NOT NULL CHECK (address = lower(address) AND address <> ''),
  scope      text NOT NULL CHECK (scope ~ '^(thread:[0-9]+|category:[a-z0-9-]+|acknowledgements)$'),
  source     text NOT NULL CHECK (source IN ('one-click', 'mailto', 'mute', 'cli')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (address, scope)
);

ALTER TABLE inbound_messages DROP CONSTRAINT inbound_messages_outcome_check;
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_outcome_check CHECK (outcome IN
  ('posted', 'ignored', 'rejected', 'quarantined', 'machine', 'duplicate', 'too_old', 'unsubscribed'));

-- The web's one narrow write: mailforum-web may run with a role that can only
-- SELECT (web.dsn_file), and a one-click unsubscription must still be
-- recorded. This function, owned by whoever migrates, inserts into
-- unsubscriptions and nothing else; the web calls it only for a token whose
-- signature it verified.
CREATE FUNCTION mailforum_unsubscribe(p_address text, p_scope text, p_source text) RETURNS void
  LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    INSERT INTO unsubscriptions (address, scope, source) VALUES (lower(p_address), p_scope, p_source)
    ON CONFLICT (address, scope) DO NOTHING
  $$;
GRANT EXECUTE ON FUNCTION mailforum_unsubscribe(text, text, text) TO PUBLIC;
