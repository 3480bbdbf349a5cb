"""`make bench` end to end at a tiny size: the suite runs every row against its own throwaway
servers and writes a well-formed report. Timings are never asserted (they belong to the report)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = ("session create", "session get", "session patch", "materialize", "the spec's design (one save)",
        "session create at scale", "session get at scale", "session patch at scale",
        "cleanup, 0 live rows", "cleanup, 5,000 live rows", "cleanup, cost as live rows grow",
        "purge (disk)", "purge (moto S3)", "purge (stores out of process)",
        "queue drain, without files or vectors", "queue drain, with keys, vectors and files",
        "cold start draft_session", "cold start cleanup_drafts", "cold start purge_course",
        "metrics per call (autosave)", "metrics at cold start (draft_session)")


def test_the_suite_writes_a_complete_report_at_a_tiny_size(tmp_path):
    report, figures = tmp_path / "BENCHMARKS.md", tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}  # it starts its own
    run = subprocess.run([sys.executable, "-m", "bench", "--size", "smoke", "--out", str(report), "--json", str(figures)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]

    text = report.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks")
    for heading in ("## Summary", "## Rows in detail", "## The run"):
        assert heading in text
    assert "| row | raw baseline p50 / p99 | project p50 / p99 | ratio | goal | result |" in text
    assert f"- command: `python -m bench --size smoke --out {report} --json {figures}`" in text
    assert "- machine: " in text and "- sizes: " in text
    assert "- network-hop mode (Redis and Postgres across a 0.5 ms delay): " in text  # measured, or why not

    data = json.loads(figures.read_text(encoding="utf-8"))
    rows = {row["name"]: row for row in data["rows"]}
    assert set(ROWS) <= set(rows), sorted(set(ROWS) - set(rows))
    for name, row in rows.items():
        assert f"| {name} |" in text and f"### {name}" in text
        assert row["met"] in (True, False), f"{name} was not measured: {row['notes']}"
        assert row["goal"] and row["ratio"] and row["size"], name
        for key in ("base_p50", "base_p99", "p50", "p99"):
            assert row[key] is None or (isinstance(row[key], (int, float)) and math.isfinite(row[key])), (name, key)
        if row["met"] is False:  # every missed goal names its cause and what would fix it
            assert row["cause"].strip(), f"{name} missed its goal without a cause"
            assert f"**{name}**" in text.split("## Missed goals", 1)[1].split("## Rows in detail", 1)[0]
