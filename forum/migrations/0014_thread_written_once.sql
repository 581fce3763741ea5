-- mailforum schema, revision 14: a new thread's row is written once (issue
-- 10). Forward-only: never edit a released migration; add a new numbered
-- file instead.
--
-- A new thread's row used to be written three times at ingest: inserted
-- (its search vector made of the subject alone), updated by its first post's
-- trigger (post_count 1, the post's words appended), and updated again when
-- its reply address was filled in. Each version of a thread row is a new
-- entry in all eight of its indexes, the two GIN indexes included, so the
-- second and third cost about as much as the first.
--
-- The ingest now inserts a new thread whole, with its first post's words,
-- its post_count of 1 and its reply address (forum::Store::RecordBatch):
-- - posts_index keeps a search vector the insert already made (the ingest
--   makes the post's vector once, for the post and its thread); an update of
--   the body, or an insert without one, makes it as before;
-- - threads_changed keeps a search vector the insert already made;
-- - posts_changed leaves the thread alone when the new post is the one its
--   post_count of 1 already counts: the thread's only post.
-- Every other change (replies, edits, moves, deletions, a new subject, a new
-- search language) goes through the triggers exactly as before.
CREATE OR REPLACE FUNCTION mailforum_post_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' AND NEW.search IS NOT NULL THEN
    RETURN NEW;
  END IF;
  NEW.search := mailforum_post_search(NEW.body);
  RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION mailforum_thread_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.search IS NULL THEN
      NEW.search := mailforum_thread_search(NEW.id, NEW.subject);
    END IF;
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

CREATE OR REPLACE FUNCTION mailforum_post_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    -- A thread inserted whole with its first post already counts it.
    IF (SELECT post_count FROM threads WHERE id = NEW.thread_id) = 1 AND NOT EXISTS (
         SELECT 1 FROM posts WHERE thread_id = NEW.thread_id AND id <> NEW.id) THEN
      RETURN NULL;
    END IF;
    UPDATE threads SET post_count = post_count + 1,
      search = CASE WHEN post_count < 1000 AND pg_column_size(search) + pg_column_size(NEW.search) < 524288
                    THEN search || setweight(NEW.search, 'B') ELSE search END
      WHERE id = NEW.thread_id;
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.thread_id = NEW.thread_id THEN
    UPDATE threads SET search = mailforum_thread_search(id, subject) WHERE id = NEW.thread_id;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE threads SET post_count = post_count - 1, search = mailforum_thread_search(id, subject)
      WHERE id = OLD.thread_id;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    UPDATE threads SET post_count = post_count + 1, search = mailforum_thread_search(id, subject)
      WHERE id = NEW.thread_id;
  END IF;
  RETURN NULL;
END $$;
