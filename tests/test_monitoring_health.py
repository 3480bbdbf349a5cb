"""GET /health and draft_cleanup_health(): each indicator at its threshold boundaries, with real
rows in Postgres and real session indexes in Redis (thresholds: docs/MONITORING.md)."""

from __future__ import annotations

import time
import uuid

import pytest

from functions.cleanup_drafts.app import handler
from tests.conftest import ADMIN_TOKEN, call
from tests.test_cleanup_drafts import add_courses, new_org


def get_health():
    reply = call(handler, "GET", "/health", token=ADMIN_TOKEN)
    assert reply.status == 200, reply
    return reply.json


def seed_unused(db, n):
    add_courses(db, new_org(db), n, age_hours=1)  # young: unused, not yet due for cleanup


def seed_pollution(db, n):
    unused, used = n
    org = new_org(db)
    add_courses(db, org, unused, age_hours=1)
    add_courses(db, org, used, age_hours=1, gen="generating")


def seed_gap(db, minutes):
    if minutes is not None:
        db.execute("""INSERT INTO cleanup_runs (source, cutoff, started_at, finished_at, status)
                      VALUES ('scheduler', now(), now() - make_interval(mins => %s),
                              now() - make_interval(mins => %s), 'succeeded')""", (minutes, minutes))
        # a later failure does not count as a run
        db.execute("INSERT INTO cleanup_runs (source, cutoff, started_at, finished_at, status) "
                   "VALUES ('http', now(), now(), now(), 'failed')")


def seed_pending(db, n):
    add_courses(db, new_org(db), n, age_hours=24.5)


def seed_queue(db, n):
    db.execute("INSERT INTO purge_queue (course_id, status) SELECT gen_random_uuid(), 'pending' FROM generate_series(1, %s)",
               (n,))
    db.execute("INSERT INTO purge_queue (course_id, status, purged_at) "
               "SELECT gen_random_uuid(), 'purged', now() FROM generate_series(1, 50)")  # done: not counted


def seed_sessions(rds, n):
    """n live sessions in the per-user indexes (as draft_session writes them), and expired ones."""
    future = int(time.time() * 1000) + 3_600_000
    users = [uuid.uuid4() for _ in range(n // 20 + 1)]
    pipe = rds.pipeline()
    for i in range(n):
        pipe.zadd(f"draft:index:{{{users[i % len(users)]}}}", {str(uuid.uuid4()): future})
    pipe.zadd(f"draft:index:{{{users[0]}}}", {str(uuid.uuid4()): 1000 for _ in range(30)})
    pipe.execute()


CASES = [
    ("unusedDrafts", seed_unused, 9, 9, "healthy"),
    ("unusedDrafts", seed_unused, 10, 10, "warning"),
    ("unusedDrafts", seed_unused, 50, 50, "warning"),
    ("unusedDrafts", seed_unused, 51, 51, "critical"),
    ("pollutionPercent", seed_pollution, (1, 10), 9.09, "healthy"),
    ("pollutionPercent", seed_pollution, (1, 9), 10, "warning"),
    ("pollutionPercent", seed_pollution, (3, 7), 30, "warning"),
    ("pollutionPercent", seed_pollution, (4, 9), 30.77, "critical"),
    ("pollutionPercent", seed_pollution, (0, 0), 0, "healthy"),
    ("cleanupJobGapHours", seed_gap, 59, 0.98, "healthy"),
    ("cleanupJobGapHours", seed_gap, 60, 1, "warning"),
    ("cleanupJobGapHours", seed_gap, 120, 2, "warning"),
    ("cleanupJobGapHours", seed_gap, 121, 2.02, "critical"),
    ("cleanupJobGapHours", seed_gap, None, None, "warning"),
    ("pendingCleanup", seed_pending, 4, 4, "healthy"),
    ("pendingCleanup", seed_pending, 5, 5, "warning"),
    ("pendingCleanup", seed_pending, 20, 20, "warning"),
    ("pendingCleanup", seed_pending, 21, 21, "critical"),
    ("purgeQueueDepth", seed_queue, 19, 19, "healthy"),
    ("purgeQueueDepth", seed_queue, 20, 20, "warning"),
    ("purgeQueueDepth", seed_queue, 100, 100, "warning"),
    ("purgeQueueDepth", seed_queue, 101, 101, "critical"),
]


@pytest.mark.parametrize("name, seed, amount, value, status", CASES,
                         ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_postgres_indicator_at_its_boundaries(db, name, seed, amount, value, status):
    seed(db, amount)
    indicator = get_health()["indicators"][name]
    assert indicator == {"value": value, "status": status}


@pytest.mark.parametrize("n, status", [(0, "healthy"), (200, "healthy"), (201, "warning"), (1000, "warning"),
                                       (1001, "critical")])
def test_active_draft_sessions_at_its_boundaries(rds, n, status):
    seed_sessions(rds, n)
    assert get_health()["indicators"]["activeDraftSessions"] == {"value": n, "status": status}


def test_live_sessions_made_by_draft_session_are_counted(make_user):
    from functions.draft_session.app import handler as draft_handler

    user = make_user()
    for _ in range(3):
        assert call(draft_handler, "POST", "/drafts", token=user.token).status == 201
    assert get_health()["indicators"]["activeDraftSessions"] == {"value": 3, "status": "healthy"}


def test_redis_down_makes_its_indicator_critical_and_keeps_the_others(db, settings_env):
    seed_gap(db, 5)
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")
    health = get_health()
    assert health["indicators"]["activeDraftSessions"] == {"value": None, "status": "critical"}
    assert health["indicators"]["cleanupJobGapHours"]["status"] == "healthy"
    assert health["status"] == "critical"


def test_overall_status_is_the_worst_indicator(db):
    seed_gap(db, 5)
    health = get_health()
    assert set(health["indicators"]) == {"unusedDrafts", "pollutionPercent", "cleanupJobGapHours", "pendingCleanup",
                                         "activeDraftSessions", "purgeQueueDepth", "orphanCourses"}
    assert health["status"] == "healthy"
    assert health["checkedAt"].endswith("Z")
    seed_pending(db, 5)  # also 5 unused drafts and 100 % pollution
    health = get_health()
    assert health["indicators"]["pendingCleanup"]["status"] == "warning"
    assert health["indicators"]["pollutionPercent"]["status"] == "critical"
    assert health["status"] == "critical"


def test_a_cleanup_run_turns_a_stale_gap_and_pending_drafts_healthy(db):
    seed_gap(db, 180)
    seed_pending(db, 25)
    before = get_health()["indicators"]
    assert before["cleanupJobGapHours"]["status"] == before["pendingCleanup"]["status"] == "critical"
    assert call(handler, "POST", "/cleanup", token=ADMIN_TOKEN).status == 200
    after = get_health()["indicators"]
    assert after["cleanupJobGapHours"] == {"value": 0, "status": "healthy"}
    assert after["pendingCleanup"] == {"value": 0, "status": "healthy"}


def test_check_pending_cleanup_reports_what_the_next_run_deletes(db):
    assert db.execute("SELECT pending_count, oldest_created_at, status FROM check_pending_cleanup()").fetchone() == (
        0, None, "healthy")
    org = new_org(db)
    add_courses(db, org, 6, age_hours=30)
    add_courses(db, org, 3, age_hours=20)
    count, age, status, cutoff_ok = db.execute(
        "SELECT pending_count, oldest_age_hours, status, cutoff_time = now() - interval '24 hours' "
        "FROM check_pending_cleanup()").fetchone()
    assert (count, status, cutoff_ok) == (6, "warning", True)
    assert 30 <= age < 30.1
    assert db.execute("SELECT pending_count FROM check_pending_cleanup(interval '12 hours')").fetchone()[0] == 9
