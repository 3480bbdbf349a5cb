"""The pg_cron procedure under a role-level statement_timeout (migration 0012): it ends in time, and a
run the timeout cancels anyway is recorded failed, never left 'running' (issue 13).

pg_cron runs `CALL public.cleanup_expired_drafts('pg_cron')` as the job's role; a statement_timeout
on that role bounds the whole CALL. These tests CALL it exactly so, as a role with a 1 s timeout.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.test_cleanup_drafts import add_courses, new_org, remaining_ids

ROLE = "cron_job_with_timeout"
CALL = "CALL public.cleanup_expired_drafts('pg_cron', interval '24 hours', 100)"


@pytest.fixture(scope="module")
def limited_url(pg_server):
    """A role whose sessions start with statement_timeout = 1 s, as a hosted database may set them."""
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE,)).fetchone():
            conn.execute(f"CREATE ROLE {ROLE} LOGIN SUPERUSER")
        conn.execute(f"ALTER ROLE {ROLE} SET statement_timeout = '1s'")
    parts = urlsplit(pg_server.url)
    return urlunsplit(parts._replace(netloc=f"{ROLE}@{parts.hostname}:{parts.port}"))


@pytest.fixture
def slow_delete(db):
    """Deleting the draft titled 'slow' takes 5 s: a batch slower than the time the role allows."""
    db.execute("""CREATE FUNCTION test_slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN PERFORM pg_sleep(5); RETURN OLD; END $$""")
    db.execute("""CREATE TRIGGER test_slow_delete BEFORE DELETE ON courses FOR EACH ROW
                  WHEN (OLD.title = 'slow') EXECUTE FUNCTION test_slow_delete()""")
    yield
    db.execute("DROP TRIGGER test_slow_delete ON courses")
    db.execute("DROP FUNCTION test_slow_delete()")


def last_run(db) -> dict:
    row = db.execute("SELECT status, complete, deleted, error, finished_at IS NOT NULL FROM cleanup_runs "
                     "ORDER BY id DESC LIMIT 1").fetchone()
    return dict(zip(("status", "complete", "deleted", "error", "finished"), row))


def test_the_roles_timeout_is_in_force_for_the_call(limited_url):
    with psycopg.connect(limited_url, autocommit=True) as conn:  # the scenario is real, not assumed
        assert conn.execute("SHOW statement_timeout").fetchone() == ("1s",)


def test_a_run_the_timeout_cancels_is_recorded_failed(db, limited_url, slow_delete):
    org = new_org(db)
    add_courses(db, org, 3, age_hours=30)
    db.execute("UPDATE courses SET title = 'slow' WHERE id = (SELECT id FROM courses LIMIT 1)")
    with psycopg.connect(limited_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.QueryCanceled):  # pg_cron records the job failed too
            conn.execute(CALL)
    run = last_run(db)
    assert (run["status"], run["complete"], run["finished"]) == ("failed", False, True), run
    assert "statement timeout" in run["error"]
    assert len(remaining_ids(db)) == 3  # the cancelled batch rolled back whole


def test_a_batch_kept_waiting_by_a_lock_ends_the_run_in_time_as_incomplete(db, pg_server, limited_url):
    org = new_org(db)
    ids = add_courses(db, org, 5, age_hours=30)
    section = db.execute("INSERT INTO sections (course_id) VALUES (%s) RETURNING id", (ids[0],)).fetchone()[0]
    blocker = psycopg.connect(pg_server.url)  # someone holds a row the batch's cascade must delete
    try:
        blocker.execute("SELECT 1 FROM sections WHERE id = %s FOR UPDATE", (section,))
        with psycopg.connect(limited_url, autocommit=True) as conn:
            conn.execute(CALL)  # returns: the run stopped before the role's timeout could cancel it
        run = last_run(db)
        assert (run["status"], run["complete"], run["deleted"], run["finished"]) == ("succeeded", False, 0, True), run
        assert remaining_ids(db) == set(ids)
    finally:
        blocker.rollback()
        blocker.close()
    with psycopg.connect(limited_url, autocommit=True) as conn:  # the next run goes on
        conn.execute(CALL)
    assert last_run(db)["status"] == "succeeded" and remaining_ids(db) == set()
