"""draft_session: the course-creation form as a Redis draft session (API.md, functions/draft_session)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Optional

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..drafts.model import Changes, Session, Storage, Summary, Written
from ..drafts.service import DraftSessions
from ..platform.auth import Principal
from ..platform.errors import NotFound
from ..platform.http import (
    Service,
    current_idempotency,
    current_user,
    json_response,
    make_app,
    no_content,
    note,
    ok,
    operation,
    replay_headers,
)
from ..platform.http.responses import dumps
from ..platform.idempotency import Idempotency
from ..platform.metrics import record
from ..platform.settings import get_settings
from ..platform.timestamps import iso_ms
from ..wiring import process
from .models import CreateDraft, FormData, Materialize, Materialized, PatchDraft, SessionList
from .models import Session as SessionModel

get_settings()  # the container's init: a malformed setting fails here, once, naming the variable
app = make_app("draft_session")

User = Annotated[Principal, Depends(current_user)]
Key = Annotated[Optional[Idempotency], Depends(current_idempotency)]


def sessions() -> DraftSessions:
    return process().draft_sessions


def user_id(user: Principal) -> uuid.UUID:
    """The caller's user id (current_user lets no principal without one through)."""
    assert user.user_id is not None
    return user.user_id


def wire_session(s: Session) -> dict[str, Any]:
    return {"sessionId": str(s.session_id), "organizationId": str(s.organization_id) if s.organization_id else None,
            "storage": s.storage.value, "createdAt": iso_ms(s.created_ms), "updatedAt": iso_ms(s.updated_ms),
            "expiresAt": iso_ms(s.expires_ms), "version": s.version, "formData": s.form, "state": s.state.value,
            "courseId": str(s.course_id) if s.course_id else None}


def wire_summary(s: Summary) -> dict[str, Any]:
    return {"sessionId": str(s.session_id), "topic": s.topic, "updatedAt": iso_ms(s.updated_ms),
            "expiresAt": iso_ms(s.expires_ms)}


def changes_of(form: Optional[FormData]) -> Changes:
    if form is None:
        return Changes()
    set_fields, remove = form.changes()
    return Changes(set_fields, tuple(remove))


@contextmanager
def _session_read() -> Iterator[None]:
    """A read of one session: a miss (404: expired, evicted, never there) is counted; a hit writes
    the session's SessionBytes."""
    try:
        yield
    except NotFound:
        record("SessionMisses")
        raise


def _session_response(status: int, written: Written[Session], **headers: str) -> Response[str]:
    s = written.value
    note(session=s.session_id, storage=s.storage.value, version=s.version, replayed=written.replayed or None)
    record("SessionBytes", len(dumps(s.form).encode()))
    return json_response(status, wire_session(s), {**headers, **replay_headers(written.replayed)})


@app.post("/drafts", summary="Open a draft session", responses=ok(201, SessionModel))
@operation("draft_created")
def create_draft(user: User, key: Key, body: Annotated[Optional[CreateDraft], Body()] = None) -> Response[str]:
    form = changes_of(body.formData if body else None).set
    written = sessions().create(user_id(user), form, key)
    if written.value.storage is Storage.DATABASE:
        record("DatabaseFallback")
    return _session_response(201, written, Location=f"/drafts/{written.value.session_id}")


@app.get("/drafts", summary="List the caller's open draft sessions", responses=ok(200, SessionList))
@operation("drafts_listed")
def list_drafts(user: User) -> Response[str]:
    items = sessions().list(user_id(user))
    note(count=len(items))
    return json_response(200, {"sessions": [wire_summary(s) for s in items]})


@app.get("/drafts/<session_id>", summary="Read a draft session", responses=ok(200, SessionModel))
@operation("draft_read")
def get_draft(session_id: uuid.UUID, user: User) -> Response[str]:
    with _session_read():
        return _session_response(200, Written(sessions().get(user_id(user), session_id)))


@app.patch("/drafts/<session_id>", summary="Autosave: merge fields into a draft session",
           responses=ok(200, SessionModel))
@operation("draft_saved")
def patch_draft(session_id: uuid.UUID, user: User, key: Key, body: Annotated[PatchDraft, Body()]) -> Response[str]:
    changes = changes_of(body.formData)
    note(fields=len(changes.set) + len(changes.remove))
    with _session_read():
        return _session_response(200, sessions().patch(user_id(user), session_id, changes, body.version, key))


@app.delete("/drafts/<session_id>", summary="Discard a draft session", responses={204: {"description": "Deleted"}})
@operation("draft_deleted")
def delete_draft(session_id: uuid.UUID, user: User, key: Key) -> Response[str]:
    note(session=session_id)
    written = sessions().delete(user_id(user), session_id, key)
    note(replayed=written.replayed or None)
    return no_content(replay_headers(written.replayed))


@app.post("/drafts/<session_id>/materialize", summary="Create the course row (once) from a draft session",
          responses={**ok(201, Materialized, "Created now"), **ok(200, Materialized, "Materialized before")})
@operation("draft_materialized")
def materialize(session_id: uuid.UUID, user: User, key: Key,
                body: Annotated[Materialize, Body()]) -> Response[str]:
    note(session=session_id, reason=body.reason)
    written = sessions().materialize(user_id(user), session_id, body.reason, changes_of(body.formData), key)
    ref = written.value
    note(course=ref.course_id, created=ref.created, replayed=written.replayed or None)
    record("CoursesMaterialized", int(ref.created))
    return json_response(201 if ref.created else 200, {
        "courseId": str(ref.course_id), "slug": ref.slug, "sessionId": str(session_id), "created": ref.created},
        replay_headers(written.replayed))


service = Service("draft_session", app, lambda: process().authenticator)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return service.handle_http(event, context)
