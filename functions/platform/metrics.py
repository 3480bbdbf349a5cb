"""CloudWatch metrics in the embedded metric format (EMF), through Powertools' Metrics.

Every metric the functions emit is named once, here (METRICS: its unit and what it answers), and
nowhere else: the code records by these names, template.yaml's dashboard and alarms use them,
docs/MONITORING.md explains them, and a test checks that each name the template uses is emitted by
some tested call. An invocation collects its points (`record()`, like the log line's `note()`) and
the entry point flushes them once, at its end, as EMF lines on stdout (CloudWatch Logs turns them
into metrics: no API call, nothing to wait for). Points with a dimension of their own (a purge step,
an orphan store) go out as one line each.

Namespace: METRICS_NAMESPACE (default CourseDrafts); every point has the dimension `service` (the
function's name) and, for HTTP, `operation` (the route's event name: draft_created, draft_saved ...).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional

COUNT, MS, BYTES, SECONDS, PERCENT = "Count", "Milliseconds", "Bytes", "Seconds", "Percent"


# Where a metric is emitted, as dimensions (docs/MONITORING.md's table).
CALL = "service, operation; service alone"  # every HTTP call, also rolled up per function
OPERATION = "service, operation"
RUN = "service, operation (`scheduled_cleanup`, `cleanup_completed`)"  # a cleanup run, hourly or POST /cleanup
HOURLY = "service, operation (`scheduled_cleanup`)"  # only the hourly run


@dataclass(frozen=True)
class Metric:
    unit: str
    means: str  # the question it answers (docs/MONITORING.md)
    where: str = OPERATION
    own: Optional[str] = None  # a dimension of its own, beside `service` (one EMF line per point)


METRICS: dict[str, Metric] = {
    # Every HTTP invocation, per operation (seed 000 §6.1 "performance", §10.2's targets).
    "Requests": Metric(COUNT, "calls of this operation", CALL),
    "Latency": Metric(MS, "the handler's time per call (p99: the seed's targets)", CALL),
    "ClientErrors": Metric(COUNT, "answers 4xx (the caller's mistake or a refusal)", CALL),
    "ServerErrors": Metric(COUNT, "answers 5xx other than 503", CALL),
    "Unavailable": Metric(COUNT, "answers 503: a store was down", CALL),
    # Draft sessions (§6.1 "Redis metrics").
    # A read that found its session writes SessionBytes: its SampleCount is the hits (one point
    # fewer on every autosave, issue 18), beside SessionMisses.
    "SessionBytes": Metric(BYTES, "the size of a session's form as answered (average: the seed's average size; "
                                  "SampleCount on draft_read, draft_saved: the session reads that found it)"),
    "SessionMisses": Metric(COUNT, "session reads that found nothing (expired, evicted, never there): 404"),
    "DatabaseFallback": Metric(COUNT, "drafts created in the database because Redis was down (DRAFT_DB_FALLBACK)"),
    "CoursesMaterialized": Metric(COUNT, "courses created from a draft (submit or file upload)"),
    # One cleanup run (§6.1 "cleanup metrics").
    "DraftsDeleted": Metric(COUNT, "unused drafts a run deleted", RUN),
    "CleanupBatches": Metric(COUNT, "batch transactions of a run", RUN),
    "CleanupDuration": Metric(MS, "how long a run took (the seed's target: under 5 s)", RUN),
    "CleanupIncomplete": Metric(COUNT, "1 when a run ended on its time budget with drafts left", RUN),
    "CleanupFailed": Metric(COUNT, "1 when a scheduled run could not run (three in a row: critical)", HOURLY),
    "CleanupSucceeded": Metric(COUNT, "1 when a scheduled run ran", HOURLY),
    # The health indicators, published by every scheduled run (seed 002's table), so no alarm needs SQL.
    "UnusedDrafts": Metric(COUNT, "courses with status draft and no generation", HOURLY),
    "PollutionPercent": Metric(PERCENT, "unused drafts among drafts", HOURLY),
    "CleanupJobGapHours": Metric(COUNT, "hours since the previous successful cleanup run (any source), as this run began", HOURLY),
    "PendingCleanup": Metric(COUNT, "unused drafts older than CLEANUP_MAX_AGE_HOURS: what the next run deletes", HOURLY),
    "ActiveDraftSessions": Metric(COUNT, "live draft sessions in Redis", HOURLY),
    "PurgeQueueDepth": Metric(COUNT, "deleted courses whose data is not yet gone from every store", HOURLY),
    "PurgeOldestPendingAge": Metric(SECONDS, "how long the oldest pending purge has waited", HOURLY),
    "OrphanCourses": Metric(COUNT, "course ids with data but no course, by the last complete sweep", HOURLY),
    "TotalDrafts": Metric(COUNT, "courses with status draft (used or not)", HOURLY),
    "DraftsCreatedLastHour": Metric(COUNT, "draft courses created in the last hour (over 100: abuse or bots)", HOURLY),
    "DraftsCreatedLastDay": Metric(COUNT, "draft courses created in the last 24 hours (new drafts a day)", HOURLY),
    "MaxUnusedDraftsPerOrg": Metric(COUNT, "the most unused drafts one organization holds (over 100: abuse)", HOURLY),
    # The purge (per step: dimension `step`) and the orphan sweep (per store: dimension `store`).
    "CoursesPurged": Metric(COUNT, "courses whose purge finished"),
    "PurgeAttempts": Metric(COUNT, "purge attempts of the entries a drain processed"),
    "PurgeStepFailures": Metric(COUNT, "a step (a store) that failed for a course", own="step"),
    "OrphansFound": Metric(COUNT, "orphan course ids a sweep slice found in a store", own="store"),
}

Points = list[tuple[str, float, dict[str, str]]]
_points: contextvars.ContextVar[Optional[Points]] = contextvars.ContextVar("metric_points", default=None)


def record(name: str, value: float = 1, **dimensions: str) -> None:
    """Add a point to this invocation's metrics (ignored outside an invocation)."""
    metric = METRICS.get(name)
    if metric is None:
        raise KeyError(f"{name} is not in functions/platform/metrics.py's catalogue")
    if set(dimensions) != ({metric.own} if metric.own else set()):
        raise TypeError(f"{name} takes {metric.own or 'no dimension of its own'}, not {sorted(dimensions)}")
    points = _points.get()
    if points is not None:
        points.append((name, float(value), dimensions))


def begin() -> contextvars.Token[Optional[Points]]:
    return _points.set([])


log = logging.getLogger(__name__)
_local = threading.local()


def _writer(namespace: str, service: str) -> Any:
    """This thread's Powertools EphemeralMetrics for (namespace, service), reused call after call
    (building one costs about a fifth of a flush). Ephemeral: no state shared between instances, as
    Metrics has, so the dev server's threads may flush at once."""
    writers = getattr(_local, "writers", None)
    if writers is None:
        writers = _local.writers = {}
    writer = writers.get((namespace, service))
    if writer is None:
        from aws_lambda_powertools.metrics import EphemeralMetrics

        writer = writers[(namespace, service)] = EphemeralMetrics(namespace=namespace, service=service)
    return writer


@functools.cache
def _units() -> dict[str, Any]:
    """The catalogue's units as Powertools' MetricUnit (a string unit is looked up again on every point)."""
    from aws_lambda_powertools.metrics import MetricUnit

    return {name: MetricUnit(metric.unit) for name, metric in METRICS.items()}


def flush(token: contextvars.Token[Optional[Points]], *, namespace: str, service: str,
          dimensions: Optional[dict[str, str]] = None, per_service: bool = False) -> None:
    """Write this invocation's points as EMF lines, then forget them: one line for the points under
    the shared `dimensions` (and, per_service, also rolled up under `service` alone: the error rate
    of a whole function), one line per point with a dimension of its own."""
    points = _points.get() or []
    _points.reset(token)
    if not points:
        return
    try:
        _write(points, namespace, service, dimensions or {}, per_service)
    except Exception:  # a metric must never cost the caller its answer; the log line still has it all
        log.warning("metrics not written", exc_info=True)
        _writer(namespace, service).clear_metrics()


def _write(points: Points, namespace: str, service: str, dimensions: dict[str, str], per_service: bool) -> None:
    shared = [(name, value) for name, value, own in points if not own]
    if shared:
        metrics = _writer(namespace, service)
        units = _units()
        for name, value in shared:
            metrics.add_metric(name=name, unit=units[name], value=value)
        for key, dimension in dimensions.items():
            metrics.add_dimension(name=key, value=dimension)
        if per_service:
            metrics.add_dimensions(service=service)
        metrics.flush_metrics()  # and clears it for the next invocation
    from aws_lambda_powertools.metrics import single_metric

    for name, value, own in points:
        if own:
            with single_metric(name=name, unit=_units()[name], value=value, namespace=namespace,
                               default_dimensions={"service": service, **own}):
                pass
