-- mailforum schema, revision 5: the crash-loop breaker, and whether a post's
-- author is proven. Forward-only: never
-- edit a released migration; add a new numbered file instead.

-- The message a mailbox's worker is deciding right now (NULL: none), noted
-- before it is parsed, and by which process. When a daemon finds another
-- process's note on a message that was never recorded, that process died
-- while working on it: crashed_uid is that message and crashed_deaths counts
-- such deaths in a row; a message with two is quarantined unparsed, so that
-- one message can never crash a daemon in a loop.
ALTER TABLE mailbox_state ADD COLUMN working_uidvalidity bigint;
ALTER TABLE mailbox_state ADD COLUMN working_uid bigint;
ALTER TABLE mailbox_state ADD COLUMN working_owner text;
ALTER TABLE mailbox_state ADD COLUMN crashed_uid bigint;
ALTER TABLE mailbox_state ADD COLUMN crashed_deaths integer NOT NULL DEFAULT 0;

-- Whether the post's author address is proven (a trusted, aligned DMARC pass
-- when it arrived): anyone can write any From:, so the web view can say
-- which authors are only claimed.
ALTER TABLE posts ADD COLUMN author_verified boolean NOT NULL DEFAULT false;
