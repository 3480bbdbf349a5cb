"""cleanup_drafts: the hourly draft cleanup (API.md, functions/cleanup_drafts).

Two doors to one run: the EventBridge Scheduler event (any event without `requestContext`; only
the scheduler's role can invoke the function that way) and admin-only HTTP routes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..cleanup.model import CleanupReport
from ..cleanup.service import HIGH_DELETIONS, DraftCleanup
from ..platform.auth import Principal
from ..platform.errors import StoreUnavailable
from ..platform.http import Service, current_admin, json_response, make_app, note, ok
from ..platform.settings import get_settings
from ..wiring import process
from .models import CleanupRequest, CleanupResult, Health

get_settings()  # the container's init: a malformed setting fails here, once, naming the variable
app = make_app("cleanup_drafts")

Admin = Annotated[Principal, Depends(current_admin)]


def cleanup() -> DraftCleanup:
    return process().draft_cleanup


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
def run_cleanup(admin: Admin, body: Annotated[Optional[CleanupRequest], Body()] = None) -> Response[str]:
    body = body or CleanupRequest()
    report = cleanup().run(source="http", dry_run=body.dryRun, max_age_hours=body.maxAgeHours,
                           remaining_ms=_remaining_ms(getattr(app, "lambda_context", None)))
    note(event="cleanup_completed", **log_fields(report))
    _warn_if_many(report)
    return json_response(200, wire_report(report))


@app.get("/health", summary="The cleanup's health indicators", responses=ok(200, Health))
def health(admin: Admin) -> Response[str]:
    result = cleanup().health()
    indicators = {camel(name): {"value": ind.value, "status": ind.status} for name, ind in result.indicators.items()}
    note(event="cleanup_health", health=result.status,
         unhealthy=sorted(k for k, v in indicators.items() if v["status"] != "healthy") or None)
    return json_response(200, {"status": result.status, "checkedAt": iso(result.checked_at), "indicators": indicators})


service = Service("cleanup_drafts", app, lambda: process().authenticator)


class CleanupFailed(RuntimeError):
    """The scheduled run could not run. Raised, not returned: no one reads a scheduled invocation's
    answer, while a Lambda error is counted (the Errors alarm) and retried by the async invoke."""


def handle_scheduled(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The hourly run: it returns the object of POST /cleanup and logs it."""
    start = time.perf_counter()
    try:
        report = cleanup().run(source="scheduler", remaining_ms=_remaining_ms(context))
    except StoreUnavailable as exc:
        service.logger.error("cleanup_completed", extra={
            "source": "scheduler", "cleanupStatus": "failed", "store": exc.store,
            "cause": type(exc.cause).__name__ if exc.cause else None,
            "durationMs": round((time.perf_counter() - start) * 1000, 1)})
        raise CleanupFailed(f"the {exc.store} store is unavailable; nothing more was deleted") from None
    service.logger.info("cleanup_completed", extra={
        **{k: v for k, v in log_fields(report).items() if v is not None},
        "durationMs": round((time.perf_counter() - start) * 1000, 1)})
    _warn_if_many(report)
    return wire_report(report)


def handler(event: Any, context: Any) -> dict[str, Any]:  # Any: the scheduler's event, or a request
    if isinstance(event, dict) and "requestContext" not in event:
        return handle_scheduled(event, context)
    return service.handle_http(event, context)
