"""cleanup_drafts: the hourly draft cleanup (API.md, functions/cleanup_drafts).

Two doors to one run: the EventBridge Scheduler event (any event without `requestContext`; only
the scheduler's role can invoke the function that way) and admin-only HTTP routes.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..shared.auth import Principal
from ..shared.errors import StoreUnavailable
from ..shared.http import Service, current_admin, json_response, make_app, note, ok
from ..shared.settings import get_settings
from ..shared.stores.draft_cleanup import PostgresDraftCleanup
from ..shared.stores.draft_sessions import RedisSessionStore
from .models import CleanupRequest, CleanupResult, Health
from .service import HIGH_DELETIONS, CleanupReport, DraftCleanup

get_settings()  # the container's init: a malformed setting fails here, once, naming the variable
app = make_app("cleanup_drafts")
_service: Optional[DraftCleanup] = None

Admin = Annotated[Principal, Depends(current_admin)]


def cleanup() -> DraftCleanup:
    global _service
    if _service is None:
        # cheap to import: the purge's store clients load only when a drain runs
        from ..shared.purge import drain_queue, orphan_health, sweep_orphans_slice

        _service = DraftCleanup(PostgresDraftCleanup(), RedisSessionStore(), drain_queue, get_settings(),
                                sweep=sweep_orphans_slice, orphans=orphan_health)
    return _service


def _remaining_ms(context: Any) -> Optional[int]:
    """Lambda's time left (None locally, where the dev server passes no context)."""
    getter = getattr(context, "get_remaining_time_in_millis", None)
    return getter() if callable(getter) else None


def _warn_if_many(report: CleanupReport) -> None:
    if report.deleted > HIGH_DELETIONS and not report.dry_run:
        service.logger.warning("cleanup_high_deletions", extra={
            "deleted": report.deleted, "threshold": HIGH_DELETIONS, "source": report.source,
            "cutoffTime": report.as_response()["cutoffTime"]})


@app.post("/cleanup", summary="Delete expired unused drafts now (or count them: dryRun)",
          responses=ok(200, CleanupResult))
def run_cleanup(admin: Admin, body: Annotated[Optional[CleanupRequest], Body()] = None):
    body = body or CleanupRequest()
    report = cleanup().run(source="http", dry_run=body.dryRun, max_age_hours=body.maxAgeHours,
                           remaining_ms=_remaining_ms(getattr(app, "lambda_context", None)))
    note(event="cleanup_completed", **report.log_fields())
    _warn_if_many(report)
    return json_response(200, report.as_response())


@app.get("/health", summary="The cleanup's health indicators", responses=ok(200, Health))
def health(admin: Admin):
    result = cleanup().health()
    note(event="cleanup_health", health=result["status"],
         unhealthy=sorted(k for k, v in result["indicators"].items() if v["status"] != "healthy") or None)
    return json_response(200, result)


service = Service("cleanup_drafts", app)


class CleanupFailed(RuntimeError):
    """The scheduled run could not run. Raised, not returned: no one reads a scheduled invocation's
    answer, while a Lambda error is counted (the Errors alarm) and retried by the async invoke."""


def handle_scheduled(event: dict, context: Any) -> dict:
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
        **{k: v for k, v in report.log_fields().items() if v is not None},
        "durationMs": round((time.perf_counter() - start) * 1000, 1)})
    _warn_if_many(report)
    return report.as_response()


def handler(event, context):
    if isinstance(event, dict) and "requestContext" not in event:
        return handle_scheduled(event, context)
    return service.handle_http(event, context)
