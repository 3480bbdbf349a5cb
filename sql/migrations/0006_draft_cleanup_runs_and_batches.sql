-- Draft cleanup: one SQL path for pg_cron and the scheduled function (DESIGN.md rule 5).
--
--   delete_expired_drafts_batch(cutoff, n)  one bounded batch, oldest first, FOR UPDATE SKIP LOCKED;
--                                           the caller commits it (a short transaction per batch)
--   cleanup_expired_drafts(...)             procedure for pg_cron: loops batches, COMMIT between
--                                           them, under a time budget, and logs the run
--   cleanup_runs                            one row per real run (pg_cron / scheduler / http / manual)
--
-- Two overlapping runs (pg_cron and the scheduled function both fire at the top of the hour)
-- split the work: SKIP LOCKED makes each skip the rows the other holds, so no row is deleted twice
-- and neither waits for the other. A user's update of an expiring draft waits at most for the one
-- batch that holds its row, never for the whole run.
--
-- expires_at (spec 3.4.2) is deliberately NOT added. The cutoff is `created_at < now() - maxAgeHours`
-- (API.md), with maxAgeHours chosen per run; a stored expires_at would duplicate created_at + a
-- constant, go stale whenever the age setting changes, need a default or trigger on every insert
-- path (the front end, the fallback, the SQL console), and its back-fill UPDATE would rewrite every
-- draft row on production. The partial index of 0005 already serves the predicate as well as an
-- index on expires_at could. It earns its place only if drafts ever get per-row lifetimes.

-- 0005 builds its index CONCURRENTLY; an interrupted build leaves an INVALID index that
-- `IF NOT EXISTS` then accepts silently. Refuse to go on rather than clean up without it.
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relname = 'idx_courses_unused_drafts_created_at'
          AND c.relnamespace = 'public'::regnamespace AND NOT i.indisvalid
    ) THEN
        RAISE EXCEPTION 'index idx_courses_unused_drafts_created_at is INVALID (interrupted CREATE INDEX CONCURRENTLY)'
            USING HINT = 'DROP INDEX CONCURRENTLY public.idx_courses_unused_drafts_created_at; '
                         'DELETE FROM schema_migrations WHERE version = ''0005_draft_cleanup_index''; then migrate again.';
    END IF;
END
$$;

DO $$
BEGIN
    IF to_regclass('public.idx_courses_unused_drafts_created_at') IS NOT NULL THEN
        COMMENT ON INDEX public.idx_courses_unused_drafts_created_at IS
            'Serves the draft cleanup: status = ''draft'' AND generation_status IS NULL AND created_at < cutoff, '
            'read in created_at order (see migration 0005 for the measurement that chose it)';
    END IF;
END
$$;

CREATE TABLE IF NOT EXISTS public.cleanup_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL CHECK (source IN ('pg_cron', 'scheduler', 'http', 'manual')),
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    cutoff      timestamptz NOT NULL,
    deleted     integer NOT NULL DEFAULT 0,
    batches     integer NOT NULL DEFAULT 0,
    -- false: the time budget ended the run while expired drafts were left (the next run goes on)
    complete    boolean,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    error       text
);

CREATE INDEX IF NOT EXISTS cleanup_runs_started_at_idx ON public.cleanup_runs (started_at);

COMMENT ON TABLE public.cleanup_runs IS
    'One row per draft cleanup run (pg_cron, the scheduled function, an admin over HTTP, a manual CALL); '
    'kept 30 days by prune_cleanup_runs()';

-- Supabase exposes the public schema through its REST API: the run log is for the service role only.
ALTER TABLE public.cleanup_runs ENABLE ROW LEVEL SECURITY;

-- The one predicate, in one place: what the batch deletes is what a dry run counts.
CREATE OR REPLACE FUNCTION public.count_expired_drafts(p_cutoff timestamptz)
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*) FROM public.courses c
    WHERE c.status = 'draft' AND c.generation_status IS NULL AND c.created_at < p_cutoff
$$;

-- One bounded batch. It takes only rows no one else holds (SKIP LOCKED), oldest first so that
-- the partial index on created_at is read in order and stops after p_batch_size entries; FOR
-- UPDATE re-checks the predicate on the latest version, so a draft whose generation started
-- after the batch's snapshot is left alone. The purge trigger on courses queues each deleted row
-- (reason 'draft_expired'), in this same transaction.
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
    DELETE FROM public.courses c USING doomed
    WHERE c.id = doomed.id
    RETURNING c.id, c.organization_id, c.user_id, c.created_at
$$;

-- A run starts: its row is written (and committed by the caller) so that a run in progress, or one
-- killed half-way, shows in the monitoring view. Runs left 'running' for over an hour died
-- (a Lambda timeout, a killed backend): they are closed as failed here.
CREATE OR REPLACE FUNCTION public.cleanup_run_begin(p_source text, p_cutoff timestamptz)
RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    UPDATE public.cleanup_runs
       SET status = 'failed', finished_at = clock_timestamp(),
           error = coalesce(error, 'did not finish (timed out or killed)')
     WHERE status = 'running' AND started_at < clock_timestamp() - interval '1 hour';
    INSERT INTO public.cleanup_runs (source, cutoff) VALUES (p_source, p_cutoff) RETURNING id;
$$;

-- Called in each batch's own transaction, so the log is right even if the run is killed later.
CREATE OR REPLACE FUNCTION public.cleanup_run_progress(p_run bigint, p_deleted integer)
RETURNS void
LANGUAGE sql VOLATILE AS $$
    UPDATE public.cleanup_runs
       SET deleted = deleted + p_deleted, batches = batches + CASE WHEN p_deleted > 0 THEN 1 ELSE 0 END
     WHERE id = p_run;
$$;

CREATE OR REPLACE FUNCTION public.cleanup_run_finish(p_run bigint, p_complete boolean, p_error text DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE AS $$
    UPDATE public.cleanup_runs
       SET finished_at = clock_timestamp(), complete = p_complete,
           status = CASE WHEN p_error IS NULL THEN 'succeeded' ELSE 'failed' END, error = p_error
     WHERE id = p_run;
$$;

-- The pg_cron path. No SET clause and no exception handler around the COMMITs: either would forbid
-- transaction control in a procedure. A failing batch is caught in its own sub-block, recorded,
-- committed, then raised again so that cron.job_run_details says 'failed' too.
CREATE OR REPLACE PROCEDURE public.cleanup_expired_drafts(
    p_source      text     DEFAULT 'pg_cron',
    p_max_age     interval DEFAULT interval '24 hours',
    p_batch_size  integer  DEFAULT 1000,
    p_time_budget interval DEFAULT interval '60 seconds')
LANGUAGE plpgsql AS $$
DECLARE
    v_cutoff   timestamptz := now() - p_max_age;
    v_deadline timestamptz := clock_timestamp() + p_time_budget;
    v_run      bigint;
    v_n        integer;
    v_error    text;
BEGIN
    v_run := public.cleanup_run_begin(p_source, v_cutoff);
    COMMIT;
    LOOP
        BEGIN
            SELECT count(*) INTO v_n FROM public.delete_expired_drafts_batch(v_cutoff, p_batch_size);
            PERFORM public.cleanup_run_progress(v_run, v_n);
        EXCEPTION WHEN OTHERS THEN
            v_error := SQLERRM;
        END;
        IF v_error IS NOT NULL THEN
            PERFORM public.cleanup_run_finish(v_run, false, v_error);
            COMMIT;
            RAISE EXCEPTION 'draft cleanup run % failed: %', v_run, v_error;
        END IF;
        COMMIT;  -- each batch is its own short transaction: its row locks end here
        EXIT WHEN v_n < p_batch_size;
        IF clock_timestamp() >= v_deadline THEN
            PERFORM public.cleanup_run_finish(v_run, false);
            COMMIT;
            RETURN;
        END IF;
    END LOOP;
    PERFORM public.cleanup_run_finish(v_run, true);
    COMMIT;
END
$$;

-- History is bounded: cleanup_runs for 30 days (the guide's reports look back 30 days) and
-- cron.job_run_details for 7 (pg_cron never prunes it; it grows without limit otherwise).
CREATE OR REPLACE FUNCTION public.prune_cleanup_runs(p_keep interval DEFAULT interval '30 days')
RETURNS integer
LANGUAGE sql VOLATILE AS $$
    WITH gone AS (DELETE FROM public.cleanup_runs WHERE started_at < now() - p_keep RETURNING 1)
    SELECT count(*)::integer FROM gone;
$$;

CREATE OR REPLACE FUNCTION public.prune_cron_history(p_keep interval DEFAULT interval '7 days')
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n integer := 0;
BEGIN
    IF to_regclass('cron.job_run_details') IS NOT NULL THEN  -- only where pg_cron exists
        EXECUTE 'DELETE FROM cron.job_run_details WHERE coalesce(end_time, start_time) < now() - $1' USING p_keep;
        GET DIAGNOSTICS v_n = ROW_COUNT;
    END IF;
    RETURN v_n;
END
$$;

-- Functions are executable by PUBLIC by default and Supabase's REST API would offer them to anon:
-- deleting drafts and reading the run log are for the service role and the job owner only.
DO $$
DECLARE
    r text;
BEGIN
    REVOKE ALL ON FUNCTION public.count_expired_drafts(timestamptz) FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.delete_expired_drafts_batch(timestamptz, integer) FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.cleanup_run_begin(text, timestamptz) FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.cleanup_run_progress(bigint, integer) FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.cleanup_run_finish(bigint, boolean, text) FROM PUBLIC;
    REVOKE ALL ON PROCEDURE public.cleanup_expired_drafts(text, interval, integer, interval) FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.prune_cleanup_runs(interval) FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.prune_cron_history(interval) FROM PUBLIC;
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON public.cleanup_runs FROM %I', r);
            EXECUTE format('REVOKE ALL ON FUNCTION public.count_expired_drafts(timestamptz), '
                           'public.delete_expired_drafts_batch(timestamptz, integer), '
                           'public.cleanup_run_begin(text, timestamptz), public.cleanup_run_progress(bigint, integer), '
                           'public.cleanup_run_finish(bigint, boolean, text), public.prune_cleanup_runs(interval), '
                           'public.prune_cron_history(interval) FROM %I', r);
            EXECUTE format('REVOKE ALL ON PROCEDURE public.cleanup_expired_drafts(text, interval, integer, interval) FROM %I', r);
        END IF;
    END LOOP;
END
$$;
