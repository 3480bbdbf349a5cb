-- Draft cleanup monitoring queries: the monitoring guide's queries 1-5 and its alert queries
-- (seeds/002, docs/MONITORING.md), written against this schema and runnable as they are, in psql,
-- the Supabase SQL editor or a Grafana/Metabase panel. Each starts with a `-- name:` line.
--
-- Where the guide's own SQL does not run, it is fixed here: an alias cannot be used in HAVING,
-- cron.job has no last_run column (run history is in cron.job_run_details, merged with the
-- scheduled function's runs in the cleanup_job_monitoring view), and the guide's `created_by`
-- is `user_id`. "Unused draft" = status 'draft' AND generation_status IS NULL, the predicate of
-- the cleanup (which deletes those created more than 24 hours ago).


-- name: q1_current_state
-- Query 1, current system state (every 5 minutes, gauge). Healthy: pollution < 10 %.
SELECT count(*)                                        AS total_drafts,
       count(*) FILTER (WHERE generation_status IS NULL)     AS unused_drafts,
       count(*) FILTER (WHERE generation_status IS NOT NULL) AS active_drafts,
       coalesce(round(100.0 * count(*) FILTER (WHERE generation_status IS NULL)
                      / nullif(count(*), 0), 2), 0)    AS pollution_percentage
FROM courses
WHERE status = 'draft';


-- name: q2_age_buckets
-- Query 2, unused drafts by age (every 15 minutes, bar chart). The '> 24h' bucket should be 0:
-- those are what the hourly cleanup deletes. Every bucket is listed, empty ones with 0.
SELECT b.age_bucket,
       count(c.id) AS drafts
FROM (VALUES (1, '< 1h',  interval '0 hours', interval '1 hour'),
             (2, '1-6h',  interval '1 hour',  interval '6 hours'),
             (3, '6-24h', interval '6 hours', interval '24 hours'),
             (4, '> 24h', interval '24 hours', NULL::interval)) AS b (ord, age_bucket, min_age, max_age)
LEFT JOIN courses c
       ON c.status = 'draft' AND c.generation_status IS NULL
      AND c.created_at <= now() - b.min_age
      AND (b.max_age IS NULL OR c.created_at > now() - b.max_age)
GROUP BY b.ord, b.age_bucket
ORDER BY b.ord;


-- name: q3_job_health
-- Query 3, cleanup job health (every 5 minutes): the last run of any source (pg_cron, the
-- scheduled function, an admin), the last success, pg_cron's next run (the EventBridge schedule,
-- rate(1 hour), fires at a minute of its own) and the gap.
-- Warning: hours_since_last_run > 1.5 (the guide's query 3; the health endpoint warns from 1);
-- critical > 2. NULL: no successful run recorded yet.
WITH last_run AS (
    SELECT * FROM cleanup_job_monitoring ORDER BY start_time DESC LIMIT 1
), last_success AS (
    SELECT max(end_time) AS at FROM cleanup_job_monitoring WHERE status = 'succeeded'
)
SELECT r.source                                   AS last_source,
       r.jobname,
       r.status                                   AS last_status,
       r.return_message                           AS last_message,
       r.start_time                               AS last_run,
       r.deleted                                  AS last_deleted,
       s.at                                       AS last_success,
       date_trunc('hour', now()) + interval '1 hour' AS next_run,  -- pg_cron's '0 * * * *'
       round((extract(epoch FROM now() - s.at) / 3600)::numeric, 2) AS hours_since_last_run
FROM last_success s
LEFT JOIN last_run r ON true;


-- name: q3_last_run_from_view
-- The guide's "using the existing view" form of query 3.
SELECT jobname,
       schedule,
       active,
       status,
       return_message,
       start_time,
       end_time,
       round((extract(epoch FROM now() - end_time) / 3600)::numeric, 2) AS hours_since_completion
FROM cleanup_job_monitoring
ORDER BY start_time DESC
LIMIT 1;


-- name: q4_drafts_by_organization
-- Query 4, drafts by organization, top 10 (hourly, table). Critical: one organization with
-- more than 100 unused drafts (possible abuse).
SELECT c.organization_id,
       o.name                                                  AS organization_name,
       count(*)                                                AS total_drafts,
       count(*) FILTER (WHERE c.generation_status IS NULL)     AS unused_drafts,
       count(*) FILTER (WHERE c.generation_status IS NULL
                          AND c.created_at < now() - interval '24 hours') AS pending_cleanup,
       min(c.created_at) FILTER (WHERE c.generation_status IS NULL)       AS oldest_unused
FROM courses c
LEFT JOIN organizations o ON o.id = c.organization_id
WHERE c.status = 'draft'
GROUP BY c.organization_id, o.name
ORDER BY unused_drafts DESC, total_drafts DESC, c.organization_id
LIMIT 10;


-- name: q5_daily_creation_rate
-- Query 5, daily draft creation over 30 days (daily, time series); one row per day, oldest
-- last. Every course row starts as a draft, so drafts_created counts all courses created that
-- day; used = its generation started (or it left 'draft'); abandoned = still unused. Abandoned
-- drafts are deleted after 24 hours, so for older days `drafts_abandoned` shows only what the
-- cleanup missed; `cleaned_up` is what the cleanup runs of that day deleted.
-- Targets: usage_rate > 80 %, abandonment_rate < 20 %, fewer than 20 drafts a day.
WITH days AS (
    SELECT generate_series(date_trunc('day', now()) - interval '29 days', date_trunc('day', now()),
                           interval '1 day') AS day
), created AS (
    SELECT date_trunc('day', created_at) AS day,
           count(*) AS drafts_created,
           count(*) FILTER (WHERE status <> 'draft' OR generation_status IS NOT NULL) AS drafts_used,
           count(*) FILTER (WHERE status = 'draft' AND generation_status IS NULL)     AS drafts_abandoned
    FROM courses
    WHERE created_at >= date_trunc('day', now()) - interval '29 days'
    GROUP BY 1
), cleaned AS (
    SELECT date_trunc('day', started_at) AS day, sum(deleted) AS cleaned_up
    FROM cleanup_runs
    WHERE started_at >= date_trunc('day', now()) - interval '29 days'
    GROUP BY 1
)
SELECT d.day::date                                       AS day,
       coalesce(c.drafts_created, 0)                     AS drafts_created,
       coalesce(c.drafts_used, 0)                        AS drafts_used,
       coalesce(c.drafts_abandoned, 0)                   AS drafts_abandoned,
       round(100.0 * c.drafts_used / nullif(c.drafts_created, 0), 2)      AS usage_rate,
       round(100.0 * c.drafts_abandoned / nullif(c.drafts_created, 0), 2) AS abandonment_rate,
       coalesce(k.cleaned_up, 0)                         AS cleaned_up
FROM days d
LEFT JOIN created c ON c.day = d.day
LEFT JOIN cleaned k ON k.day = d.day
ORDER BY d.day DESC;


-- name: cleanup_effectiveness_report
-- The guide's cleanup effectiveness report (weekly review), over every source of runs rather
-- than cron.job_run_details alone. Targets: success rate > 99 %, average < 5 s, 24 runs a day.
SELECT start_time::date                                            AS execution_date,
       count(*)                                                    AS executions_count,
       round(avg(extract(epoch FROM (end_time - start_time)))::numeric, 3) AS avg_duration_seconds,
       count(*) FILTER (WHERE status = 'succeeded')                AS successful_runs,
       count(*) FILTER (WHERE status = 'failed')                   AS failed_runs,
       sum(deleted)                                                AS drafts_deleted,
       round(100.0 * count(*) FILTER (WHERE status = 'succeeded') / nullif(count(*), 0), 2) AS success_rate
FROM cleanup_job_monitoring
WHERE start_time > now() - interval '30 days'
GROUP BY start_time::date
ORDER BY execution_date DESC;


-- ---------------------------------------------------------------------------------------------
-- Alert queries: each returns a row only when its alert fires.
-- ---------------------------------------------------------------------------------------------

-- name: alert_high_pollution
-- Alerts "High Pollution Rate" (> 30 %, MEDIUM, 4 h) and "Critical Pollution" (> 50 %, HIGH, 1 h).
SELECT pollution_percentage,
       CASE WHEN pollution_percentage > 50 THEN 'HIGH' ELSE 'MEDIUM' END AS severity
FROM (
    SELECT round(100.0 * count(*) FILTER (WHERE generation_status IS NULL) / nullif(count(*), 0), 2)
               AS pollution_percentage
    FROM courses
    WHERE status = 'draft'
) s
WHERE pollution_percentage > 30;


-- name: alert_cleanup_job_stalled
-- Alert 2 "Cleanup Job Stalled" (HIGH, 30 min): no successful run, of any source, for over 2 hours
-- (also fires while no run at all has been recorded).
SELECT last_success,
       hours_since_last_run
FROM (
    SELECT max(end_time) AS last_success,
           round((extract(epoch FROM now() - max(end_time)) / 3600)::numeric, 2) AS hours_since_last_run
    FROM cleanup_job_monitoring
    WHERE status = 'succeeded'
) s
WHERE last_success IS NULL OR hours_since_last_run > 2;


-- name: alert_cleanup_job_failures
-- "Cleanup Job Failures" (HIGH, 30 min): the 3 or more latest finished runs all failed.
SELECT count(*)        AS consecutive_failures,
       min(start_time) AS failing_since
FROM (
    SELECT status, start_time,
           count(*) FILTER (WHERE status <> 'failed') OVER (ORDER BY start_time DESC) AS successes_after
    FROM cleanup_job_monitoring
    WHERE status <> 'running'
) r
WHERE successes_after = 0
HAVING count(*) >= 3;


-- name: alert_old_drafts_pending
-- "Old Drafts Pending" (MEDIUM, 2 h): the '> 24h' bucket has more than 20 unused drafts
-- (more than 5: warning).
SELECT old_drafts,
       CASE WHEN old_drafts > 20 THEN 'MEDIUM' ELSE 'WARNING' END AS severity
FROM (
    SELECT count(*) AS old_drafts
    FROM courses
    WHERE status = 'draft' AND generation_status IS NULL AND created_at <= now() - interval '24 hours'
) s
WHERE old_drafts > 5;


-- name: alert_traffic_spike
-- Alert 3 "Unusual Traffic Spike" (MEDIUM, 1 h): more than 100 drafts created in the last hour.
SELECT created_last_hour
FROM (
    SELECT count(*) AS created_last_hour
    FROM courses
    WHERE status = 'draft' AND created_at > now() - interval '1 hour'
) s
WHERE created_last_hour > 100;


-- name: alert_traffic_spike_organizations
-- Alert 3, action 1: which organizations created the drafts of the last hour.
SELECT o.name,
       c.organization_id,
       count(*) AS drafts_last_hour
FROM courses c
LEFT JOIN organizations o ON o.id = c.organization_id
WHERE c.status = 'draft' AND c.created_at > now() - interval '1 hour'
GROUP BY c.organization_id, o.name
ORDER BY drafts_last_hour DESC
LIMIT 10;


-- name: alert_traffic_spike_users
-- Alert 3, action 2: users who created more than 20 drafts in the last hour.
SELECT user_id,
       count(*)                        AS drafts_created,
       count(DISTINCT organization_id) AS orgs_count
FROM courses
WHERE status = 'draft' AND created_at > now() - interval '1 hour'
GROUP BY user_id
HAVING count(*) > 20
ORDER BY drafts_created DESC;


-- name: alert_organization_abuse
-- Query 4's alert (CRITICAL): one organization holds more than 100 unused drafts.
SELECT c.organization_id,
       o.name,
       count(*) AS unused_drafts
FROM courses c
LEFT JOIN organizations o ON o.id = c.organization_id
WHERE c.status = 'draft' AND c.generation_status IS NULL
GROUP BY c.organization_id, o.name
HAVING count(*) > 100
ORDER BY unused_drafts DESC;
