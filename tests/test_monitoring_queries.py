"""sql/queries/draft_cleanup_queries.sql: every query runs as it is written, on seeded data, and
returns the figures the seeding implies; the cleanup_job_monitoring view merges pg_cron's runs
with the function's."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest

from tests.test_cleanup_drafts import CLEANUP_JOB, add_courses, new_org

QUERIES = Path(__file__).resolve().parent.parent / "sql" / "queries" / "draft_cleanup_queries.sql"


def load_queries() -> dict[str, str]:
    parts = re.split(r"^-- name: (\w+)\s*$", QUERIES.read_text(encoding="utf-8"), flags=re.M)
    return {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}


QUERY = load_queries()


def run(db, name: str) -> list[dict]:
    cur = db.execute(QUERY[name])
    cols = [c.name for c in cur.description]
    return [dict(zip(cols, row)) for row in cur.fetchall()]


def test_the_file_has_the_guides_queries_and_alerts():
    assert {"q1_current_state", "q2_age_buckets", "q3_job_health", "q4_drafts_by_organization",
            "q5_daily_creation_rate"} <= set(QUERY)
    assert {"alert_high_pollution", "alert_cleanup_job_stalled", "alert_cleanup_job_failures",
            "alert_old_drafts_pending", "alert_traffic_spike", "alert_traffic_spike_organizations",
            "alert_traffic_spike_users", "alert_organization_abuse"} <= set(QUERY)
    for name, text in QUERY.items():  # one statement each, as a dashboard panel takes it
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()
        assert code.endswith(";") and code.count(";") == 1, name


@pytest.mark.parametrize("name", sorted(QUERY))
def test_every_query_runs_on_empty_tables(db, name):
    run(db, name)


@pytest.fixture
def seeded(db):
    """Acme: unused drafts 0.5 h x2, 3 h, 12 h, 30 h x3; drafts in generation 2 h, 48 h, 120 h; 4
    published. Beta: unused 25 h, 240 h; one draft whose generation completed (5 h)."""
    acme, beta = new_org(db, "Acme"), new_org(db, "Beta")
    add_courses(db, acme, 2, age_hours=0.5)
    add_courses(db, acme, 1, age_hours=3)
    add_courses(db, acme, 1, age_hours=12)
    add_courses(db, acme, 3, age_hours=30)
    for age in (2, 48, 120):
        add_courses(db, acme, 1, age_hours=age, gen="generating")
    add_courses(db, acme, 4, age_hours=48, status="published", gen="completed")
    add_courses(db, beta, 1, age_hours=25)
    add_courses(db, beta, 1, age_hours=240)
    add_courses(db, beta, 1, age_hours=5, gen="completed")
    return {"acme": acme, "beta": beta}


def test_q1_current_state(db, seeded):
    assert run(db, "q1_current_state") == [{"total_drafts": 13, "unused_drafts": 9, "active_drafts": 4,
                                            "pollution_percentage": Decimal("69.23")}]


def test_q2_age_buckets(db, seeded):
    assert [(r["age_bucket"], r["drafts"]) for r in run(db, "q2_age_buckets")] == [
        ("< 1h", 2), ("1-6h", 1), ("6-24h", 1), ("> 24h", 5)]


def test_q4_drafts_by_organization(db, seeded):
    rows = run(db, "q4_drafts_by_organization")
    assert [(r["organization_name"], r["total_drafts"], r["unused_drafts"], r["pending_cleanup"]) for r in rows] == [
        ("Acme", 10, 7, 3), ("Beta", 3, 2, 2)]
    oldest = db.execute("SELECT min(created_at) FROM courses WHERE organization_id = %s AND generation_status IS NULL",
                        (seeded["beta"],)).fetchone()[0]
    assert rows[1]["oldest_unused"] == oldest


def test_q5_daily_creation_rate(db, seeded):
    db.execute("INSERT INTO cleanup_runs (source, cutoff, started_at, finished_at, deleted, status) VALUES "
               "('scheduler', now(), now(), now(), 7, 'succeeded'), ('pg_cron', now(), now(), now(), 5, 'succeeded')")
    rows = run(db, "q5_daily_creation_rate")
    assert len(rows) == 30 and rows[0]["day"] > rows[-1]["day"]
    created, used = Counter(), Counter()
    for moment, status, gen in db.execute("SELECT created_at, status, generation_status FROM courses"):
        day = moment.astimezone(UTC).date()
        created[day] += 1
        used[day] += status != "draft" or gen is not None
    by_day = {r["day"]: r for r in rows}
    for day, n in created.items():
        if day in by_day:  # the 240 h draft is ten days old: inside the 30 days
            r = by_day[day]
            assert (r["drafts_created"], r["drafts_used"], r["drafts_abandoned"]) == (n, used[day], n - used[day])
            assert r["usage_rate"] == round(Decimal(100 * used[day]) / n, 2)
    assert sum(r["drafts_created"] for r in rows) == 17
    assert rows[0]["cleaned_up"] == 12
    assert all(r["drafts_created"] == 0 and r["usage_rate"] is None for d, r in by_day.items() if d not in created)


def test_alert_queries_on_the_seeded_data(db, seeded):
    assert run(db, "alert_high_pollution") == [{"pollution_percentage": Decimal("69.23"), "severity": "HIGH"}]
    assert run(db, "alert_old_drafts_pending") == []  # 5 old drafts: not more than 5
    assert run(db, "alert_traffic_spike") == []
    assert [(r["name"], r["drafts_last_hour"]) for r in run(db, "alert_traffic_spike_organizations")] == [("Acme", 2)]
    assert run(db, "alert_traffic_spike_users") == []
    assert run(db, "alert_organization_abuse") == []


@pytest.mark.parametrize("unused, used, expected", [
    (3, 7, []),                                                               # 30 %: not above
    (4, 9, [{"pollution_percentage": Decimal("30.77"), "severity": "MEDIUM"}]),
    (1, 1, [{"pollution_percentage": Decimal("50.00"), "severity": "MEDIUM"}]),
    (2, 1, [{"pollution_percentage": Decimal("66.67"), "severity": "HIGH"}]),
])
def test_alert_high_pollution_thresholds(db, unused, used, expected):
    org = new_org(db)
    add_courses(db, org, unused, age_hours=1)
    add_courses(db, org, used, age_hours=1, gen="pending")
    assert run(db, "alert_high_pollution") == expected


@pytest.mark.parametrize("old, expected", [(5, []), (6, [(6, "WARNING")]), (20, [(20, "WARNING")]),
                                           (21, [(21, "MEDIUM")])])
def test_alert_old_drafts_pending_thresholds(db, old, expected):
    add_courses(db, new_org(db), old, age_hours=24.2)
    assert [(r["old_drafts"], r["severity"]) for r in run(db, "alert_old_drafts_pending")] == expected


@pytest.mark.parametrize("n, fires", [(100, False), (101, True)])
def test_alert_traffic_spike_threshold(db, n, fires):
    org = new_org(db)
    add_courses(db, org, n, age_hours=0.5)
    add_courses(db, org, 50, age_hours=1.5)  # an hour and more ago: not counted
    assert run(db, "alert_traffic_spike") == ([{"created_last_hour": n}] if fires else [])


@pytest.mark.parametrize("n, fires", [(20, False), (21, True)])
def test_alert_traffic_spike_users_threshold(db, n, fires):
    import uuid

    user = uuid.uuid4()
    add_courses(db, new_org(db), n, age_hours=0.5, user_id=user)
    rows = run(db, "alert_traffic_spike_users")
    assert rows == ([{"user_id": user, "drafts_created": n, "orgs_count": 1}] if fires else [])


@pytest.mark.parametrize("n, fires", [(100, False), (101, True)])
def test_alert_organization_abuse_threshold(db, n, fires):
    org = new_org(db, "Bots")
    add_courses(db, org, n, age_hours=2)
    add_courses(db, org, 5, age_hours=2, gen="pending")  # used drafts do not count
    assert run(db, "alert_organization_abuse") == ([{"organization_id": org, "name": "Bots", "unused_drafts": n}]
                                                   if fires else [])


# --- runs: the view, job health, stalls, failures, effectiveness ---

def add_run(db, source: str, status: str, *, ago_minutes: float, seconds: float = 2, deleted: int = 0,
            error=None) -> int:
    return db.execute(
        """INSERT INTO cleanup_runs (source, cutoff, started_at, finished_at, deleted, batches, complete, status, error)
           VALUES (%(src)s, now() - interval '24 hours', now() - make_interval(secs => %(ago)s * 60),
                   now() - make_interval(secs => %(ago)s * 60) + make_interval(secs => %(dur)s),
                   %(deleted)s, 1, true, %(status)s, %(error)s) RETURNING id""",
        {"src": source, "ago": ago_minutes, "dur": seconds, "deleted": deleted, "status": status, "error": error},
    ).fetchone()[0]


def add_cron_run(db, status: str, *, ago_minutes: float, seconds: float = 3, message: str = "CALL") -> int:
    jobid = db.execute("SELECT jobid FROM cron.job WHERE jobname = %s", (CLEANUP_JOB,)).fetchone()[0]
    return db.execute(
        """INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status, return_message,
                                            start_time, end_time)
           VALUES (%(job)s, 1, 'app', 'postgres', 'CALL', %(status)s, %(msg)s,
                   now() - make_interval(secs => %(ago)s * 60),
                   now() - make_interval(secs => %(ago)s * 60) + make_interval(secs => %(dur)s))
           RETURNING runid""",
        {"job": jobid, "status": status, "msg": message, "ago": ago_minutes, "dur": seconds}).fetchone()[0]


@pytest.fixture
def cron_history(db):
    db.execute("DELETE FROM cron.job_run_details")
    yield
    db.execute("DELETE FROM cron.job_run_details")


def test_the_view_shows_a_pg_cron_run_once_with_its_counts(db, cron_history):
    runid = add_cron_run(db, "succeeded", ago_minutes=10, seconds=5)
    run_id = add_run(db, "pg_cron", "succeeded", ago_minutes=10 - 1 / 60, deleted=42)  # 1 s into the cron run
    add_run(db, "scheduler", "succeeded", ago_minutes=9, deleted=3)
    failed = add_cron_run(db, "failed", ago_minutes=70, message="ERROR: procedure does not exist")
    rows = db.execute("SELECT source, jobname, schedule, status, deleted, run_id, cron_runid, return_message "
                      "FROM cleanup_job_monitoring ORDER BY start_time DESC").fetchall()
    assert rows == [
        ("scheduler", "cleanup-drafts-scheduler", None, "succeeded", 3, run_id + 1, None, None),
        ("pg_cron", CLEANUP_JOB, "0 * * * *", "succeeded", 42, run_id, runid, "CALL"),
        ("pg_cron", CLEANUP_JOB, "0 * * * *", "failed", None, None, failed, "ERROR: procedure does not exist"),
    ]


def test_a_run_that_died_shows_as_failed(db):
    db.execute("INSERT INTO cleanup_runs (source, cutoff, started_at) VALUES ('scheduler', now(), now() - interval '61 minutes'),"
               " ('http', now(), now() - interval '1 minute')")
    assert db.execute("SELECT source, status FROM cleanup_job_monitoring ORDER BY start_time").fetchall() == [
        ("scheduler", "failed"), ("http", "running")]


def test_q3_job_health_and_the_guides_view_query(db, cron_history):
    add_run(db, "scheduler", "succeeded", ago_minutes=90, deleted=4)
    add_cron_run(db, "failed", ago_minutes=30, message="ERROR: boom")
    [health] = run(db, "q3_job_health")
    assert (health["last_source"], health["last_status"], health["last_message"]) == ("pg_cron", "failed", "ERROR: boom")
    assert Decimal("1.45") <= health["hours_since_last_run"] <= Decimal("1.55")
    now = db.execute("SELECT now()").fetchone()[0]
    assert health["next_run"] > now and health["next_run"].minute == 0 and health["next_run"].second == 0
    [last] = run(db, "q3_last_run_from_view")
    assert (last["jobname"], last["status"], last["schedule"]) == (CLEANUP_JOB, "failed", "0 * * * *")


def test_alert_cleanup_job_stalled(db):
    assert run(db, "alert_cleanup_job_stalled") == [{"last_success": None, "hours_since_last_run": None}]
    add_run(db, "scheduler", "succeeded", ago_minutes=121, seconds=0)
    add_run(db, "http", "failed", ago_minutes=5)
    [row] = run(db, "alert_cleanup_job_stalled")
    assert row["hours_since_last_run"] == Decimal("2.02")
    add_run(db, "pg_cron", "succeeded", ago_minutes=119, seconds=0)
    assert run(db, "alert_cleanup_job_stalled") == []


def test_alert_cleanup_job_failures_needs_three_in_a_row(db):
    add_run(db, "scheduler", "failed", ago_minutes=240)
    add_run(db, "scheduler", "succeeded", ago_minutes=180)
    add_run(db, "scheduler", "failed", ago_minutes=120)
    add_run(db, "pg_cron", "failed", ago_minutes=60)
    db.execute("INSERT INTO cleanup_runs (source, cutoff) VALUES ('http', now())")  # running: not finished yet
    assert run(db, "alert_cleanup_job_failures") == []
    add_run(db, "scheduler", "failed", ago_minutes=1)
    [row] = run(db, "alert_cleanup_job_failures")
    assert row["consecutive_failures"] == 3
    first = db.execute("SELECT started_at FROM cleanup_runs WHERE status = 'failed' ORDER BY started_at "
                       "OFFSET 1 LIMIT 1").fetchone()[0]
    assert row["failing_since"] == first


def test_cleanup_effectiveness_report(db):
    day = "date_trunc('day', now()) - interval '1 day'"
    for hour, seconds, status, deleted in ((1, 2, "succeeded", 10), (2, 4, "succeeded", 5), (3, 6, "failed", 0)):
        db.execute(f"""INSERT INTO cleanup_runs (source, cutoff, started_at, finished_at, deleted, status)
                       VALUES ('scheduler', now(), {day} + interval '{hour} hours',
                               {day} + interval '{hour} hours' + interval '{seconds} seconds', {deleted}, '{status}')""")
    [row] = run(db, "cleanup_effectiveness_report")
    assert row["execution_date"] == db.execute(f"SELECT ({day})::date").fetchone()[0]
    assert (row["executions_count"], row["successful_runs"], row["failed_runs"], row["drafts_deleted"]) == (3, 2, 1, 15)
    assert row["avg_duration_seconds"] == Decimal("4.000") and row["success_rate"] == Decimal("66.67")
