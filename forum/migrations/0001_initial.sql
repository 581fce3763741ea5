-- mailforum schema, revision 1. Forward-only: never edit a released migration;
-- add a new numbered file instead.

CREATE TABLE categories (
  id          bigserial PRIMARY KEY,
  slug        text NOT NULL UNIQUE,
  name        text NOT NULL,
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE threads (
  id               bigserial PRIMARY KEY,
  category_id      bigint NOT NULL REFERENCES categories (id),
  subject          text NOT NULL,
  status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'resolved')),
  tags             text[] NOT NULL DEFAULT '{}',
  author_address   text NOT NULL,
  author_name      text NOT NULL DEFAULT '',
  accepted_post_id bigint,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_post_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX threads_category_last_post ON threads (category_id, last_post_at DESC);
CREATE INDEX threads_author_created ON threads (lower(author_address), created_at);

CREATE TABLE posts (
  id             bigserial PRIMARY KEY,
  thread_id      bigint NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
  parent_post_id bigint REFERENCES posts (id),
  author_address text NOT NULL,
  author_name    text NOT NULL DEFAULT '',
  body           text NOT NULL,                 -- trimmed text: what the author wrote
  elided         text NOT NULL DEFAULT '',      -- quoted history and signature, kept, not re-sent
  message_id     text NOT NULL UNIQUE,          -- our stable outbound Message-ID for this post
  created_at     timestamptz NOT NULL DEFAULT now(),
  search         tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED
);
CREATE INDEX posts_thread ON posts (thread_id, id);
CREATE INDEX posts_search ON posts USING gin (search);
ALTER TABLE threads ADD CONSTRAINT threads_accepted_post_fk
  FOREIGN KEY (accepted_post_id) REFERENCES posts (id) ON DELETE SET NULL;

-- Attachment contents are stored once per SHA-256.
CREATE TABLE attachments (
  id           bigserial PRIMARY KEY,
  sha256       bytea NOT NULL UNIQUE,
  size         bigint NOT NULL,
  content      bytea NOT NULL
);
CREATE TABLE post_attachments (
  post_id       bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  attachment_id bigint NOT NULL REFERENCES attachments (id),
  position      integer NOT NULL,
  filename      text NOT NULL DEFAULT '',
  content_type  text NOT NULL DEFAULT 'application/octet-stream',
  content_id    text,                            -- inline images: cid: reference
  PRIMARY KEY (post_id, position)
);

-- The audit trail of every fetched message, and the deduplication keys.
CREATE TABLE inbound_messages (
  id             bigserial PRIMARY KEY,
  mailbox        text NOT NULL,
  uidvalidity    bigint NOT NULL,
  uid            bigint NOT NULL,
  -- Message-ID + sender address, or sha256:<hex of the raw bytes> without a Message-ID.
  message_key    text NOT NULL,
  message_id     text,
  from_address   text NOT NULL DEFAULT '',
  subject        text NOT NULL DEFAULT '',
  size           bigint NOT NULL DEFAULT 0,
  classification text NOT NULL DEFAULT 'normal',
  outcome        text NOT NULL CHECK (outcome IN
                   ('posted', 'ignored', 'rejected', 'quarantined', 'machine', 'duplicate', 'too_old')),
  rule           text,
  reason         text NOT NULL DEFAULT '',
  post_id        bigint REFERENCES posts (id) ON DELETE SET NULL,
  raw            bytea,                          -- kept for quarantined mail
  post_action_done boolean NOT NULL DEFAULT false, -- \Seen / move / delete done on the server
  received_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (mailbox, uidvalidity, uid)
);
-- One outcome per message key, across mailboxes, restarts and daemons; later
-- copies are recorded as 'duplicate'.
CREATE UNIQUE INDEX inbound_messages_key ON inbound_messages (message_key) WHERE outcome <> 'duplicate';
CREATE INDEX inbound_messages_message_id ON inbound_messages (message_id);
CREATE INDEX inbound_messages_from ON inbound_messages (lower(from_address), received_at);
CREATE INDEX inbound_messages_pending_action ON inbound_messages (mailbox) WHERE NOT post_action_done;

-- Every inbound and outbound Message-ID that belongs to a post: the thread matcher's index.
CREATE TABLE message_ids (
  message_id text NOT NULL,
  post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  direction  text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
  PRIMARY KEY (message_id, post_id)
);

CREATE TABLE mailbox_state (
  mailbox          text PRIMARY KEY,
  uidvalidity      bigint,
  last_uid         bigint NOT NULL DEFAULT 0,
  first_contact_at timestamptz NOT NULL DEFAULT now(),
  last_success_at  timestamptz,
  last_error       text,
  last_error_at    timestamptz
);

-- Outgoing mail: a durable queue. Rows are claimed with FOR UPDATE SKIP LOCKED.
CREATE TABLE outbox (
  id              bigserial PRIMARY KEY,
  kind            text NOT NULL CHECK (kind IN ('answer', 'notification', 'acknowledgement', 'rejection')),
  thread_id       bigint REFERENCES threads (id) ON DELETE SET NULL,
  post_id         bigint REFERENCES posts (id) ON DELETE SET NULL,
  recipient       text NOT NULL,
  envelope_from   text NOT NULL DEFAULT '',
  message_id      text NOT NULL,                 -- stable across retries
  payload         bytea,                         -- the composed message, sent unchanged on each try
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  last_error      text,
  last_reply_code integer,
  created_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  UNIQUE (message_id, recipient)
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';

-- Bounce scores and suppression per recipient address.
CREATE TABLE suppressions (
  address        text PRIMARY KEY,              -- lower-cased
  bounce_score   double precision NOT NULL DEFAULT 0,
  hard_bounces   integer NOT NULL DEFAULT 0,
  soft_bounces   integer NOT NULL DEFAULT 0,
  suppressed_at  timestamptz,
  last_bounce_at timestamptz,
  last_reason    text NOT NULL DEFAULT ''
);

-- Rejection notices go out at most once per address per day.
CREATE TABLE rejection_notices (
  address text NOT NULL,
  day     date NOT NULL,
  PRIMARY KEY (address, day)
);
