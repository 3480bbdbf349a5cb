-- pg_cron schedules of the draft cleanup, only where the extension exists (never failing elsewhere):
--   cleanup-old-drafts-hourly    0 * * * *   CALL public.cleanup_expired_drafts('pg_cron')
--   prune-cleanup-history-daily  30 3 * * *  cron.job_run_details > 7 days, cleanup_runs > 30 days
-- Where pg_cron is missing, the scheduled function (EventBridge Scheduler) is the hourly run.
-- If pg_cron is enabled later, run `SELECT public.draft_cleanup_setup_pg_cron();` once.

CREATE OR REPLACE FUNCTION public.draft_cleanup_setup_pg_cron()
RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_cron') THEN
        IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_cron') THEN
            RETURN 'pg_cron is not installed on this server: no schedules';
        END IF;
        BEGIN
            -- fails unless pg_cron is preloaded and this is its cron.database_name: caught, no schedules
            CREATE EXTENSION IF NOT EXISTS pg_cron;
        EXCEPTION WHEN OTHERS THEN
            RETURN 'pg_cron cannot be enabled in this database (' || SQLERRM || '): no schedules';
        END;
    END IF;
    -- cron.schedule() with a job name replaces that job's schedule and command: safe to re-run.
    PERFORM cron.schedule('cleanup-old-drafts-hourly', '0 * * * *',
                          $cmd$CALL public.cleanup_expired_drafts('pg_cron')$cmd$);
    PERFORM cron.schedule('prune-cleanup-history-daily', '30 3 * * *',
                          $cmd$SELECT public.prune_cron_history(interval '7 days'), public.prune_cleanup_runs(interval '30 days')$cmd$);
    PERFORM public.create_cleanup_job_monitoring_view();  -- now with pg_cron's own run history
    RETURN 'scheduled cleanup-old-drafts-hourly and prune-cleanup-history-daily';
END
$$;

REVOKE ALL ON FUNCTION public.draft_cleanup_setup_pg_cron() FROM PUBLIC;
DO $$
BEGIN  -- Supabase grants new functions to its API roles explicitly, beside PUBLIC
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        REVOKE ALL ON FUNCTION public.draft_cleanup_setup_pg_cron() FROM anon;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        REVOKE ALL ON FUNCTION public.draft_cleanup_setup_pg_cron() FROM authenticated;
    END IF;
END
$$;

SELECT public.draft_cleanup_setup_pg_cron();
