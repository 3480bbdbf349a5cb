"""The cleanup's service (functions/cleanup/) over in-memory stores: batches, the time budget, a dry
run, a store down, the health indicators. Milliseconds, no server."""

from __future__ import annotations

import pytest

from functions.cleanup.service import DraftCleanup
from functions.platform.errors import StoreUnavailable
from functions.platform.settings import load_settings
from functions.purge.worker import DrainReport
from tests.fakes import FakeDraftRows, FakeIndexes, Row


def cleanup(rows, indexes=None, **settings):
    ticks = iter(range(10_000))
    return DraftCleanup(rows, indexes or FakeIndexes(), lambda **_: DrainReport(processed=2, still_pending=1),
                        load_settings(**settings), clock=lambda: next(ticks) * 0.001)


def test_a_run_deletes_batch_after_batch_until_none_is_full():
    rows = FakeDraftRows(expired=2500)
    report = cleanup(rows, CLEANUP_BATCH_SIZE=1000).run(source="scheduler")
    assert (report.deleted, report.batches, report.complete) == (2500, 3, True)
    assert rows.batches == [1000, 1000, 500] and rows.runs[1]["status"] == "succeeded"
    assert (report.purges_processed, report.purges_pending) == (2, 1)


def test_a_run_stops_at_its_budget_and_says_it_is_incomplete():
    rows = FakeDraftRows(expired=10_000)
    service = cleanup(rows, CLEANUP_BATCH_SIZE=10, CLEANUP_TIME_BUDGET_SECONDS=0.02)
    report = service.run(source="http")
    assert report.complete is False and 0 < report.deleted < 10_000


def test_a_dry_run_counts_and_deletes_nothing():
    rows = FakeDraftRows(expired=42)
    report = cleanup(rows).run(source="http", dry_run=True)
    assert (report.deleted, report.dry_run, rows.expired, rows.runs) == (42, True, 42, {})


def test_redis_down_does_not_stop_the_deletion_and_a_failed_batch_is_recorded():
    indexes = FakeIndexes()
    indexes.faults.next("prune_indexes", StoreUnavailable("redis"))
    rows = FakeDraftRows(expired=5)
    report = cleanup(rows, indexes).run(source="scheduler")
    assert report.deleted == 5 and any("redis" in p for p in report.problems)
    rows = FakeDraftRows(expired=5)
    rows.faults.next("delete_batch", StoreUnavailable("postgres"))
    with pytest.raises(StoreUnavailable):
        cleanup(rows).run(source="scheduler")
    assert rows.runs[1]["status"] == "failed"


def test_health_is_the_worst_indicator_and_redis_down_is_critical_not_a_failure():
    rows = FakeDraftRows(0, health=[Row("unused_drafts", 3, "healthy"), Row("pollution_percent", 35.0, "warning")])
    indexes = FakeIndexes(active=10)
    health = cleanup(rows, indexes).health()
    assert health.status == "warning" and health.indicators["active_draft_sessions"].value == 10
    indexes.faults.next("prune_indexes", StoreUnavailable("redis"))
    down = cleanup(rows, indexes).health()
    assert down.status == "critical" and down.indicators["active_draft_sessions"].value is None
