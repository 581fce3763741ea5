-- mailforum schema, revision 8: categories' thread counts are kept at commit
-- (issue 10). Forward-only: never edit a released migration; add a new
-- numbered file instead.
--
-- The triggers of revision 6 that count a category's threads updated the
-- category's row as each thread was inserted, and a row's lock lasts to the
-- end of its transaction: every transaction that opened a thread in a
-- category waited for the one before it, its remaining statements and its
-- disk flush included, so 200 mailboxes posting new threads at once into one
-- category took 5 s. As deferred constraint triggers they run the same
-- function at COMMIT, so the row is locked only for the commit itself. The
-- counts are what they were after every commit; inside a transaction that
-- opens threads, a category's count is behind until it commits.
DROP TRIGGER threads_counted ON threads;
DROP TRIGGER threads_recounted ON threads;
CREATE CONSTRAINT TRIGGER threads_counted AFTER INSERT OR DELETE ON threads
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION mailforum_thread_counted();
CREATE CONSTRAINT TRIGGER threads_recounted AFTER UPDATE OF category_id ON threads
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.category_id IS DISTINCT FROM NEW.category_id)
  EXECUTE FUNCTION mailforum_thread_counted();
