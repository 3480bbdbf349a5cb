"""docs/grafana-dashboard.json: the monitoring guide's dashboard (seeds/002, "Grafana Dashboard
Configuration"), generated so that its SQL is the project's, not a copy.

Panels take their SQL from sql/queries/draft_cleanup_queries.sql by `-- name:` (the queries the
project tests), or read the monitoring objects of the migrations directly (draft_cleanup_health(),
check_pending_cleanup(), the cleanup_job_monitoring view, cleanup_runs, purge_queue). No Grafana
macros: every panel's SQL runs as it is (tests/test_dashboard.py runs each one on a migrated database).

    python -m devtools.grafana            # rewrite docs/grafana-dashboard.json
    python -m devtools.grafana --check    # exit 1 when it is stale

Import it in Grafana (Dashboards > New > Import) and pick a PostgreSQL data source that reaches the
Supabase database as a role allowed to read those objects (docs/MONITORING.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Optional

from devtools import generated

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "sql" / "queries" / "draft_cleanup_queries.sql"
OUTPUT = ROOT / "docs" / "grafana-dashboard.json"
DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "${datasource}"}


def named_queries(path: Path = QUERIES) -> dict[str, str]:
    """`-- name: x` blocks of the queries file, comments and the final semicolon removed."""
    queries: dict[str, str] = {}
    for block in re.split(r"^-- name: ", path.read_text(encoding="utf-8"), flags=re.M)[1:]:
        name, _, body = block.partition("\n")
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        queries[name.strip()] = "\n".join(lines).strip().rstrip(";").strip()
    return queries


def _wrap(query: str, select: str, order: Optional[str] = None) -> str:
    """A named query reshaped for one panel (e.g. its day column as Grafana's `time`)."""
    return f"SELECT {select}\nFROM (\n{query}\n) q" + (f"\nORDER BY {order}" if order else "")


def _thresholds(*steps: tuple[Optional[float], str]) -> dict:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


GREEN, YELLOW, RED = "green", "yellow", "red"


def panels(q: dict[str, str]) -> list[dict[str, Any]]:
    """(title, type, SQL, layout, display) of every panel, top row first, as the guide lays them out."""
    return [
        # --- System health (top row)
        dict(title="Draft courses", type="gauge", sql=q["q1_current_state"], field="total_drafts",
             thresholds=_thresholds((None, GREEN), (20, YELLOW), (50, RED)), max=100, grid=(0, 0, 4, 6),
             description="All courses with status 'draft' (query 1). Guide: green < 20, yellow < 50, red > 50."),
        dict(title="Pollution %", type="gauge", sql=q["q1_current_state"], field="pollution_percentage",
             unit="percent", thresholds=_thresholds((None, GREEN), (10, YELLOW), (30, RED)), max=100,
             grid=(4, 0, 4, 6),
             description="Unused drafts / drafts (query 1). Healthy < 10 %, warning 10-30 %, critical > 30 %."),
        dict(title="Hours since the last successful cleanup", type="stat", sql=q["q3_job_health"],
             field="hours_since_last_run", unit="h", decimals=2,
             thresholds=_thresholds((None, GREEN), (1, YELLOW), (2, RED)), grid=(8, 0, 4, 6),
             description="Any source: pg_cron, the scheduled function, an admin (query 3). Warning > 1 h, "
                         "critical > 2 h; empty: no successful run recorded yet."),
        dict(title="Pending cleanup", type="stat", sql="SELECT pending_count, oldest_age_hours, status\n"
                                                       "FROM check_pending_cleanup()",
             field="pending_count", thresholds=_thresholds((None, GREEN), (5, YELLOW), (21, RED)), grid=(12, 0, 4, 6),
             description="Unused drafts older than 24 h: what the next run deletes. Healthy < 5, critical > 20."),
        dict(title="Purge queue depth", type="stat",
             sql="SELECT count(*) FILTER (WHERE status <> 'purged') AS depth,\n"
                 "       count(*) FILTER (WHERE status <> 'purged' AND attempts > 0) AS failing,\n"
                 "       min(deleted_at) FILTER (WHERE status <> 'purged') AS oldest\n"
                 "FROM purge_queue",
             field="depth", thresholds=_thresholds((None, GREEN), (20, YELLOW), (101, RED)), grid=(16, 0, 4, 6),
             description="Deleted courses whose data is not purged from every store yet (healthy < 20, "
                         "critical > 100). Drained by the hourly cleanup and POST /purges/retry."),
        dict(title="Health indicators", type="table", sql="SELECT indicator, value, status, warn_from, critical_above\n"
                                                          "FROM draft_cleanup_health()",
             grid=(20, 0, 4, 6), description="draft_cleanup_health(): the Postgres side of GET /health "
                                              "(active Redis sessions come from the endpoint only)."),
        # --- Trend analysis (middle row)
        dict(title="Drafts created vs cleaned (30 days)", type="timeseries",
             sql=_wrap(q["q5_daily_creation_rate"], "day::timestamptz AS time, drafts_created, drafts_used, "
                                                    "drafts_abandoned, cleaned_up", "1"),
             grid=(0, 6, 12, 8), description="Query 5: courses created per day (every course starts as a "
                                             "draft), how many were used, and what the cleanup deleted."),
        dict(title="Unused drafts by age", type="barchart", sql=q["q2_age_buckets"], grid=(12, 6, 6, 8),
             thresholds=_thresholds((None, GREEN)),
             description="Query 2. The '> 24h' bar should be 0 (warning > 5, critical > 20)."),
        dict(title="Organizations by unused drafts", type="table", sql=q["q4_drafts_by_organization"],
             grid=(18, 6, 6, 8), description="Query 4, top 10. Critical: one organization over 100 unused drafts."),
        # --- Performance (bottom row)
        dict(title="How courses were created (30 days)", type="timeseries",
             sql="SELECT date_trunc('day', created_at) AS time,\n"
                 "       count(*) FILTER (WHERE settings->>'materializedBy' = 'submit') AS submit,\n"
                 "       count(*) FILTER (WHERE settings->>'materializedBy' = 'file_upload') AS file_upload,\n"
                 "       count(*) FILTER (WHERE settings->>'materializedBy' = 'fallback') AS redis_down_fallback,\n"
                 "       count(*) FILTER (WHERE draft_session_id IS NULL) AS without_draft_session\n"
                 "FROM courses\n"
                 "WHERE created_at >= date_trunc('day', now()) - interval '29 days'\n"
                 "GROUP BY 1\nORDER BY 1",
             grid=(0, 14, 8, 8),
             description="Instead of the guide's session-duration histogram (a session's lifetime is not "
                         "kept once it becomes a row): rows from a submit, from a file upload, from the "
                         "Redis-down fallback, and rows that did not come from a draft session at all."),
        dict(title="Cleanup success rate (30 days)", type="stat",
             sql=_wrap(q["cleanup_effectiveness_report"],
                       "round(100.0 * sum(successful_runs) / nullif(sum(executions_count), 0), 2) AS success_rate, "
                       "sum(executions_count) AS runs, sum(failed_runs) AS failed_runs, "
                       "sum(drafts_deleted) AS drafts_deleted"),
             field="success_rate", unit="percent", decimals=2,
             thresholds=_thresholds((None, RED), (99, GREEN)), grid=(8, 14, 4, 8),
             description="Target > 99 % (the guide's cleanup effectiveness report, every source of runs)."),
        dict(title="Drafts deleted per run (7 days)", type="timeseries",
             sql="SELECT start_time AS time, deleted\nFROM cleanup_job_monitoring\n"
                 "WHERE start_time > now() - interval '7 days' AND deleted IS NOT NULL\nORDER BY 1",
             thresholds=_thresholds((None, GREEN), (101, RED)), grid=(12, 14, 4, 8),
             description="Above 100 in one run: the function logs cleanup_high_deletions (the spec's alert)."),
        dict(title="Recent failed cleanup runs", type="table",
             sql="SELECT start_time, source, jobname, return_message\nFROM cleanup_job_monitoring\n"
                 "WHERE status = 'failed'\nORDER BY start_time DESC\nLIMIT 20",
             grid=(16, 14, 8, 8), description="The guide's log panel: pg_cron's and the functions' failed runs."),
    ]


def _panel(spec: dict[str, Any], panel_id: int) -> dict[str, Any]:
    x, y, w, h = spec["grid"]
    fmt = "time_series" if spec["type"] == "timeseries" else "table"
    defaults: dict[str, Any] = {}
    if "thresholds" in spec:
        defaults["thresholds"] = spec["thresholds"]
        defaults["color"] = {"mode": "thresholds"}
    for key in ("unit", "decimals", "max"):
        if key in spec:
            defaults[key] = spec[key]
    if spec["type"] in ("gauge", "stat"):
        defaults.setdefault("min", 0)
    panel: dict[str, Any] = {
        "id": panel_id,
        "title": spec["title"],
        "description": spec.get("description", ""),
        "type": spec["type"],
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": "A", "datasource": DATASOURCE, "editorMode": "code", "format": fmt,
                     "rawQuery": True, "rawSql": spec["sql"]}],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {},
    }
    if "field" in spec:
        panel["options"]["reduceOptions"] = {"values": False, "calcs": ["lastNotNull"],
                                             "fields": f"/^{spec['field']}$/"}
    if spec["type"] == "barchart":
        panel["options"].update({"xField": "age_bucket", "orientation": "horizontal"})
    return panel


def generate() -> dict[str, Any]:
    specs = panels(named_queries())
    return {
        "__inputs": [{"name": "DS_POSTGRES", "label": "Supabase Postgres", "type": "datasource",
                      "pluginId": "grafana-postgresql-datasource", "pluginName": "PostgreSQL"}],
        "title": "Draft course cleanup",
        "uid": "course-drafts-cleanup",
        "description": "The monitoring guide's dashboard (seeds/002): draft pollution, the hourly cleanup, "
                       "the purge queue. Generated by `python -m devtools.grafana`.",
        "tags": ["course-drafts", "cleanup"],
        "timezone": "browser",
        "refresh": "5m",
        "time": {"from": "now-30d", "to": "now"},
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "templating": {"list": [{"name": "datasource", "label": "Postgres", "type": "datasource",
                                 "query": "grafana-postgresql-datasource", "current": {}, "hide": 0}]},
        "annotations": {"list": []},
        "panels": [_panel(spec, i) for i, spec in enumerate(specs, start=1)],
    }


def render(document: dict) -> str:
    return generated.render(document)


def main(argv: list[str] | None = None) -> int:
    document = generate()
    return generated.write_or_check(OUTPUT, document, regenerate="python -m devtools.grafana", summary=f"{len(document['panels'])} panels",
                                    args=sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
