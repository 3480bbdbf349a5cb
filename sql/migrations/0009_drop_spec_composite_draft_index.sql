-- migrate: no-transaction
-- If an earlier rollout of the source spec (3.4.1) created its composite draft-cleanup index, drop
-- it: 0005's partial index on created_at serves the same predicate faster and is the one the
-- planner picks (numbers in 0005); the composite only costs every insert and delete of a draft.
-- CONCURRENTLY, so production's writes to courses never wait for it.
DROP INDEX CONCURRENTLY IF EXISTS public.idx_courses_draft_cleanup;
