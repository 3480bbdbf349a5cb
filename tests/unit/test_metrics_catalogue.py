"""The metrics catalogue (functions/platform/metrics.py) and what is generated from it: a point is
recorded only by a catalogued name with its own dimension; template.yaml's monitoring section and
docs/MONITORING.md's tables are fresh; every alarm and panel reads catalogued metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devtools import monitoring
from functions.platform import metrics

ROOT = Path(__file__).resolve().parents[2]


def test_a_point_needs_a_catalogued_name_and_exactly_its_own_dimension():
    token = metrics.begin()
    try:
        with pytest.raises(KeyError, match="catalogue"):
            metrics.record("Requsets")
        with pytest.raises(TypeError, match="step"):
            metrics.record("PurgeStepFailures")  # a step failure without its step
        with pytest.raises(TypeError):
            metrics.record("Requests", operation="draft_created")  # the entry point sets the shared ones
        metrics.record("PurgeStepFailures", step="files")
        metrics.record("Requests")
    finally:
        metrics._points.reset(token)


def test_points_outside_an_invocation_are_dropped_not_kept():
    metrics.record("Requests")  # no begin(): nothing collects it, nothing leaks into the next call
    token = metrics.begin()
    assert metrics._points.get() == []
    metrics._points.reset(token)


def test_the_generated_monitoring_sections_are_fresh():
    done = subprocess.run([sys.executable, "-m", "devtools.monitoring", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr


def test_every_alarm_and_panel_reads_a_catalogued_metric_and_every_metric_is_shown():
    used = set()
    for alarm in monitoring.ALARMS:
        source = alarm.source
        used |= {source.name} if isinstance(source, monitoring.M) else {m.name for m in source.inputs.values()}
    for _, graphs in monitoring.ROWS:
        for graph in graphs:
            for item in graph.series:
                if isinstance(item, monitoring.M):
                    used.add(item.name)
                elif isinstance(item, monitoring.Math):
                    used |= {m.name for m in item.inputs.values()}
                else:
                    used.add(item.split('MetricName="')[1].split('"')[0])
    assert used <= set(metrics.METRICS), used - set(metrics.METRICS)
    # Every metric the functions write is on the dashboard or behind an alarm: none is written for nothing.
    assert set(metrics.METRICS) - used == set()


def test_every_alarm_has_its_runbook_section():
    doc = (ROOT / "docs" / "MONITORING.md").read_text(encoding="utf-8")
    for alarm in monitoring.ALARMS:
        assert f'<a id="{alarm.runbook}"></a>' in doc, f"{alarm.name}: no runbook section {alarm.runbook!r}"


def test_a_metrics_failure_never_fails_the_call_and_leaves_nothing_for_the_next(monkeypatch, capsys, caplog):
    token = metrics.begin()
    metrics.record("Requests")
    metrics.record("SessionMisses")
    units = metrics._units()
    # The second point fails after the first is in the writer: what is half written must not leak.
    monkeypatch.setattr(metrics, "_units", lambda: {"Requests": units["Requests"]})
    metrics.flush(token, namespace="Unit", service="svc")  # no exception reaches the handler
    assert "metrics not written" in caplog.text
    monkeypatch.undo()
    token = metrics.begin()
    metrics.record("Latency", 2.0)
    metrics.flush(token, namespace="Unit", service="svc")
    [line] = [x for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    assert '"Latency":[2.0]' in line and "Requests" not in line and "SessionMisses" not in line
