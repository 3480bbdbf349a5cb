-- migrate: no-transaction
-- The purge trigger deletes rag_context_cache rows by course_id, and the orphan sweep reads them
-- by course_id: without this index every course delete would scan the whole cache table.
-- CONCURRENTLY: production's table is live and must not be locked against writes while it builds.
-- (One statement only: a multi-statement string would run in an implicit transaction.)
CREATE INDEX CONCURRENTLY IF NOT EXISTS rag_context_cache_course_id_idx ON rag_context_cache (course_id);
