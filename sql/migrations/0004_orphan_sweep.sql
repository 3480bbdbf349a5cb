-- The orphan sweep (functions/shared/purge/orphans.py): data in Qdrant, storage, Redis and
-- rag_context_cache whose course id has no `courses` row, left by courses deleted before the purge
-- queue existed, or written late by a job that finished after its course was purged.
--
-- orphan_candidates  every absent course id a sweep has seen, and since when: an id is an orphan
--                    only once it has been absent for the grace period (ORPHAN_GRACE_SECONDS), so
--                    a course created while a sweep runs (its data seen before its row) is never one
-- orphan_sweeps      the hourly job's cursor (one bounded slice per run, resumed the next hour)
-- orphan_findings    what each pass of the hourly sweep found; health reads the last complete pass
-- Safe to re-run.

CREATE TABLE IF NOT EXISTS orphan_candidates (
    course_id     uuid PRIMARY KEY,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orphan_sweeps (
    name               text PRIMARY KEY,            -- 'hourly'
    pass               integer NOT NULL DEFAULT 1,  -- the pass in progress
    cursor             text,                        -- where it stopped (NULL: the pass starts over)
    pass_started_at    timestamptz NOT NULL DEFAULT now(),
    last_complete_pass integer,
    last_completed_at  timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS orphan_findings (
    sweep     text NOT NULL,
    pass      integer NOT NULL,
    store     text NOT NULL,                        -- qdrant | redis | files | rag
    course_id uuid NOT NULL,
    items     bigint NOT NULL DEFAULT 0,            -- points, keys, files or rows
    bytes     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (sweep, pass, store, course_id)
);

-- Not for the Data API: only the functions (the table owner) read and write these.
ALTER TABLE orphan_candidates ENABLE ROW LEVEL SECURITY;
ALTER TABLE orphan_sweeps ENABLE ROW LEVEL SECURITY;
ALTER TABLE orphan_findings ENABLE ROW LEVEL SECURITY;

COMMENT ON TABLE orphan_candidates IS
    'Course ids seen in a store without a courses row, and since when (the orphan sweep''s grace period)';
COMMENT ON TABLE orphan_findings IS
    'Orphans found per pass of the hourly orphan sweep; health reports the last complete pass';
