-- mailforum schema, revision 13: large values compressed with lz4 (issue 10).
-- Forward-only: never edit a released migration; add a new numbered file
-- instead.
--
-- Values over about 2 KB (a post's body, its elided history and search
-- vector, a thread's search vector, an attachment, a quarantined message)
-- are compressed by PostgreSQL's TOAST before they are stored. Its default
-- compressor, pglz, took about 6% of PostgreSQL's CPU time at ingest, the
-- largest single function; lz4 compresses several times faster (and
-- decompresses faster for the web) at a similar ratio. Values already stored
-- stay as they are until rewritten; both kinds are read alike.
-- PostgreSQL must be built with lz4 (Debian's and the PGDG packages are).
ALTER TABLE posts ALTER COLUMN body SET COMPRESSION lz4,
  ALTER COLUMN elided SET COMPRESSION lz4,
  ALTER COLUMN search SET COMPRESSION lz4;
ALTER TABLE threads ALTER COLUMN search SET COMPRESSION lz4;
ALTER TABLE attachments ALTER COLUMN content SET COMPRESSION lz4;
ALTER TABLE inbound_messages ALTER COLUMN raw SET COMPRESSION lz4;
