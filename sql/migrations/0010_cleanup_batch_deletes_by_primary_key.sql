-- The batch deletes its locked rows by primary key.
--
-- 0006's `DELETE ... USING doomed WHERE c.id = doomed.id` is planned generically inside a SQL
-- function: with the LIMIT unknown the planner expects thousands of rows and picks a hash join over a
-- sequential scan of all of `courses`, so every batch cost as much as the table is large. Measured by
-- `make bench` (docs/BENCHMARKS.md, 200,000 expired drafts): 13,033 rows/s with the join, 20,149 rows/s
-- and a slowest batch of 81 ms with `id = ANY(ARRAY(...))`, which is primary-key lookups whatever the
-- estimate. Same rows, same order, same locks (FOR UPDATE SKIP LOCKED); CREATE OR REPLACE keeps the
-- grants 0006 revoked.
CREATE OR REPLACE FUNCTION public.delete_expired_drafts_batch(p_cutoff timestamptz, p_batch_size integer DEFAULT 1000)
RETURNS TABLE (id uuid, organization_id uuid, user_id uuid, created_at timestamptz)
LANGUAGE sql VOLATILE AS $$
    -- the purge queue's trigger records why (migration 0002); local: ends with this transaction
    SELECT set_config('app.purge_reason', 'draft_expired', true);
    WITH doomed AS (
        SELECT c.id FROM public.courses c
        WHERE c.status = 'draft' AND c.generation_status IS NULL AND c.created_at < p_cutoff
        ORDER BY c.created_at
        LIMIT greatest(p_batch_size, 1)
        FOR UPDATE SKIP LOCKED
    )
    DELETE FROM public.courses c
    WHERE c.id = ANY (ARRAY(SELECT doomed.id FROM doomed))
    RETURNING c.id, c.organization_id, c.user_id, c.created_at
$$;
