-- mailforum schema, revision 6: the forum on the web (issue 9). Forward-only:
-- never edit a released migration; add a new numbered file instead.
--
-- The web reads threads through forum::Reader with a role that may only
-- SELECT, so everything it shows that costs a scan (reply counts, thread
-- counts, search vectors, when a thread last changed) is kept up to date here
-- by triggers, on whichever connection writes.

-- A private category (categories[].public: false) is never shown on the web,
-- though its mail flows as before. thread_count is kept by triggers on
-- threads, so category pages need no count(*) over their threads.
ALTER TABLE categories ADD COLUMN public boolean NOT NULL DEFAULT true;
ALTER TABLE categories ADD COLUMN thread_count bigint NOT NULL DEFAULT 0;
UPDATE categories c SET thread_count = (SELECT count(*) FROM threads t WHERE t.category_id = c.id);

-- The text-search configuration of this instance (web.search_language): one
-- row. Store::SetSearchLanguage changes it and re-indexes every thread and post.
CREATE TABLE search_settings (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  config   regconfig NOT NULL DEFAULT 'simple'
);
INSERT INTO search_settings DEFAULT VALUES;

CREATE FUNCTION mailforum_search_config() RETURNS regconfig
  LANGUAGE sql STABLE AS $$ SELECT config FROM search_settings $$;

-- What is indexed is capped, so that no thread can make an insert fail: a
-- tsvector holds at most 1 MiB, and hostile text of short distinct words
-- costs up to ~6 bytes of tsvector per character. A post's first 20,000
-- characters, a subject's first 2,000, and a thread's first 150,000
-- characters of bodies (of its first 1,000 posts) are searchable; positions
-- past 16,383 are clamped by PostgreSQL, which is harmless. substr() (not
-- left()) reads only the prefix of a compressed or out-of-line body.
CREATE FUNCTION mailforum_post_search(body text) RETURNS tsvector
  LANGUAGE sql STABLE AS $$
    SELECT to_tsvector(mailforum_search_config(), substr(body, 1, 20000))
  $$;

-- A thread's subject alone: small enough to stay inline in the row, so
-- search can test it on many threads without reading their whole vectors.
CREATE FUNCTION mailforum_subject_search(subject text) RETURNS tsvector
  LANGUAGE sql STABLE AS $$
    SELECT to_tsvector(mailforum_search_config(), substr(subject, 1, 2000))
  $$;

-- A thread's search vector: its subject weighted A (ranked highest), then
-- what its posts' authors wrote (never the elided quoted history) weighted B.
CREATE FUNCTION mailforum_thread_search(thread bigint, subject text) RETURNS tsvector
  LANGUAGE sql STABLE AS $$
    SELECT setweight(to_tsvector(mailforum_search_config(), substr(subject, 1, 2000)), 'A') ||
           setweight(to_tsvector(mailforum_search_config(), coalesce(substr(
             (SELECT string_agg(b, E'\n') FROM
                (SELECT substr(p.body, 1, 20000) AS b FROM posts p WHERE p.thread_id = thread
                 ORDER BY p.id LIMIT 1000) first_posts),
             1, 150000), '')), 'B')
  $$;

-- The generated column was fixed to 'simple': the configuration is now the instance's.
ALTER TABLE posts DROP COLUMN search;
ALTER TABLE posts ADD COLUMN search tsvector;
UPDATE posts SET search = mailforum_post_search(body);
ALTER TABLE posts ALTER COLUMN search SET NOT NULL;
CREATE INDEX posts_search ON posts USING gin (search);

-- reply_address: the thread's public reply address, filled in by the daemon
-- (Store::FillReplyAddresses; NULL until then). post_count: its posts,
-- question included. changed_at: the last change of anything the web shows
-- about it; strictly increasing per thread (see mailforum_thread_changed).
ALTER TABLE threads ADD COLUMN reply_address text;
ALTER TABLE threads ADD COLUMN post_count integer NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE threads ADD COLUMN search tsvector;
ALTER TABLE threads ADD COLUMN subject_search tsvector;
UPDATE threads t SET
  post_count = (SELECT count(*) FROM posts p WHERE p.thread_id = t.id),
  changed_at = t.last_post_at,
  search = mailforum_thread_search(t.id, t.subject),
  subject_search = mailforum_subject_search(t.subject);
ALTER TABLE threads ALTER COLUMN search SET NOT NULL;
ALTER TABLE threads ALTER COLUMN subject_search SET NOT NULL;
CREATE INDEX threads_search ON threads USING gin (search);
-- Search ranks the threads whose subject matches even when a word is in most bodies.
CREATE INDEX threads_subject_search ON threads USING gin (subject_search);

-- Keyset paging, newest activity first: all threads, by category, by status.
DROP INDEX threads_category_last_post;
CREATE INDEX threads_last_post ON threads (last_post_at DESC, id DESC);
CREATE INDEX threads_category_last_post ON threads (category_id, last_post_at DESC, id DESC);
CREATE INDEX threads_status_last_post ON threads (status, last_post_at DESC, id DESC);
-- Threads still waiting for their reply address: none most of the time.
CREATE INDEX threads_reply_address_missing ON threads (id) WHERE reply_address IS NULL;

-- --- triggers ---

-- posts.search, with the instance's configuration.
CREATE FUNCTION mailforum_post_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.search := mailforum_post_search(NEW.body);
  RETURN NEW;
END $$;
CREATE TRIGGER posts_index BEFORE INSERT OR UPDATE OF body ON posts
  FOR EACH ROW EXECUTE FUNCTION mailforum_post_index();

-- A post lands, goes or changes: its thread's count and search vector follow
-- (the thread's own trigger then moves changed_at and notifies).
CREATE FUNCTION mailforum_post_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.thread_id = NEW.thread_id THEN
    UPDATE threads SET search = mailforum_thread_search(id, subject) WHERE id = NEW.thread_id;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE threads SET post_count = post_count - 1, search = mailforum_thread_search(id, subject)
      WHERE id = OLD.thread_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE threads SET post_count = post_count + 1, search = mailforum_thread_search(id, subject)
      WHERE id = NEW.thread_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER posts_changed AFTER INSERT OR DELETE OR UPDATE OF body, thread_id ON posts
  FOR EACH ROW EXECUTE FUNCTION mailforum_post_changed();

-- A thread's subject changes its search vector; whatever the web shows of it
-- moves changed_at. changed_at never goes back, even when transactions
-- commit out of order (the row lock orders the updates of one thread), so
-- Last-Modified and caches keyed by it stay right.
CREATE FUNCTION mailforum_thread_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.search := mailforum_thread_search(NEW.id, NEW.subject);
    NEW.subject_search := mailforum_subject_search(NEW.subject);
    NEW.changed_at := clock_timestamp();
    RETURN NEW;
  END IF;
  IF NEW.subject IS DISTINCT FROM OLD.subject THEN
    NEW.search := mailforum_thread_search(NEW.id, NEW.subject);
    NEW.subject_search := mailforum_subject_search(NEW.subject);
  END IF;
  IF NEW.subject IS DISTINCT FROM OLD.subject OR NEW.status IS DISTINCT FROM OLD.status
     OR NEW.tags IS DISTINCT FROM OLD.tags OR NEW.accepted_post_id IS DISTINCT FROM OLD.accepted_post_id
     OR NEW.category_id IS DISTINCT FROM OLD.category_id OR NEW.last_post_at IS DISTINCT FROM OLD.last_post_at
     OR NEW.post_count IS DISTINCT FROM OLD.post_count OR NEW.reply_address IS DISTINCT FROM OLD.reply_address
     OR NEW.author_name IS DISTINCT FROM OLD.author_name THEN
    NEW.changed_at := greatest(clock_timestamp(), OLD.changed_at + interval '1 microsecond');
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER threads_changed BEFORE INSERT OR UPDATE ON threads
  FOR EACH ROW EXECUTE FUNCTION mailforum_thread_changed();

-- Categories' thread counts.
CREATE FUNCTION mailforum_thread_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE categories SET thread_count = thread_count - 1 WHERE id = OLD.category_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE categories SET thread_count = thread_count + 1 WHERE id = NEW.category_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER threads_counted AFTER INSERT OR DELETE ON threads
  FOR EACH ROW EXECUTE FUNCTION mailforum_thread_counted();
CREATE TRIGGER threads_recounted AFTER UPDATE OF category_id ON threads
  FOR EACH ROW WHEN (OLD.category_id IS DISTINCT FROM NEW.category_id)
  EXECUTE FUNCTION mailforum_thread_counted();

-- Change notifications for the web's caches (forum::Reader::WaitForChanges):
-- the thread's id when it (or one of its posts) changed, '0' when the
-- categories did. PostgreSQL delivers them at commit, once per payload.
CREATE FUNCTION mailforum_notify_thread() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('mailforum_changes', OLD.id::text);
  ELSE
    PERFORM pg_notify('mailforum_changes', NEW.id::text);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER threads_notify_insert_delete AFTER INSERT OR DELETE ON threads
  FOR EACH ROW EXECUTE FUNCTION mailforum_notify_thread();
CREATE TRIGGER threads_notify_update AFTER UPDATE ON threads
  FOR EACH ROW WHEN (NEW.changed_at IS DISTINCT FROM OLD.changed_at)
  EXECUTE FUNCTION mailforum_notify_thread();

CREATE FUNCTION mailforum_notify_categories() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('mailforum_changes', '0');
  RETURN NULL;
END $$;
CREATE TRIGGER categories_notify_insert_delete AFTER INSERT OR DELETE ON categories
  FOR EACH ROW EXECUTE FUNCTION mailforum_notify_categories();
CREATE TRIGGER categories_notify_update AFTER UPDATE OF slug, name, description, public ON categories
  FOR EACH ROW WHEN (OLD.slug IS DISTINCT FROM NEW.slug OR OLD.name IS DISTINCT FROM NEW.name
                     OR OLD.description IS DISTINCT FROM NEW.description OR OLD.public IS DISTINCT FROM NEW.public)
  EXECUTE FUNCTION mailforum_notify_categories();
