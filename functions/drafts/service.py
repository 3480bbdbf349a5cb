"""Draft sessions: the course-creation form lives here until a course is really needed.

The life cycle (model.py, docs/DRAFTS.md) over two session stores with one interface (ports.py):
Redis, and the database fallback (DRAFT_DB_FALLBACK) for when Redis is unreachable. Free of HTTP and
of any store's client; it raises the contract's errors of functions.platform.errors.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, Optional, TypedDict, TypeVar

from ..platform.errors import (
    AlreadyMaterialized,
    ApiError,
    Forbidden,
    NotFound,
    RateLimited,
    StoreUnavailable,
    VersionConflict,
)
from ..platform.idempotency import key_reused
from ..platform.settings import Settings
from .model import (
    Changes,
    CourseRef,
    CreatesRateLimited,
    Idempotency,
    KeyReused,
    Materializing,
    NewCourse,
    NoOrganization,
    Refusal,
    Session,
    SessionClosed,
    SessionMissing,
    Summary,
    TooManySessions,
    VersionMismatch,
    Written,
)
from .ports import Courses, FallbackStore, SessionStore

log = logging.getLogger(__name__)
ORG_CACHE_SECONDS = 300  # only for a new session's organizationId; a course reads users at its insert
T = TypeVar("T")


class _Limits(TypedDict):
    """The keyword arguments of SessionStore.create beyond the session itself."""

    now_ms: int
    ttl_ms: int
    idem: Optional[Idempotency]
    max_sessions: int
    max_per_minute: int


class DraftSessions:
    def __init__(self, sessions: SessionStore, fallback: FallbackStore, courses: Courses, settings: Settings,
                 clock: Callable[[], float] = time.time):
        self.sessions = sessions  # Redis
        self.fallback = fallback  # the database: sessions created while Redis was down, and every course row
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
        """users.organization_id, cached per container for a few minutes (a new session shows it)."""
        cached = self._orgs.get(user_id)
        if cached and cached[1] > self.clock():
            return cached[0]
        org = self.courses.organization_of(user_id)
        self._orgs[user_id] = (org, self.clock() + ORG_CACHE_SECONDS)
        return org

    def _title(self, form: dict[str, Any]) -> str:
        return (form.get("topic") or "").strip() or self.settings.default_course_title

    def _falls_back(self, exc: StoreUnavailable) -> bool:
        """Whether Redis's failure sends this call to the database store. A misconfiguration (a wrong
        password, an untrusted certificate) is not an outage: no fallback hides it."""
        return self.settings.draft_db_fallback and not exc.misconfigured

    def _on_either(self, op: Callable[[SessionStore], T]) -> T:
        """Run `op` on the store that has the session: Redis, else the database.

        Redis answering "missing" sends the call to the database, which holds the fallback sessions
        and every course row (a Redis session's tombstone can be gone while its course exists).
        Redis down sends it there too when the fallback is on; if the database does not have the
        session either, Redis's failure is the answer (the session may well be there).
        """
        try:
            return op(self.sessions)
        except SessionMissing:
            return op(self.fallback)
        except StoreUnavailable as down:
            if not self._falls_back(down):
                raise
            try:
                return op(self.fallback)
            except SessionMissing:
                raise down from None

    # --- the operations of the API ---

    def create(self, user_id: uuid.UUID, form: dict[str, Any], idem: Optional[Idempotency] = None) -> Written[Session]:
        try:
            org = self.organization_of(user_id)
        except StoreUnavailable:
            org = None  # sessions must not depend on Postgres; the course reads users again
        else:
            if org is None:
                raise _no_organization()
        with _refusals():
            if idem is not None and self.settings.draft_db_fallback and org is not None:
                # A create answered from the database while Redis was down, retried now it is back.
                replay = self.fallback.replay_of(user_id, idem)
                if replay is not None:
                    return replay
            limits = _Limits(now_ms=self._now_ms(), ttl_ms=self._ttl_ms, idem=idem,
                             max_sessions=self.settings.draft_max_sessions_per_user,
                             max_per_minute=self.settings.draft_max_creates_per_minute)
            try:
                return self.sessions.create(user_id, uuid.uuid4(), org, form, **limits)
            except StoreUnavailable as down:
                if not self._falls_back(down):
                    raise
                log.warning("redis down (%s): draft created in the database (DRAFT_DB_FALLBACK)", down.reason)
                # A fresh id: the Redis create that failed can never surface under the id given here.
                return self.fallback.create(user_id, uuid.uuid4(), org, form, **limits)

    def list(self, user_id: uuid.UUID) -> list[Summary]:
        now = self._now_ms()
        found = self.sessions.list(user_id, now_ms=now)
        if self.settings.draft_db_fallback:
            try:
                found += self.fallback.list(user_id, now_ms=now)
            except StoreUnavailable:
                pass  # the Redis sessions are the common case; do not fail the list for the rest
        return sorted(found, key=lambda s: s.updated_ms, reverse=True)

    def get(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Session:
        def read(store: SessionStore) -> Session:
            found = store.get(user_id, session_id)
            if found is None:
                raise SessionMissing()
            return found

        with _refusals():
            return self._on_either(read)

    def patch(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, version: Optional[int],
              idem: Optional[Idempotency] = None) -> Written[Session]:
        with _refusals():
            return self._on_either(lambda store: store.patch(
                user_id, session_id, changes, expected_version=version, now_ms=self._now_ms(), ttl_ms=self._ttl_ms,
                idem=idem))

    def delete(self, user_id: uuid.UUID, session_id: uuid.UUID, idem: Optional[Idempotency] = None) -> Written[None]:
        with _refusals():
            return self._on_either(lambda store: store.delete(user_id, session_id, idem=idem))

    def materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, reason: str, changes: Changes,
                    idem: Optional[Idempotency] = None) -> Written[CourseRef]:
        """Create the session's course exactly once: take the snapshot and close the session in one
        step, commit the row, then leave the tombstone. Never delete first."""
        attempt = uuid.uuid4().hex
        holder: list[SessionStore] = []

        def begin(store: SessionStore) -> Written[Materializing]:
            begun = store.begin_materialize(user_id, session_id, changes, course_id=uuid.uuid4(), reason=reason,
                                            attempt=attempt, now_ms=self._now_ms(), idem=idem)
            holder.append(store)
            return begun

        with _refusals():
            begun = self._on_either(begin)
            store, m = holder[-1], begun.value
            if m.course is not None:  # committed before (or by the store itself): nothing to insert
                if begun.replayed or m.session is None:
                    return Written(m.course, begun.replayed)
                return self._finish(store, user_id, session_id, m.course, idem)
            course = self._insert(store, user_id, session_id, m, attempt)
            return self._finish(store, user_id, session_id, course, idem)

    def _insert(self, store: SessionStore, user_id: uuid.UUID, session_id: uuid.UUID, m: Materializing,
                attempt: str) -> CourseRef:
        assert m.session is not None
        form = m.session.form
        try:
            return self.courses.create(NewCourse(
                course_id=m.course_id, session_id=session_id, user_id=user_id, title=self._title(form),
                language=form.get("language"), form=form, reason=m.reason))
        except NoOrganization:
            self._reopen(store, user_id, session_id, attempt, checked=True)
            raise
        except StoreUnavailable as exc:
            if exc.applied is False:  # the insert never reached Postgres
                self._reopen(store, user_id, session_id, attempt, checked=False)
            raise  # applied=None: it may have committed; the next materialize resumes, exactly once

    def _reopen(self, store: SessionStore, user_id: uuid.UUID, session_id: uuid.UUID, attempt: str,
                *, checked: bool) -> None:
        try:
            store.reopen(user_id, session_id, attempt=attempt, checked=checked)
        except StoreUnavailable:
            log.warning("materialize failed and the session could not be reopened; the next call resumes it")

    def _finish(self, store: SessionStore, user_id: uuid.UUID, session_id: uuid.UUID, course: CourseRef,
                idem: Optional[Idempotency]) -> Written[CourseRef]:
        try:
            return store.finish_materialize(user_id, session_id, course, idem=idem)
        except StoreUnavailable:
            # The row is committed: the answer holds. The session stays "materializing" (saves are
            # refused with 409 naming this course) until a repeat leaves the tombstone.
            log.warning("materialized, but the tombstone could not be left in redis yet")
            return Written(course)


class _refusals:
    """The stores' refusals as the contract's errors (a context manager, so each call site is one line)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> Literal[False]:  # never swallows: it raises instead
        if not isinstance(exc, Refusal):
            return False
        err = _error_of(exc)
        err.replayed = exc.replayed
        raise err from None


def _error_of(refusal: Refusal) -> ApiError:
    if isinstance(refusal, SessionMissing):
        return NotFound("No such draft session (it may have expired).")
    if isinstance(refusal, VersionMismatch):
        return VersionConflict("The draft was changed elsewhere; reload it and apply your change again.",
                               details=[{"field": "version", "message": f"current version is {refusal.current}"}])
    if isinstance(refusal, SessionClosed):
        course = str(refusal.course_id) if refusal.course_id else None
        being = "is being created" if refusal.state.value == "materializing" else "exists"
        return AlreadyMaterialized(
            f"This draft was submitted: its course {being}, so it takes no more changes.",
            details=[{"field": "sessionId", "courseId": course, "state": refusal.state.value,
                      "message": f"materialized as course {course}"}])
    if isinstance(refusal, TooManySessions):
        return RateLimited("You have too many open drafts; finish or delete one first.", retry_after=60,
                           code="too_many_sessions")
    if isinstance(refusal, CreatesRateLimited):
        return RateLimited("Too many new drafts this minute.", retry_after=max(1, refusal.retry_after_ms // 1000 + 1))
    if isinstance(refusal, KeyReused):
        return key_reused()
    if isinstance(refusal, NoOrganization):
        return _no_organization()
    raise TypeError(f"unmapped refusal {type(refusal).__name__}")


def _no_organization() -> Forbidden:
    return Forbidden("Your user belongs to no organization, so it cannot create courses.")
