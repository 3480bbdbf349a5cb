"""docs/grafana-dashboard.json: every panel's SQL runs on the migrated database and shows what the
seeded data implies; the committed file is a fresh generation."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from devtools import grafana

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "grafana-dashboard.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_the_committed_dashboard_is_a_fresh_generation():
    assert COMMITTED.read_text(encoding="utf-8") == grafana.render(grafana.generate()), \
        "docs/grafana-dashboard.json is stale: run `python -m devtools.grafana` and commit it"


def test_the_dashboard_is_importable(dashboard):
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert "$__" not in panel["targets"][0]["rawSql"], f"{panel['title']}: a Grafana macro cannot run as it is"


def _seed(db) -> None:
    org = db.execute("INSERT INTO organizations (name) VALUES ('Acme') RETURNING id").fetchone()[0]
    user = db.execute("INSERT INTO users (organization_id, email) VALUES (%s, 'a@example.com') RETURNING id",
                      (org,)).fetchone()[0]

    def course(age: str, status="draft", generation=None, settings=None, session=None):
        db.execute(
            "INSERT INTO courses (organization_id, user_id, title, slug, status, generation_status, settings,"
            " draft_session_id, created_at) VALUES (%s, %s, 't', %s, %s, %s, %s, %s, now() - %s::interval)",
            (org, user, f"c-{uuid.uuid4()}", status, generation, json.dumps(settings or {}), session, age))

    for age in ("30 minutes", "3 hours", "12 hours", "30 hours"):  # one unused draft in each age bucket
        course(age)
    course("2 hours", generation="processing", settings={"materializedBy": "submit"}, session=uuid.uuid4())
    course("1 hour", status="published", generation="completed", settings={"materializedBy": "fallback"},
           session=uuid.uuid4())
    db.execute("INSERT INTO cleanup_runs (source, started_at, finished_at, cutoff, deleted, batches, complete, status)"
               " VALUES ('scheduler', now() - interval '30 minutes', now() - interval '29 minutes',"
               "         now() - interval '24 hours', 7, 1, true, 'succeeded'),"
               "        ('http', now() - interval '2 days', now() - interval '2 days',"
               "         now() - interval '3 days', 0, 0, false, 'failed')")
    db.execute("UPDATE cleanup_runs SET error = 'postgres unavailable' WHERE status = 'failed'")
    db.execute("INSERT INTO purge_queue (course_id, status, attempts) VALUES (%s, 'pending', 0),"
               " (%s, 'pending', 2), (%s, 'purged', 1)", (uuid.uuid4(), uuid.uuid4(), uuid.uuid4()))
    if db.execute("SELECT to_regclass('cron.job_run_details')").fetchone()[0]:
        db.execute("DELETE FROM cron.job_run_details")  # an hourly pg_cron run of this test server would count


def _rows(url: str, sql: str) -> list[dict]:
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(sql).fetchall()


def test_every_panel_runs_and_shows_what_the_data_implies(dashboard, db, pg_server):
    _seed(db)
    results = {p["title"]: _rows(pg_server.url, p["targets"][0]["rawSql"]) for p in dashboard["panels"]}
    one = {title: rows[0] for title, rows in results.items() if len(rows) == 1}

    assert one["Draft courses"]["total_drafts"] == 5
    assert one["Pollution %"]["pollution_percentage"] == Decimal("80.00")
    assert Decimal("0.45") <= one["Hours since the last successful cleanup"]["hours_since_last_run"] <= Decimal("0.6")
    assert one["Pending cleanup"]["pending_count"] == 1
    assert (one["Purge queue depth"]["depth"], one["Purge queue depth"]["failing"]) == (2, 1)
    health = {r["indicator"]: r for r in results["Health indicators"]}
    assert health["unused_drafts"]["value"] == 4 and health["pollution_percent"]["status"] == "critical"

    trend = results["Drafts created vs cleaned (30 days)"]
    assert len(trend) == 30 and sum(r["drafts_created"] for r in trend) == 6
    assert sum(r["cleaned_up"] for r in trend) == 7
    assert [(r["age_bucket"], r["drafts"]) for r in results["Unused drafts by age"]] == [
        ("< 1h", 1), ("1-6h", 1), ("6-24h", 1), ("> 24h", 1)]
    top = results["Organizations by unused drafts"][0]
    assert (top["organization_name"], top["total_drafts"], top["unused_drafts"]) == ("Acme", 5, 4)

    how = results["How courses were created (30 days)"]
    assert sum(r["submit"] for r in how) == 1 and sum(r["redis_down_fallback"] for r in how) == 1
    assert sum(r["without_draft_session"] for r in how) == 4
    assert one["Cleanup success rate (30 days)"]["success_rate"] == Decimal("50.00")
    assert sorted(r["deleted"] for r in results["Drafts deleted per run (7 days)"]) == [0, 7]
    assert [r["return_message"] for r in results["Recent failed cleanup runs"]] == ["postgres unavailable"]
