"""cleanup_drafts: the hourly draft cleanup (API.md, functions/cleanup_drafts).

Two doors to one run: the EventBridge Scheduler event (any event without `requestContext`; only
the scheduler's role can invoke the function that way) and admin-only HTTP routes.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..cleanup.model import CleanupReport
from ..cleanup.service import HIGH_DELETIONS, DraftCleanup
from ..platform import metrics
from ..platform.auth import Principal
from ..platform.errors import StoreUnavailable
from ..platform.http import Service, context, current_admin, json_response, make_app, note, ok, operation
from ..platform.settings import get_settings
from ..platform.timestamps import iso
from ..wiring import process
from .models import CleanupRequest, CleanupResult, Health

get_settings()  # the container's init: a malformed setting fails here, once, naming the variable
app = make_app("cleanup_drafts")

Admin = Annotated[Principal, Depends(current_admin)]


def cleanup() -> DraftCleanup:
    return process().draft_cleanup


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def wire_report(report: CleanupReport) -> dict[str, Any]:
    """The object of API.md: POST /cleanup and the scheduled invocation return it alike."""
    return {"deleted": report.deleted, "cutoffTime": iso(report.cutoff), "durationMs": report.duration_ms,
            "batches": report.batches, "purgesProcessed": report.purges_processed,
            "purgesPending": report.purges_pending, "dryRun": report.dry_run}


def log_fields(report: CleanupReport) -> dict[str, Any]:
    return {"deleted": report.deleted, "cutoffTime": iso(report.cutoff), "cleanupDurationMs": report.duration_ms,
            "batches": report.batches, "complete": report.complete, "purgesProcessed": report.purges_processed,
            "purgesPending": report.purges_pending, "dryRun": report.dry_run, "source": report.source,
            "runId": report.run_id, "cleanupStatus": "succeeded",
            "expiredSessionEntries": report.sessions.get("expiredEntriesRemoved"),
            "orphanSweep": report.orphan_slice, "problems": report.problems or None}


def record_run(report: CleanupReport) -> None:
    """A run's metrics (docs/MONITORING.md): what it deleted, how long, whether it finished, the purges."""
    if report.dry_run:
        return
    metrics.record("DraftsDeleted", report.deleted)
    metrics.record("CleanupBatches", report.batches)
    metrics.record("CleanupDuration", report.duration_ms)
    metrics.record("CleanupIncomplete", int(not report.complete))
    metrics.record("PurgeAttempts", report.purges_processed)
    metrics.record("CoursesPurged", report.purges_done)
    for step, failed in report.purge_failures.items():
        metrics.record("PurgeStepFailures", failed, step=step)
    for store, found in ((report.orphan_slice or {}).get("stores") or {}).items():
        metrics.record("OrphansFound", found, store=store)


# GET /health's indicators as the metrics the hourly run publishes. The job gap is not among them:
# measured after the run it is always about 0; the run publishes the gap it began with instead.
INDICATOR_METRICS = {"unused_drafts": "UnusedDrafts", "pollution_percent": "PollutionPercent",
                     "pending_cleanup": "PendingCleanup", "purge_queue_depth": "PurgeQueueDepth",
                     "active_draft_sessions": "ActiveDraftSessions", "orphan_courses": "OrphanCourses"}


def publish_health(report: CleanupReport) -> None:
    """The health indicators, every hour, so that the alarms need no SQL. A store that fails here
    fails no run (the drafts are deleted): the indicator is missing for the hour, and logged."""
    if report.gap_before_hours is not None:
        metrics.record("CleanupJobGapHours", report.gap_before_hours)
    try:
        result = cleanup().health(sessions=report.sessions)
        census = cleanup().census()
    except StoreUnavailable as exc:
        report.problems.append(f"health: {exc}")
        return
    for name, metric in INDICATOR_METRICS.items():
        indicator = result.indicators.get(name)
        if indicator is not None and indicator.value is not None:
            metrics.record(metric, indicator.value)
    metrics.record("TotalDrafts", census.total_drafts)
    metrics.record("DraftsCreatedLastHour", census.drafts_last_hour)
    metrics.record("DraftsCreatedLastDay", census.drafts_last_day)
    metrics.record("MaxUnusedDraftsPerOrg", census.max_unused_per_org)
    metrics.record("PurgeOldestPendingAge", census.oldest_pending_purge_s or 0)


def _remaining_ms(context: Any) -> Optional[int]:
    """Lambda's time left (None locally, where the dev server passes no context)."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() if callable(getter) else None


def _warn_if_many(report: CleanupReport) -> None:
    if report.deleted > HIGH_DELETIONS and not report.dry_run:
        service.logger.warning("cleanup_high_deletions", extra={
            "deleted": report.deleted, "threshold": HIGH_DELETIONS, "source": report.source,
            "cutoffTime": iso(report.cutoff)})


@app.post("/cleanup", summary="Delete expired unused drafts now (or count them: dryRun)",
          responses=ok(200, CleanupResult))
@operation("cleanup_completed")
def run_cleanup(admin: Admin, body: Annotated[Optional[CleanupRequest], Body()] = None) -> Response[str]:
    body = body or CleanupRequest()
    report = cleanup().run(source="http", dry_run=body.dryRun, max_age_hours=body.maxAgeHours,
                           remaining_ms=_remaining_ms(context.lambda_context.get()))
    note(**log_fields(report))
    record_run(report)
    _warn_if_many(report)
    return json_response(200, wire_report(report))


@app.get("/health", summary="The cleanup's health indicators", responses=ok(200, Health))
@operation("cleanup_health")
def health(admin: Admin) -> Response[str]:
    result = cleanup().health()
    indicators = {camel(name): {"value": ind.value, "status": ind.status} for name, ind in result.indicators.items()}
    note(health=result.status,
         unhealthy=sorted(k for k, v in indicators.items() if v["status"] != "healthy") or None)
    return json_response(200, {"status": result.status, "checkedAt": iso(result.checked_at), "indicators": indicators})


service = Service("cleanup_drafts", app, lambda: process().authenticator)


class CleanupFailed(RuntimeError):
    """The scheduled run could not run. Raised, not returned: no one reads a scheduled invocation's
    answer, while a Lambda error is counted (the Errors alarm) and retried by the async invoke."""


SCHEDULED = "scheduled_cleanup"  # the `operation` dimension of the hourly run's metrics


def handle_scheduled(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The hourly run: it returns the object of POST /cleanup, logs it and publishes its metrics and
    the health indicators (one flush, failed or not: three failed runs in a row page on-call)."""
    start = time.perf_counter()
    points = metrics.begin()
    try:
        try:
            report = cleanup().run(source="scheduler", remaining_ms=_remaining_ms(context))
        except Exception as exc:
            metrics.record("CleanupSucceeded", 0)
            metrics.record("CleanupFailed")
            if not isinstance(exc, StoreUnavailable):
                raise
            service.logger.error("cleanup_completed", extra={
                "source": "scheduler", "cleanupStatus": "failed", "store": exc.store,
                "cause": type(exc.cause).__name__ if exc.cause else None,
                "durationMs": round((time.perf_counter() - start) * 1000, 1)})
            raise CleanupFailed(f"the {exc.store} store is unavailable; nothing more was deleted") from None
        metrics.record("CleanupSucceeded")
        metrics.record("CleanupFailed", 0)
        record_run(report)
        publish_health(report)
        service.logger.info("cleanup_completed", extra={
            **{k: v for k, v in log_fields(report).items() if v is not None},
            "durationMs": round((time.perf_counter() - start) * 1000, 1)})
        _warn_if_many(report)
        return wire_report(report)
    finally:
        metrics.flush(points, namespace=get_settings().metrics_namespace, service=service.name,
                      dimensions={"operation": SCHEDULED})


def handler(event: Any, context: Any) -> dict[str, Any]:  # Any: the scheduler's event, or a request
    if isinstance(event, dict) and "requestContext" not in event:
        return handle_scheduled(event, context)
    return service.handle_http(event, context)
