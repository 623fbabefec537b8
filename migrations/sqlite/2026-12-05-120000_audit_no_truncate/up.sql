-- SQLite has no TRUNCATE (a DELETE without WHERE fires the row triggers of the foundation
-- migration); this migration keeps both backends' migration lists in step.
SELECT 1;
