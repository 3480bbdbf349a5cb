"""purge_course: remove a course and everything it owns, in every store (API.md, functions/purge_course)."""

from __future__ import annotations

import uuid
from typing import Annotated, Optional

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from ..shared.auth import Principal
from ..shared.http import (
    Service, current_admin, current_idempotency, current_principal, json_response, make_app, note, ok, replay_headers)
from ..shared.idempotency import Idempotency
from ..shared.purge import runtime
from ..shared.settings import get_settings
from ..shared.stores.purge_queue import PostgresPurgeQueue
from .models import (OrphanRequest, OrphanScan, OrphansQueued, PurgePending, Purged, PurgeStatus, RetryReport,
                     RetryRequest)
from .service import Answer, CoursePurges

app = make_app("purge_course")
_service: Optional[CoursePurges] = None

Caller = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(current_admin)]
Key = Annotated[Optional[Idempotency], Depends(current_idempotency)]


def purges() -> CoursePurges:
    global _service
    if _service is None:
        from ..shared.stores.idempotency_keys import PostgresAnswers

        _service = CoursePurges(PostgresPurgeQueue(), runtime.worker, get_settings(), make_sweep=runtime.orphan_sweep,
                                answers=PostgresAnswers())
    return _service


def _reply(answer: Answer):
    return json_response(answer.status, answer.body, replay_headers(answer.replayed))


@app.delete("/courses/<course_id>", summary="Purge a course from every store (dryRun: only count)",
            responses={**ok(200, Purged, "Purged, already purged, or (dryRun=true) what would be removed"),
                       **ok(202, PurgePending, "Deleted; a store failed and is retried automatically")})
def purge_course(course_id: uuid.UUID, caller: Caller, key: Key,
                 dryRun: Annotated[bool, Query()] = False):  # noqa: N803
    answer = purges().purge(caller, course_id, dry_run=dryRun, idem=key)
    body = answer.body
    note(event="course_purge_dry_run" if dryRun else "course_purged", course=course_id, purge=body["status"],
         failedSteps=[f["step"] for f in body.get("failedSteps", [])], **body["result"])
    return _reply(answer)


@app.get("/courses/<course_id>/purge", summary="Read the purge status of a deleted course",
         responses=ok(200, PurgeStatus))
def purge_status(course_id: uuid.UUID, caller: Caller):
    answer = purges().status(caller, course_id)
    note(event="purge_status_read", course=course_id, purge=answer.body["status"])
    return _reply(answer)


@app.post("/purges/retry", summary="Run the purge worker now, backoff or not (admin)",
          responses=ok(200, RetryReport))
def retry_purges(admin: Admin, body: Annotated[Optional[RetryRequest], Body()] = None):
    answer = purges().retry(body.courseIds if body and body.courseIds else None)
    note(event="purges_retried", **answer.body)
    return _reply(answer)


@app.post("/orphans/scan", summary="Find data of courses that no longer exist, one bounded slice (admin, report only)",
          responses=ok(200, OrphanScan))
def scan_orphans(admin: Admin, body: Annotated[Optional[OrphanRequest], Body()] = None):
    body = body or OrphanRequest()
    answer = purges().scan_orphans(body.stores, body.cursor)
    found = answer.body["orphans"]
    note(event="orphans_scanned", complete=answer.body["complete"], deferred=answer.body["deferred"],
         **{f"{store}Orphans": len(report["courseIds"]) for store, report in found.items()})
    return _reply(answer)


@app.post("/orphans/purge", summary="Queue the orphans of one bounded slice for the purge worker (admin)",
          responses=ok(200, OrphansQueued))
def purge_orphans(admin: Admin, body: Annotated[Optional[OrphanRequest], Body()] = None):
    body = body or OrphanRequest()
    answer = purges().purge_orphans(body.stores, body.cursor)
    note(event="orphans_queued", queued=answer.body["queued"], complete=answer.body["complete"],
         deferred=answer.body["deferred"])
    return _reply(answer)


service = Service("purge_course", app)


def handler(event, context):
    return service.handle_http(event, context)
