"""Draft sessions: the course-creation form lives here until a course is really needed.

Free of HTTP and of any store's client: it talks to a session store and a course repository
(functions.shared.stores) and raises the domain errors of functions.shared.errors.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Optional

from ..shared.errors import Forbidden, NotFound, RateLimited, StoreUnavailable, VersionConflict
from ..shared.settings import Settings
from ..shared.stores.courses import CourseRef, NewCourse
from ..shared.stores.draft_sessions import StoreOutcome

log = logging.getLogger(__name__)
ORG_CACHE_SECONDS = 300


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DraftSessions:
    def __init__(self, store, courses, settings: Settings, clock: Callable[[], float] = time.time):
        self.store = store
        self.courses = courses
        self.settings = settings
        self.clock = clock
        self._orgs: dict[uuid.UUID, tuple[Optional[uuid.UUID], float]] = {}

    # --- helpers ---

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def _ttl_ms(self) -> int:
        return self.settings.draft_ttl_seconds * 1000

    def organization_of(self, user_id: uuid.UUID) -> Optional[uuid.UUID]:
        """users.organization_id, cached per container for a few minutes (it rarely changes)."""
        cached = self._orgs.get(user_id)
        if cached and cached[1] > self.clock():
            return cached[0]
        org = self.courses.organization_of(user_id)
        self._orgs[user_id] = (org, self.clock() + ORG_CACHE_SECONDS)
        return org

    def _require_org(self, user_id: uuid.UUID) -> uuid.UUID:
        org = self.organization_of(user_id)
        if org is None:
            raise Forbidden("Your user belongs to no organization, so it cannot create courses.")
        return org

    def _title(self, form: dict[str, Any]) -> str:
        return (form.get("topic") or "").strip() or self.settings.default_course_title

    def _redis_session(self, s: dict[str, Any]) -> dict[str, Any]:
        return {"sessionId": s["sessionId"], "organizationId": s["organizationId"], "storage": "redis",
                "createdAt": iso(s["createdAt"]), "updatedAt": iso(s["updatedAt"]),
                "expiresAt": iso(s["expiresAt"]), "version": s["version"], "formData": s["formData"]}

    def _db_session(self, row: dict[str, Any]) -> dict[str, Any]:
        created = datetime.fromisoformat(row["createdAt"].replace("Z", "+00:00"))
        expires = created + timedelta(hours=self.settings.cleanup_max_age_hours)
        return {"sessionId": row["sessionId"], "organizationId": row["organizationId"], "storage": "database",
                "createdAt": row["createdAt"], "updatedAt": row["updatedAt"],
                "expiresAt": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "version": row["version"], "formData": row["formData"]}

    def _fallback_row(self, user_id: uuid.UUID, session_id: uuid.UUID, redis_down: bool) -> dict[str, Any]:
        """A session Redis does not have: a database-stored one, or nothing (404, or 503 if unsure)."""
        row = self.courses.get_fallback(user_id, session_id) if self.settings.draft_db_fallback else None
        if row:
            return row
        if redis_down:
            raise StoreUnavailable("redis")
        raise NotFound("No such draft session (it may have expired).")

    # --- the operations of the API ---

    def create(self, user_id: uuid.UUID, form: dict[str, Any]) -> dict[str, Any]:
        session_id = uuid.uuid4()
        try:
            org = self.organization_of(user_id)
        except StoreUnavailable:
            org = None  # sessions must not depend on Postgres; materialize resolves it again
        else:
            if org is None:
                raise Forbidden("Your user belongs to no organization, so it cannot create courses.")
        now = self._now_ms()
        try:
            s = self.store.create(
                str(user_id), str(session_id), str(org) if org else None, form, now_ms=now, ttl_ms=self._ttl_ms,
                max_sessions=self.settings.draft_max_sessions_per_user,
                max_per_minute=self.settings.draft_max_creates_per_minute)
        except StoreOutcome as out:
            if out.kind == "too_many_sessions":
                raise RateLimited(
                    f"You have {self.settings.draft_max_sessions_per_user} open drafts; finish or delete one first.",
                    retry_after=60, code="too_many_sessions") from None
            raise RateLimited("Too many new drafts this minute.", retry_after=max(1, (out.value or 1000) // 1000 + 1)) from None
        except StoreUnavailable:
            if not self.settings.draft_db_fallback:
                raise
            return self._create_in_database(user_id, session_id, form, now)
        return self._redis_session(s)

    def _create_in_database(self, user_id: uuid.UUID, session_id: uuid.UUID, form: dict, now: int) -> dict:
        org = self._require_org(user_id)  # Postgres down too: StoreUnavailable, a 503
        log.warning("redis down: draft created in the database (DRAFT_DB_FALLBACK)")
        created = self.courses.create_fallback(
            NewCourse(session_id=session_id, user_id=user_id, organization_id=org, title=self._title(form),
                      language=form.get("language"), form=form, reason="fallback"), now_iso=iso(now),
            session_limit=self.settings.draft_max_sessions_per_user)
        if created is None:  # the limit holds in the fallback too: each of these is a courses row
            raise RateLimited(
                f"You have {self.settings.draft_max_sessions_per_user} open drafts; finish or delete one first.",
                retry_after=60, code="too_many_sessions")
        return self._db_session(self.courses.get_fallback(user_id, session_id))

    def list(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        now = self._now_ms()
        sessions = [{"sessionId": s["sessionId"], "topic": s["topic"], "updatedAt": iso(s["updatedAt"]),
                     "expiresAt": iso(s["expiresAt"])} for s in self.store.list(str(user_id), now_ms=now)]
        if self.settings.draft_db_fallback:
            try:
                rows = self.courses.list_fallback(user_id)
            except StoreUnavailable:
                rows = []  # the Redis sessions are the common case; do not fail the list for the rest
            for row in rows:
                sessions.append({"sessionId": row["sessionId"], "topic": row["topic"],
                                 "updatedAt": row["updatedAt"], "expiresAt": None})
        return sorted(sessions, key=lambda s: s["updatedAt"], reverse=True)

    def get(self, user_id: uuid.UUID, session_id: uuid.UUID) -> dict[str, Any]:
        redis_down = False
        try:
            s = self.store.get(str(user_id), str(session_id))
            if s:
                return self._redis_session(s)
        except StoreUnavailable:
            if not self.settings.draft_db_fallback:
                raise
            redis_down = True
        return self._db_session(self._fallback_row(user_id, session_id, redis_down))

    def patch(self, user_id: uuid.UUID, session_id: uuid.UUID, set_fields: dict, remove: list[str],
              version: Optional[int]) -> dict[str, Any]:
        redis_down = False
        try:
            s = self.store.patch(str(user_id), str(session_id), set_fields, remove, expected_version=version,
                                 now_ms=self._now_ms(), ttl_ms=self._ttl_ms)
            return self._redis_session(s)
        except StoreOutcome as out:
            if out.kind == "version_conflict":
                raise _conflict(out.value) from None
        except StoreUnavailable:
            if not self.settings.draft_db_fallback:
                raise
            redis_down = True
        row = self._fallback_row(user_id, session_id, redis_down)
        merged_topic = set_fields.get("topic", None if "topic" in remove else row["formData"].get("topic"))
        updated = self.courses.patch_fallback(
            user_id, session_id, set_fields, remove, expected_version=version, now_iso=iso(self._now_ms()),
            title=self._title({"topic": merged_topic}))
        if updated is None:
            raise NotFound("No such draft session (it may have expired).")
        if updated.get("conflict"):
            raise _conflict(updated["version"])
        return self._db_session(updated)

    def delete(self, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
        if not self.store.delete(str(user_id), str(session_id)):
            raise NotFound("No such draft session (it may have expired).")

    def materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, reason: str,
                    set_fields: dict, remove: list[str]) -> CourseRef:
        """Create the session's course exactly once; the session is removed only after the commit."""
        session = None
        redis_down = False
        try:
            if set_fields or remove:
                session = self.store.patch(str(user_id), str(session_id), set_fields, remove,
                                           expected_version=None, now_ms=self._now_ms(), ttl_ms=self._ttl_ms)
            else:
                session = self.store.get(str(user_id), str(session_id))
        except StoreOutcome:
            session = None
        except StoreUnavailable:
            if not self.settings.draft_db_fallback:
                raise
            redis_down = True
        if session is None:
            # Already materialized (the session is gone, the row stays), or a database-stored session.
            existing = self.courses.find_by_session(user_id, session_id)
            if existing:
                # A database-stored session still takes the submit's final values; a repeat of an
                # already materialized one answers the row as it is.
                if (set_fields or remove) and self.courses.get_fallback(user_id, session_id):
                    self.patch(user_id, session_id, set_fields, remove, None)
                return existing
            if redis_down:
                raise StoreUnavailable("redis")
            raise NotFound("No such draft session (it may have expired).")
        form = session["formData"]
        ref = self.courses.materialize(NewCourse(
            session_id=session_id, user_id=user_id, organization_id=self._require_org(user_id),
            title=self._title(form), language=form.get("language"), form=form, reason=reason))
        try:
            self.store.delete(str(user_id), str(session_id))
        except StoreUnavailable:
            # The row is committed; the session expires by its TTL and a repeat answers the same row.
            log.warning("materialized, but the session could not be removed from redis yet")
        return ref


def _conflict(current: Optional[int]) -> VersionConflict:
    return VersionConflict("The draft was changed elsewhere; reload it and apply your change again.",
                           details=[{"field": "version", "message": f"current version is {current}"}])
