-- Exactly-once materialization: a draft session becomes at most one course.
-- INSERT ... ON CONFLICT (draft_session_id) relies on this unique constraint. NULLs are distinct,
-- so every course created before draft sessions (draft_session_id IS NULL) is unaffected.
ALTER TABLE courses ADD COLUMN IF NOT EXISTS draft_session_id uuid;

DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint
        WHERE conname = 'courses_draft_session_id_key' AND conrelid = 'courses'::regclass
    ) THEN
        ALTER TABLE courses ADD CONSTRAINT courses_draft_session_id_key UNIQUE (draft_session_id);
    END IF;
END
$$;

COMMENT ON COLUMN courses.draft_session_id IS
    'Draft session (Redis) this course was materialized from; unique, so a session yields one course';
