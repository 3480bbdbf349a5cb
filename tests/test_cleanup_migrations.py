"""The cleanup's migrations: the index it relies on, and a Postgres without pg_cron.

A second throwaway cluster, started without pg_cron, stands for a production database where the
extension is missing (or cannot be enabled in this database): every migration must apply there,
and leave out only the schedules.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import psycopg
import pytest

from devtools import localstores, migrate

INDEX = "idx_courses_unused_drafts_created_at"
MINE = ("0005", "0006", "0007", "0008", "0009")


@pytest.fixture(scope="module")
def plain_pg():
    """A Postgres without pg_cron preloaded (the extension's package is installed: enabling it fails)."""
    root = Path(tempfile.mkdtemp(prefix="cleanup-no-cron-"))
    os.chmod(root, 0o755)
    server = localstores.LocalPostgres(root / "pg", with_pg_cron=False).start()
    with psycopg.connect(server.url, autocommit=True) as conn:  # Supabase's API roles and grants, to check ours
        conn.execute("CREATE ROLE anon NOLOGIN")
        conn.execute("CREATE ROLE authenticated NOLOGIN")
        for kind in ("TABLES", "FUNCTIONS"):  # as Supabase does: every new object is offered to the Data API
            conn.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON {kind} TO anon, authenticated")
    applied = migrate.apply(server.url, with_baseline=True, log=lambda *_: None)
    yield server, applied
    server.stop("immediate")
    import shutil

    shutil.rmtree(root, ignore_errors=True)


def _objects(url: str) -> dict[str, set[str]]:
    with psycopg.connect(url) as conn:
        return {
            "relations": {f"{r[0]}:{r[1]}" for r in conn.execute(
                "SELECT relkind, relname FROM pg_class WHERE relnamespace = 'public'::regnamespace")},
            "routines": {r[0] for r in conn.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace")},
            "extensions": {r[0] for r in conn.execute("SELECT extname FROM pg_extension")},
        }


def test_every_migration_applies_without_pg_cron_and_only_the_schedules_are_missing(plain_pg, pg_server):
    server, applied = plain_pg
    assert [v for v in applied if v[:4] in MINE] == [
        "0005_draft_cleanup_index", "0006_draft_cleanup_runs_and_batches", "0007_draft_cleanup_monitoring",
        "0008_draft_cleanup_schedules", "0009_drop_spec_composite_draft_index"]
    plain, with_cron = _objects(server.url), _objects(pg_server.url)
    assert "pg_cron" in with_cron["extensions"] and "pg_cron" not in plain["extensions"]
    assert plain["relations"] == with_cron["relations"]
    assert plain["routines"] == with_cron["routines"]
    with psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT to_regnamespace('cron')").fetchone()[0] is None
        reason = conn.execute("SELECT public.draft_cleanup_setup_pg_cron()").fetchone()[0]
    assert "no schedules" in reason
    assert migrate.apply(server.url, with_baseline=True, log=lambda *_: None) == []


def test_without_pg_cron_the_procedure_the_view_and_health_still_work(plain_pg):
    server, _ = plain_pg
    with psycopg.connect(server.url, autocommit=True) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('o') RETURNING id").fetchone()[0]
        conn.execute("""INSERT INTO courses (organization_id, user_id, title, slug, created_at)
                        SELECT %s, gen_random_uuid(), 't', 'p-' || i, now() - interval '30 hours'
                        FROM generate_series(1, 25) i""", (org,))
        conn.execute("CALL public.cleanup_expired_drafts('manual', interval '24 hours', 10)")
        assert conn.execute("SELECT count(*) FROM courses").fetchone()[0] == 0
        assert conn.execute("SELECT source, status, deleted, batches FROM cleanup_job_monitoring").fetchall() == [
            ("manual", "succeeded", 25, 3)]
        health = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT indicator, value, status FROM draft_cleanup_health()")}
        assert health["cleanup_job_gap_hours"] == (0, "healthy")
        assert health["purge_queue_depth"] == (25, "warning")  # queued by the trigger; the function drains them
        conn.execute("TRUNCATE cleanup_runs, purge_queue, courses, organizations CASCADE")


def test_the_api_roles_of_supabase_can_neither_run_nor_read_the_cleanup(plain_pg):
    server, _ = plain_pg
    with psycopg.connect(server.url) as conn:
        for role in ("anon", "authenticated"):
            for fn in ("delete_expired_drafts_batch(timestamptz, integer)", "count_expired_drafts(timestamptz)",
                       "draft_cleanup_health(interval)", "check_pending_cleanup(interval)",
                       "cleanup_expired_drafts(text, interval, integer, interval)", "draft_cleanup_setup_pg_cron()",
                       "prune_cron_history(interval)", "cleanup_run_begin(text, timestamptz)"):
                assert not conn.execute("SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, fn)).fetchone()[0], \
                    f"{role} may execute {fn}"
            for rel in ("cleanup_runs", "cleanup_job_monitoring"):
                assert not conn.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (role, rel)).fetchone()[0]
        assert conn.execute("SELECT relrowsecurity FROM pg_class WHERE relname = 'cleanup_runs'").fetchone()[0]


def test_an_invalid_index_left_by_an_interrupted_build_stops_the_migrations(plain_pg):
    """CREATE INDEX CONCURRENTLY IF NOT EXISTS accepts an invalid leftover; 0006 must not."""
    server, _ = plain_pg
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS interrupted")
        conn.execute("CREATE DATABASE interrupted")
    url = server.url.rsplit("/", 1)[0] + "/interrupted"
    with psycopg.connect(url, autocommit=True) as conn:
        for path in migrate._files(with_baseline=True):
            if path.name.startswith("0006"):
                break
            conn.execute(path.read_text())
        conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", (INDEX,))
        with pytest.raises(psycopg.errors.RaiseException, match="INVALID") as err:
            conn.execute(migrate.MIGRATIONS.joinpath("0006_draft_cleanup_runs_and_batches.sql").read_text())
        assert "DROP INDEX CONCURRENTLY" in (err.value.diag.message_hint or "")


def test_the_cleanup_index_is_partial_and_read_in_created_at_order(db):
    definition, valid = db.execute(
        "SELECT pg_get_indexdef(c.oid), i.indisvalid FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
        "WHERE c.relname = %s", (INDEX,)).fetchone()
    assert valid
    assert "(created_at)" in definition
    assert "status = 'draft'" in definition and "generation_status IS NULL" in definition
    with db.transaction():
        # On an empty test table any plan is cheap; forbid the others to see what this index offers.
        db.execute("SET LOCAL enable_seqscan = off")
        db.execute("SET LOCAL enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in db.execute(
            """EXPLAIN SELECT id FROM courses
               WHERE status = 'draft' AND generation_status IS NULL AND created_at < now() - interval '24 hours'
               ORDER BY created_at LIMIT 1000 FOR UPDATE SKIP LOCKED"""))
    assert f"Index Scan using {INDEX}" in plan
    assert "Sort" not in plan, f"the batch sorts its candidates:\n{plan}"


def test_the_specs_composite_index_is_dropped_if_an_earlier_rollout_made_it(db):
    db.execute("CREATE INDEX IF NOT EXISTS idx_courses_draft_cleanup ON courses (status, generation_status, created_at) "
               "WHERE status = 'draft' AND generation_status IS NULL")
    db.execute(migrate.MIGRATIONS.joinpath("0009_drop_spec_composite_draft_index.sql").read_text())
    assert db.execute("SELECT to_regclass('idx_courses_draft_cleanup')").fetchone()[0] is None
    assert db.execute("SELECT to_regclass(%s)", (INDEX,)).fetchone()[0] is not None


def test_the_setup_of_the_schedules_is_safe_to_run_again(db):
    jobs = "SELECT jobname, schedule, command, active FROM cron.job ORDER BY jobname"
    before = db.execute(jobs).fetchall()
    db.execute("SELECT public.draft_cleanup_setup_pg_cron()")
    after = db.execute(jobs).fetchall()
    assert after == before
    assert [r[0] for r in after].count("cleanup-old-drafts-hourly") == 1


def test_every_monitoring_query_runs_without_pg_cron(plain_pg):
    from tests.test_monitoring_queries import QUERY

    server, _ = plain_pg
    with psycopg.connect(server.url) as conn:
        for name, sql in QUERY.items():
            conn.execute(sql).fetchall()
            conn.rollback()
