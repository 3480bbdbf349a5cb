"""draft_session: the course-creation form as a Redis draft session (API.md, functions/draft_session)."""

from __future__ import annotations

import uuid
from typing import Annotated, Optional

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body

from ..shared.auth import Principal
from ..shared.http import Service, current_user, json_response, make_app, no_content, note, ok
from ..shared.settings import get_settings
from ..shared.stores.courses import PostgresCourses
from ..shared.stores.draft_sessions import RedisSessionStore
from .models import CreateDraft, Materialize, Materialized, PatchDraft, Session, SessionList
from .service import DraftSessions

app = make_app("draft_session")
_service: Optional[DraftSessions] = None

User = Annotated[Principal, Depends(current_user)]


def sessions() -> DraftSessions:
    global _service
    if _service is None:
        _service = DraftSessions(RedisSessionStore(), PostgresCourses(), get_settings())
    return _service


def _session_response(status: int, session: dict, **headers: str):
    note(session=session["sessionId"], storage=session["storage"], version=session["version"])
    return json_response(status, session, headers)


@app.post("/drafts", summary="Open a draft session", responses=ok(201, Session))
def create_draft(user: User, body: Annotated[Optional[CreateDraft], Body()] = None):
    form = body.formData.changes()[0] if body and body.formData else {}
    session = sessions().create(user.user_id, form)
    note(event="draft_created")
    return _session_response(201, session, Location=f"/drafts/{session['sessionId']}")


@app.get("/drafts", summary="List the caller's open draft sessions", responses=ok(200, SessionList))
def list_drafts(user: User):
    items = sessions().list(user.user_id)
    note(event="drafts_listed", count=len(items))
    return json_response(200, {"sessions": items})


@app.get("/drafts/<session_id>", summary="Read a draft session", responses=ok(200, Session))
def get_draft(session_id: uuid.UUID, user: User):
    note(event="draft_read")
    return _session_response(200, sessions().get(user.user_id, session_id))


@app.patch("/drafts/<session_id>", summary="Autosave: merge fields into a draft session", responses=ok(200, Session))
def patch_draft(session_id: uuid.UUID, user: User, body: Annotated[PatchDraft, Body()]):
    set_fields, remove = body.formData.changes()
    note(event="draft_saved", fields=len(set_fields) + len(remove))
    return _session_response(200, sessions().patch(user.user_id, session_id, set_fields, remove, body.version))


@app.delete("/drafts/<session_id>", summary="Discard a draft session", responses={204: {"description": "Deleted"}})
def delete_draft(session_id: uuid.UUID, user: User):
    sessions().delete(user.user_id, session_id)
    note(event="draft_deleted", session=session_id)
    return no_content()


@app.post("/drafts/<session_id>/materialize", summary="Create the course row (once) from a draft session",
          responses={**ok(201, Materialized, "Created now"), **ok(200, Materialized, "Materialized before")})
def materialize(session_id: uuid.UUID, user: User, body: Annotated[Materialize, Body()]):
    set_fields, remove = body.formData.changes() if body.formData else ({}, [])
    ref = sessions().materialize(user.user_id, session_id, body.reason, set_fields, remove)
    note(event="draft_materialized", session=session_id, course=ref.course_id, created=ref.created, reason=body.reason)
    return json_response(201 if ref.created else 200, {
        "courseId": str(ref.course_id), "slug": ref.slug, "sessionId": str(session_id), "created": ref.created})


service = Service("draft_session", app)


def handler(event, context):
    return service.handle_http(event, context)
