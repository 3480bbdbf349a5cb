-- The durable purge queue (DESIGN.md rule 4, the model of GitLab's loose foreign keys).
--
-- Whoever deletes a course (the purge API, the hourly cleanup, a DELETE typed in the SQL console),
-- the same transaction records here what the purge of its other stores needs, and removes its
-- rag_context_cache rows (that table has no foreign key). The purge worker
-- (functions/shared/purge) then removes its Qdrant points, Redis keys and files, step by step.
--
-- Who and why: a deleting transaction may say `SELECT set_config('app.purge_reason', 'api', true)`
-- (and 'app.purge_requested_by' = a user id); without it the reason is 'sql'.
-- Safe to re-run, safe on production (the tables it touches exist there).

CREATE TABLE IF NOT EXISTS purge_queue (
    course_id       uuid PRIMARY KEY,
    organization_id uuid,
    owner_id        uuid,                          -- courses.user_id: may read the purge status
    material_ids    uuid[] NOT NULL DEFAULT '{}',  -- captured before the cascade removed them
    reason          text NOT NULL DEFAULT 'sql',   -- api | draft_expired | orphan | sql ...
    requested_by    uuid,
    deleted_at      timestamptz NOT NULL DEFAULT now(),
    status          text NOT NULL DEFAULT 'pending',
    steps           jsonb NOT NULL DEFAULT '{}',   -- {"qdrant": {"done": true, "count": 3}, ...}
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claim_token     uuid,                          -- the worker run that holds the entry
    locked_until    timestamptz,                   -- a 'running' entry past this is released
    purged_at       timestamptz,
    result          jsonb NOT NULL DEFAULT '{}',   -- the CourseCleanupResult counts so far
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT purge_queue_status_check CHECK (status IN ('pending', 'running', 'purged'))
);

-- The worker's claim (due entries) and the queue depth both read only unfinished entries.
CREATE INDEX IF NOT EXISTS purge_queue_due_idx ON purge_queue (next_attempt_at) WHERE status <> 'purged';
-- Purged entries are kept a while (GET .../purge, already_purged), then pruned oldest first.
CREATE INDEX IF NOT EXISTS purge_queue_purged_idx ON purge_queue (purged_at) WHERE status = 'purged';

-- Not for the Data API: the functions connect as the table owner, the front end never reads it.
ALTER TABLE purge_queue ENABLE ROW LEVEL SECURITY;

COMMENT ON TABLE purge_queue IS
    'Courses deleted but not yet purged from Qdrant, Redis and storage; written by trigger, drained by functions/shared/purge';

-- A uuid from a transaction setting, or NULL: a malformed setting must never fail a delete.
CREATE OR REPLACE FUNCTION purge_queue_setting_uuid(name text) RETURNS uuid
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN s ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN s::uuid END
    FROM (SELECT current_setting(name, true) AS s) AS setting
$$;

-- Materials cascade-delete with their course, so their ids are captured here, row by row (the
-- statement trigger on courses cannot see them; the two triggers may fire in either order, and
-- both merge into the same entry). Only materials of a course that is gone count: deleting one
-- material of a live course queues nothing. Drafts (most bulk deletes) have no materials, so this
-- costs nothing there.
CREATE OR REPLACE FUNCTION purge_queue_capture_material() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF OLD.course_id IS NULL OR EXISTS (SELECT 1 FROM courses WHERE id = OLD.course_id) THEN
        RETURN NULL;
    END IF;
    INSERT INTO purge_queue AS q (course_id, material_ids, result)
    VALUES (OLD.course_id, ARRAY[OLD.id], '{"databaseRowsDeleted": 1}')
    ON CONFLICT (course_id) DO UPDATE SET
        -- A purged entry of the same id is history: this deletion starts a fresh one.
        material_ids = CASE WHEN q.status = 'purged' THEN ARRAY[OLD.id]
                            ELSE array_append(array_remove(q.material_ids, OLD.id), OLD.id) END,
        steps        = CASE WHEN q.status = 'purged' THEN '{}'::jsonb ELSE q.steps END,
        result       = CASE WHEN q.status = 'purged' THEN excluded.result
                            ELSE q.result || jsonb_build_object('databaseRowsDeleted',
                                coalesce((q.result->>'databaseRowsDeleted')::bigint, 0) + 1) END,
        attempts     = CASE WHEN q.status = 'purged' THEN 0 ELSE q.attempts END,
        purged_at    = NULL,
        status       = 'pending',
        updated_at   = now();
    RETURN NULL;
END
$$;

-- One statement-level trigger with a transition table: a set-based delete of thousands of courses
-- is one INSERT ... SELECT and one DELETE of cache rows, not thousands of row triggers.
CREATE OR REPLACE FUNCTION purge_queue_enqueue_courses() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    why text := coalesce(nullif(current_setting('app.purge_reason', true), ''), 'sql');
    who uuid := purge_queue_setting_uuid('app.purge_requested_by');
BEGIN
    WITH rag AS (
        DELETE FROM rag_context_cache r USING gone g WHERE r.course_id = g.id RETURNING r.course_id
    ), rag_counts AS (
        SELECT course_id, count(*) AS n FROM rag GROUP BY course_id
    )
    INSERT INTO purge_queue AS q (course_id, organization_id, owner_id, reason, requested_by, deleted_at, result)
    SELECT g.id, g.organization_id, g.user_id, why, who, now(),
           jsonb_build_object('ragContextEntriesDeleted', coalesce(c.n, 0), 'databaseRowsDeleted', 1)
    FROM gone g LEFT JOIN rag_counts c ON c.course_id = g.id
    ON CONFLICT (course_id) DO UPDATE SET
        organization_id = excluded.organization_id,
        owner_id        = excluded.owner_id,
        reason          = excluded.reason,
        requested_by    = excluded.requested_by,
        deleted_at      = excluded.deleted_at,
        -- Materials captured by this transaction made the entry 'pending'; a 'purged' one is history.
        material_ids    = CASE WHEN q.status = 'purged' THEN '{}'::uuid[] ELSE q.material_ids END,
        attempts        = CASE WHEN q.status = 'purged' THEN 0 ELSE q.attempts END,
        result          = CASE WHEN q.status = 'purged' THEN excluded.result
                               ELSE q.result || jsonb_build_object(
                                   'ragContextEntriesDeleted',
                                   coalesce((q.result->>'ragContextEntriesDeleted')::bigint, 0)
                                       + (excluded.result->>'ragContextEntriesDeleted')::bigint,
                                   'databaseRowsDeleted',
                                   -- the course row, beside its materials counted above
                                   coalesce((q.result->>'databaseRowsDeleted')::bigint, 0) + 1) END,
        -- Every step runs again (they are idempotent): a course with this id may have new data.
        steps           = '{}'::jsonb,
        status          = 'pending',
        last_error      = NULL,
        next_attempt_at = now(),
        claim_token     = NULL,
        locked_until    = NULL,
        purged_at       = NULL,
        updated_at      = now();
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS purge_queue_capture_material ON materials;
CREATE TRIGGER purge_queue_capture_material
    AFTER DELETE ON materials
    FOR EACH ROW EXECUTE FUNCTION purge_queue_capture_material();

DROP TRIGGER IF EXISTS purge_queue_enqueue_courses ON courses;
CREATE TRIGGER purge_queue_enqueue_courses
    AFTER DELETE ON courses
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION purge_queue_enqueue_courses();
