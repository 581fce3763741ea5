-- mailforum schema, revision 11: a new post's words are appended to its
-- thread's search vector (issue 10). Forward-only: never edit a released
-- migration; add a new numbered file instead.
--
-- Revision 6 rebuilt the thread's whole vector at every new post: the
-- bodies of its first 1,000 posts read again, joined and parsed (up to
-- 150,000 characters), on top of the post's own vector. Ingest spent most of
-- PostgreSQL's time there (about 4 ms of 6 per message). A new post's
-- vector (posts.search, made by posts_index before the row is stored) is now
-- appended to the thread's with weight B, as long as the thread has fewer
-- than 1,000 posts and its vector stays under 512 KiB (a tsvector holds at
-- most 1 MiB): the same words, found and ranked as before. A post that goes
-- or changes, a thread whose subject changes, and Store::SetSearchLanguage
-- still rebuild the vector whole (mailforum_thread_search).
CREATE OR REPLACE FUNCTION mailforum_post_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
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
