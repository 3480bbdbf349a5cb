-- Monitoring of the draft cleanup (seeds/002, the monitoring guide; docs/MONITORING.md):
--   cleanup_job_monitoring       every run, pg_cron's and cleanup_runs' alike, one row each
--   check_pending_cleanup()      what the next run would delete, with the guide's status
--   draft_cleanup_health()       each indicator with its healthy / warning / critical status
--
-- The view reads cron.* only where pg_cron exists, so it is (re)built by a function:
-- draft_cleanup_setup_pg_cron() (0008) calls it again once the extension is there.

-- healthy below warn_from, critical above critical_above, warning in between (bounds included).
-- The guide's table: unused drafts < 10 / 10-20 / > 50, pollution < 10 % / 10-30 % / > 30 %,
-- job gap < 1 h / 1-2 h / > 2 h, pending cleanup < 5 / 5-20 / > 20. Its gap between 20 and 50
-- unused drafts is read as warning (critical starts where the guide says, above 50).
CREATE OR REPLACE FUNCTION public.cleanup_health_status(p_value numeric, p_warn_from numeric, p_critical_above numeric)
RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_value IS NULL THEN NULL
                WHEN p_value > p_critical_above THEN 'critical'
                WHEN p_value >= p_warn_from THEN 'warning'
                ELSE 'healthy' END
$$;

CREATE OR REPLACE FUNCTION public.create_cleanup_job_monitoring_view()
RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    -- cleanup_runs as the view shows them: a run left 'running' for over an hour died.
    v_runs text := $q$
        SELECT r.source,
               CASE r.source WHEN 'pg_cron' THEN 'cleanup-old-drafts-hourly'
                             ELSE 'cleanup-drafts-' || r.source END::text AS jobname,
               NULL::text AS schedule,
               NULL::boolean AS active,
               CASE WHEN r.status = 'running' AND r.started_at < now() - interval '1 hour' THEN 'failed'
                    ELSE r.status END::text AS status,
               r.error AS return_message,
               r.started_at AS start_time,
               r.finished_at AS end_time,
               r.deleted, r.batches, r.cutoff, r.complete,
               r.id AS run_id,
               NULL::bigint AS cron_runid
        FROM public.cleanup_runs r
    $q$;
    v_sql text;
    v_with_cron boolean := to_regclass('cron.job_run_details') IS NOT NULL AND to_regclass('cron.job') IS NOT NULL;
BEGIN
    IF v_with_cron THEN
        -- A pg_cron run appears once: pg_cron's row (status, timing, error) with the deletion counts of
        -- the cleanup_runs row the procedure wrote during it (same server clock, so it starts inside).
        v_sql := $q$
        SELECT 'pg_cron'::text AS source,
               j.jobname::text COLLATE "default" AS jobname,  -- a `name` (collation C) in pg_cron
               j.schedule::text AS schedule,
               j.active,
               CASE WHEN d.status = 'failed' OR r.status = 'failed' THEN 'failed'
                    WHEN d.status = 'succeeded' THEN 'succeeded'
                    ELSE 'running' END::text AS status,
               coalesce(r.error, d.return_message)::text AS return_message,
               d.start_time, d.end_time,
               r.deleted, r.batches, r.cutoff, r.complete,
               r.id AS run_id,
               d.runid::bigint AS cron_runid
        FROM cron.job j
        JOIN cron.job_run_details d ON d.jobid = j.jobid
        LEFT JOIN LATERAL (
            SELECT * FROM public.cleanup_runs r
            WHERE r.source = 'pg_cron' AND r.started_at >= d.start_time
              AND (d.end_time IS NULL OR r.started_at <= d.end_time)
            ORDER BY r.started_at LIMIT 1
        ) r ON true
        WHERE j.jobname = 'cleanup-old-drafts-hourly'
        UNION ALL
        SELECT * FROM ($q$ || v_runs || $q$) runs
        WHERE NOT (runs.source = 'pg_cron' AND EXISTS (
            SELECT 1 FROM cron.job j JOIN cron.job_run_details d ON d.jobid = j.jobid
            WHERE j.jobname = 'cleanup-old-drafts-hourly' AND runs.start_time >= d.start_time
              AND (d.end_time IS NULL OR runs.start_time <= d.end_time)))
        $q$;
    ELSE
        v_sql := v_runs;
    END IF;
    -- Same columns either way, so CREATE OR REPLACE works when pg_cron arrives later.
    EXECUTE 'CREATE OR REPLACE VIEW public.cleanup_job_monitoring AS ' || v_sql;
    IF current_setting('server_version_num')::int >= 150000 THEN
        -- the reader's own rights apply (cron.* and cleanup_runs), not the view owner's
        EXECUTE 'ALTER VIEW public.cleanup_job_monitoring SET (security_invoker = true)';
    END IF;
    EXECUTE 'REVOKE ALL ON public.cleanup_job_monitoring FROM PUBLIC';
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
        EXECUTE 'REVOKE ALL ON public.cleanup_job_monitoring FROM anon';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
        EXECUTE 'REVOKE ALL ON public.cleanup_job_monitoring FROM authenticated';
    END IF;
    COMMENT ON VIEW public.cleanup_job_monitoring IS
        'Every draft cleanup run: pg_cron''s (cron.job_run_details joined to its cleanup_runs row) and '
        'the scheduled function''s, admins'' and manual ones (cleanup_runs); newest first by start_time';
    RETURN CASE WHEN v_with_cron THEN 'with pg_cron runs' ELSE 'cleanup_runs only (no pg_cron)' END;
END
$fn$;

SELECT public.create_cleanup_job_monitoring_view();

-- The guide's "manually check" function: what the next run would delete, and how it stands.
CREATE OR REPLACE FUNCTION public.check_pending_cleanup(p_max_age interval DEFAULT interval '24 hours')
RETURNS TABLE (pending_count bigint, oldest_created_at timestamptz, oldest_age_hours numeric,
               cutoff_time timestamptz, status text)
LANGUAGE sql STABLE AS $$
    SELECT count(*),
           min(c.created_at),
           round((extract(epoch FROM now() - min(c.created_at)) / 3600)::numeric, 2),
           now() - p_max_age,
           public.cleanup_health_status(count(*), 5, 20)
    FROM public.courses c
    WHERE c.status = 'draft' AND c.generation_status IS NULL AND c.created_at < now() - p_max_age
$$;

-- The indicators of GET /health that live in Postgres. The two others of the endpoint:
-- active draft sessions (Redis, computed by the function) and purge queue depth (here).
-- Job gap: hours since the last successful run of any source; NULL (warning) when none is recorded.
CREATE OR REPLACE FUNCTION public.draft_cleanup_health(p_max_age interval DEFAULT interval '24 hours')
RETURNS TABLE (indicator text, value numeric, status text, warn_from numeric, critical_above numeric)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_total   bigint;
    v_unused  bigint;
    v_pct     numeric;
    v_gap     numeric;
    v_pending bigint;
    v_queue   bigint;
BEGIN
    SELECT count(*) FILTER (WHERE c.status = 'draft'),
           count(*) FILTER (WHERE c.status = 'draft' AND c.generation_status IS NULL)
      INTO v_total, v_unused
      FROM public.courses c
     WHERE c.status = 'draft';
    v_pct := CASE WHEN v_total = 0 THEN 0 ELSE round(100.0 * v_unused / v_total, 2) END;
    SELECT round((extract(epoch FROM now() - max(m.end_time)) / 3600)::numeric, 2)
      INTO v_gap
      FROM public.cleanup_job_monitoring m
     WHERE m.status = 'succeeded';
    SELECT p.pending_count INTO v_pending FROM public.check_pending_cleanup(p_max_age) p;
    SELECT count(*) INTO v_queue FROM public.purge_queue q WHERE q.status <> 'purged';

    RETURN QUERY VALUES
        ('unused_drafts',          v_unused::numeric,  public.cleanup_health_status(v_unused, 10, 50),  10::numeric, 50::numeric),
        ('pollution_percent',      v_pct,              public.cleanup_health_status(v_pct, 10, 30),     10::numeric, 30::numeric),
        ('cleanup_job_gap_hours',  v_gap,              coalesce(public.cleanup_health_status(v_gap, 1, 2), 'warning'),
                                                                                                        1::numeric,  2::numeric),
        ('pending_cleanup',        v_pending::numeric, public.cleanup_health_status(v_pending, 5, 20),  5::numeric,  20::numeric),
        ('purge_queue_depth',      v_queue::numeric,   public.cleanup_health_status(v_queue, 20, 100),  20::numeric, 100::numeric);
END
$$;

DO $$
DECLARE
    r text;
BEGIN
    REVOKE ALL ON FUNCTION public.create_cleanup_job_monitoring_view() FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.check_pending_cleanup(interval) FROM PUBLIC;
    REVOKE ALL ON FUNCTION public.draft_cleanup_health(interval) FROM PUBLIC;
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('REVOKE ALL ON FUNCTION public.create_cleanup_job_monitoring_view(), '
                           'public.check_pending_cleanup(interval), public.draft_cleanup_health(interval) FROM %I', r);
        END IF;
    END LOOP;
END
$$;
