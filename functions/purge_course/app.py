"""purge_course: remove a course and everything it owns, in every store (API.md, functions/purge_course)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from ..platform.auth import Principal
from ..platform.http import (
    Service,
    current_admin,
    current_idempotency,
    current_principal,
    json_response,
    make_app,
    note,
    ok,
    operation,
    replay_headers,
)
from ..platform.idempotency import Idempotency, key_reused
from ..platform.metrics import record
from ..platform.settings import get_settings
from ..platform.timestamps import iso
from ..purge import registry
from ..purge.orphans import Slice
from ..purge.service import CoursePurges, PurgeAnswer
from ..wiring import process
from .models import (
    OrphanRequest,
    OrphanScan,
    OrphansQueued,
    Purged,
    PurgePending,
    PurgeStatus,
    RetryReport,
    RetryRequest,
)

get_settings()  # the container's init: a malformed setting fails here, once, naming the variable
app = make_app("purge_course")

Caller = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(current_admin)]
Key = Annotated[Optional[Idempotency], Depends(current_idempotency)]


def purges() -> CoursePurges:
    return process().course_purges


def wire_answer(answer: PurgeAnswer) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"courseId": str(answer.course_id), "status": answer.status,
                            "result": registry.result_of(answer.removed)}
    if answer.status == "purged":
        body["durationMs"] = answer.duration_ms
    if answer.status != "pending":
        return 200, body
    return 202, {**body, "failedSteps": [{"step": f.step, "error": f.error} for f in answer.failed_steps],
                 "attempts": answer.attempts, "nextAttemptAt": iso(answer.next_attempt_at)}


def first_answer(caller: Principal, key: Optional[Idempotency],
                 run: Callable[[], tuple[int, dict[str, Any]]]) -> tuple[int, dict[str, Any], bool]:
    """The answer of `run()`, or, for a repeat of an Idempotency-Key, the first one (status, body,
    replayed). The purge is idempotent by itself; the key only makes a repeat answer as the first call did."""
    answers = process().answers
    if key is None:
        status, body = run()
        return status, body, False
    from ..drafts.model import KeyReused

    try:
        stored = answers.recall(caller.label, key)
        if stored is not None:
            return stored["status"], stored["body"], True
        status, body = run()
        kept = answers.remember(caller.label, key, {"status": status, "body": body})
    except KeyReused:
        raise key_reused() from None
    replayed = kept != {"status": status, "body": body}  # a parallel call with the key was first
    return kept["status"], kept["body"], replayed


@app.delete("/courses/<course_id>", summary="Purge a course from every store (dryRun: only count)",
            responses={**ok(200, Purged, "Purged, already purged, or (dryRun=true) what would be removed"),
                       **ok(202, PurgePending, "Deleted; a store failed and is retried automatically")})
@operation("course_purged")
def purge_course(course_id: uuid.UUID, caller: Caller, key: Key,
                 dryRun: Annotated[bool, Query()] = False) -> Response[str]:  # noqa: N803
    if dryRun:
        note(event="course_purge_dry_run")
    status, body, replayed = first_answer(
        caller, key, lambda: wire_answer(purges().purge(caller, course_id, dry_run=dryRun)))
    failed = [f["step"] for f in body.get("failedSteps", [])]
    note(course=course_id, purge=body["status"],
         failedSteps=failed, replayed=replayed or None, **body["result"])
    if not replayed and body["status"] in ("purged", "pending"):  # this call attempted the purge
        record("PurgeAttempts")
        record("CoursesPurged", int(body["status"] == "purged"))
        for step in failed:
            record("PurgeStepFailures", step=step)
    return json_response(status, body, replay_headers(replayed))


@app.get("/courses/<course_id>/purge", summary="Read the purge status of a deleted course",
         responses=ok(200, PurgeStatus))
@operation("purge_status_read")
def purge_status(course_id: uuid.UUID, caller: Caller) -> Response[str]:
    queued = purges().status(caller, course_id)
    purged = queued.status == "purged"
    note(course=course_id, purge=queued.status)
    return json_response(200, {
        "courseId": str(course_id),
        "status": "purged" if purged else "pending",  # 'running' is pending to the caller
        "attempts": queued.attempts,
        "lastError": queued.last_error,
        "result": registry.result_of(queued.removed),
        "reason": queued.reason,
        "deletedAt": iso(queued.deleted_at),
        "purgedAt": iso(queued.purged_at),
        "nextAttemptAt": None if purged else iso(queued.next_attempt_at),
        "steps": {name: queued.steps[name].done if name in queued.steps else False for name in registry.names()},
    })


@app.post("/purges/retry", summary="Run the purge worker now, backoff or not (admin)",
          responses=ok(200, RetryReport))
@operation("purges_retried")
def retry_purges(admin: Admin, body: Annotated[Optional[RetryRequest], Body()] = None) -> Response[str]:
    report = purges().retry(body.courseIds if body and body.courseIds else None)
    reply = {"processed": report.processed, "purged": report.purged, "stillPending": report.still_pending,
             "failed": report.failed}
    note(**reply)
    record("PurgeAttempts", report.processed)
    record("CoursesPurged", report.purged)
    for step, count in report.failures_by_step().items():
        record("PurgeStepFailures", count, step=step)
    return json_response(200, reply)


def wire_orphans(found: Slice) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for store, per_course in found.orphans.items():
        entry: dict[str, Any] = {"courseIds": sorted(per_course), "count": sum(c.count for c in per_course.values())}
        if registry.store(store).bytes_key:
            entry["bytes"] = sum(c.bytes for c in per_course.values())
        out[store] = entry
    return out


def record_orphans(found: Slice) -> None:
    for store, per_course in found.orphans.items():
        record("OrphansFound", len(per_course), store=store)


def _paging(found: Slice) -> dict[str, Any]:
    body: dict[str, Any] = {"complete": found.complete, "deferred": found.deferred}
    if not found.complete:
        body["cursor"] = found.cursor
    return body


@app.post("/orphans/scan", summary="Find data of courses that no longer exist, one bounded slice (admin, report only)",
          responses=ok(200, OrphanScan))
@operation("orphans_scanned")
def scan_orphans(admin: Admin, body: Annotated[Optional[OrphanRequest], Body()] = None) -> Response[str]:
    body = body or OrphanRequest()
    found = purges().scan_orphans(tuple(body.stores) if body.stores else None, body.cursor)
    note(complete=found.complete, deferred=found.deferred,
         **{f"{store}Orphans": len(per_course) for store, per_course in found.orphans.items()})
    record_orphans(found)
    return json_response(200, {"orphans": wire_orphans(found), **_paging(found)})


@app.post("/orphans/purge", summary="Queue the orphans of one bounded slice for the purge worker (admin)",
          responses=ok(200, OrphansQueued))
@operation("orphans_queued")
def purge_orphans(admin: Admin, body: Annotated[Optional[OrphanRequest], Body()] = None) -> Response[str]:
    body = body or OrphanRequest()
    done = purges().purge_orphans(tuple(body.stores) if body.stores else None, body.cursor)
    record_orphans(done.found)
    note(queued=done.queued, complete=done.found.complete, deferred=done.found.deferred)
    return json_response(200, {"queued": done.queued, **_paging(done.found)})


service = Service("purge_course", app, lambda: process().authenticator)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return service.handle_http(event, context)

