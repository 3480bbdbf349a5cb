"""Draft sessions kept in their own `courses` row: the store of DRAFT_DB_FALLBACK (Redis down).

The same operations and the same life cycle as the Redis store (functions/drafts/model.py),
each one short transaction that locks the row it changes. The row is created at once, as the
platform did before (`status = 'draft'`, id = draft_session_id = the session id);
`settings.draftSession` holds the session's version, times and state. Since the row is the course,
materializing is one step here: the row is committed as materialized, and nothing is left to insert.

Any `courses` row of the session counts here: a Redis session whose tombstone is gone (evicted,
expired) but whose course exists answers "materialized", never "missing".

Idempotency-Key answers live in `idempotency_keys` (sql/migrations/0011), written in the same
transaction as the change they answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, Optional, Union

from ..drafts.model import (
    Changes,
    CourseRef,
    Idempotency,
    KeyReused,
    Materializing,
    NoOrganization,
    Refusal,
    Session,
    SessionClosed,
    SessionMissing,
    State,
    Storage,
    Summary,
    TooManySessions,
    VersionMismatch,
    Written,
)
from ..platform.timestamps import iso_ms, ms_of
from .courses import insert_draft
from .idempotency_keys import claim, store_answer
from .postgres import Connection, Jsonb, Postgres

_ROW = """
SELECT id, organization_id, slug, settings, status, generation_status, created_at, updated_at
FROM courses WHERE draft_session_id = %s AND user_id = %s
"""


class _Row:
    """A session's row, read under its lock."""

    def __init__(self, row: tuple[Any, ...]):
        self.id, self.organization_id, self.slug, self.settings, status, generation, created, updated = row
        self.meta: Optional[dict[str, Any]] = self.settings.get("draftSession")
        self.form: dict[str, Any] = dict(self.settings.get("draftForm") or {})
        opened = self.meta is not None and (self.meta.get("state") or "open") == "open"
        # A row the platform has taken over (generation started, published) is no draft any more.
        self.open = opened and status == "draft" and generation is None
        self.created_ms = ms_of(self.meta["createdAt"]) if self.meta else int(created.timestamp() * 1000)
        self.updated_ms = ms_of(self.meta["updatedAt"]) if self.meta else int(updated.timestamp() * 1000)

    def closed(self) -> SessionClosed:
        return SessionClosed(State.MATERIALIZED, self.id)


class DatabaseSessionStore:
    storage = Storage.DATABASE

    def __init__(self, pg: Postgres, *, default_title: str, lifetime_ms: int):
        self.pg = pg
        self.default_title = default_title
        self.lifetime_ms = lifetime_ms  # a row is removed by the hourly cleanup after CLEANUP_MAX_AGE_HOURS

    # --- helpers ---

    def _title(self, form: dict[str, Any]) -> str:
        return (form.get("topic") or "").strip() or self.default_title

    def _session(self, row: _Row) -> Session:
        return Session(
            session_id=row.id, organization_id=row.organization_id, storage=Storage.DATABASE,
            created_ms=row.created_ms, updated_ms=row.updated_ms, expires_ms=row.created_ms + self.lifetime_ms,
            version=int((row.meta or {}).get("version", 1)), form=row.form,
            state=State.OPEN if row.open else State.MATERIALIZED, course_id=None if row.open else row.id)

    @staticmethod
    def _locked(conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID) -> _Row:
        found = conn.execute(_ROW + " FOR UPDATE", (session_id, user_id)).fetchone()
        if found is None:
            raise SessionMissing()
        return _Row(found)

    # --- the operations ---

    def _keyed(self, user_id: uuid.UUID, idem: Optional[Idempotency],
               work: Callable[[Connection], Union[Refusal, tuple[dict[str, Any], Written[Any]]]]
               ) -> Written[Any]:
        """Run `work` in one transaction under the Idempotency-Key, if any: a key seen before answers
        its first answer again; otherwise what `work` answers (a value, or a refusal it returns
        rather than raises, so that it is kept too) is stored with the change and committed with it."""
        # A Written[Any]: a replayed answer is whatever the key's first call answered.
        outcome: Union[Refusal, Written[Any]]
        with self.pg.connection() as conn:
            replay = claim(conn, str(user_id), idem)
            if replay is not None:
                outcome = self._replayed(replay)
            else:
                done = work(conn)
                if isinstance(done, Refusal):
                    outcome = done
                    store_answer(conn, str(user_id), idem, _refusal_answer(outcome))
                else:
                    answer, outcome = done
                    store_answer(conn, str(user_id), idem, answer)
        if isinstance(outcome, Refusal):
            raise outcome
        return outcome

    def create(self, user_id: uuid.UUID, session_id: uuid.UUID, org_id: Optional[uuid.UUID], form: dict[str, Any],
               *, now_ms: int, ttl_ms: int, max_sessions: int, max_per_minute: int,
               idem: Optional[Idempotency] = None) -> Written[Session]:
        now = iso_ms(now_ms)

        def work(conn: Connection) -> tuple[dict[str, Any], Written[Session]]:
            # The limit holds here too (each of these is a courses row), counted under a lock on the
            # user's row so that parallel creates are counted one after the other.
            conn.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (user_id,))
            held = conn.execute(
                """SELECT count(*) FROM courses WHERE user_id = %s AND status = 'draft' AND generation_status IS NULL
                     AND settings ? 'draftSession' AND coalesce(settings->'draftSession'->>'state', 'open') = 'open'""",
                (user_id,)).fetchone()[0]
            if held >= max_sessions:
                raise TooManySessions()  # not kept: a 429 says "try again later"
            meta = {"storage": "database", "version": 1, "createdAt": now, "updatedAt": now, "state": "open"}
            insert_draft(conn, course_id=session_id, session_id=session_id, user_id=user_id,
                         title=self._title(form), language=form.get("language"),
                         settings={"draftForm": form, "materializedBy": "fallback", "draftSession": meta})
            session = self._session(self._locked(conn, user_id, session_id))
            return _session_answer(session), Written(session)

        return self._keyed(user_id, idem, work)

    def get(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Optional[Session]:
        found = self.pg.fetch_one(_ROW, (session_id, user_id))
        return self._session(_Row(found)) if found else None

    def patch(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, expected_version: Optional[int],
              now_ms: int, ttl_ms: int, idem: Optional[Idempotency] = None) -> Written[Session]:
        def work(conn: Connection) -> Union[Refusal, tuple[dict[str, Any], Written[Session]]]:
            row = self._locked(conn, user_id, session_id)
            if not row.open:
                return row.closed()
            assert row.meta is not None  # an open row has its draftSession
            version = int(row.meta.get("version", 1))
            if expected_version is not None and expected_version != version:
                return VersionMismatch(version)
            meta = {**row.meta, "version": version + 1, "updatedAt": iso_ms(now_ms)}
            self._update(conn, row, _merged(row.form, changes), meta)
            session = self._session(self._locked(conn, user_id, session_id))
            return _session_answer(session), Written(session)

        return self._keyed(user_id, idem, work)

    def delete(self, user_id: uuid.UUID, session_id: uuid.UUID, *, idem: Optional[Idempotency] = None) -> Written[None]:
        def work(conn: Connection) -> Union[Refusal, tuple[dict[str, Any], Written[None]]]:
            row = self._locked(conn, user_id, session_id)
            if not row.open:
                return row.closed()
            # The purge trigger queues it like any deleted course (it owns nothing yet).
            conn.execute("SELECT set_config('app.purge_reason', 'draft_discarded', true)")
            conn.execute("DELETE FROM courses WHERE id = %s", (row.id,))
            return {"deleted": True}, Written(None)

        return self._keyed(user_id, idem, work)

    def begin_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, course_id: uuid.UUID,
                          reason: str, attempt: str, now_ms: int,
                          idem: Optional[Idempotency] = None) -> Written[Materializing]:
        """The whole materialization, in one transaction: the row is already the course."""
        def work(conn: Connection) -> Union[Refusal, tuple[dict[str, Any], Written[Materializing]]]:
            row = self._locked(conn, user_id, session_id)
            if not row.open:
                if _merged(row.form, changes) != row.form:
                    return row.closed()
                course = CourseRef(row.id, row.slug, created=False)
                return _course_answer(course), Written(Materializing(self._session(row), row.id, reason, course))
            assert row.meta is not None  # an open row has its draftSession
            meta = {**row.meta, "state": "materialized", "updatedAt": iso_ms(now_ms),
                    "version": int(row.meta.get("version", 1)) + (1 if changes else 0)}
            # The organization at the moment of use, as for a course created from Redis.
            org = conn.execute("SELECT organization_id FROM users WHERE id = %s", (user_id,)).fetchone()
            if not org or org[0] is None:
                raise NoOrganization()  # rolled back: the row stays an open draft
            self._update(conn, row, _merged(row.form, changes), meta, reason=reason, organization_id=org[0])
            course = CourseRef(row.id, row.slug, created=True)
            session = self._session(self._locked(conn, user_id, session_id))
            return _course_answer(course), Written(Materializing(session, row.id, reason, course))

        done = self._keyed(user_id, idem, work)
        if done.replayed:  # the stored answer is the course
            return Written(Materializing(None, done.value.course_id, reason, done.value), True)
        return done

    def finish_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, course: CourseRef, *,
                           idem: Optional[Idempotency] = None) -> Written[CourseRef]:
        return Written(course)  # committed with begin_materialize

    def reopen(self, user_id: uuid.UUID, session_id: uuid.UUID, *, attempt: str, checked: bool) -> bool:
        return False  # a failed begin_materialize rolled back: the row is still open

    def list(self, user_id: uuid.UUID, *, now_ms: int) -> list[Summary]:
        rows = self.pg.fetch_all(
            """SELECT id, settings->'draftForm'->>'topic', settings->'draftSession'->>'updatedAt',
                      settings->'draftSession'->>'createdAt'
               FROM courses WHERE user_id = %s AND status = 'draft' AND generation_status IS NULL
                 AND settings ? 'draftSession' AND coalesce(settings->'draftSession'->>'state', 'open') = 'open'""",
            (user_id,))
        return [Summary(r[0], r[1], ms_of(r[2]), ms_of(r[3]) + self.lifetime_ms) for r in rows]

    def replay_of(self, user_id: uuid.UUID, idem: Idempotency) -> Optional[Written[Session]]:
        """The stored answer of a create made here earlier with this key (None if there is none):
        a create retried once Redis is back must not open a second session."""
        with self.pg.connection() as conn:
            found = conn.execute(
                """SELECT fingerprint, answer FROM idempotency_keys WHERE scope = %s AND key_hash = %s
                     AND answer IS NOT NULL AND created_at > now() - interval '24 hours'""",
                (str(user_id), idem.key_hash)).fetchone()
        if found is None:
            return None
        if found[0] != idem.fingerprint:
            raise KeyReused()
        replayed = self._replayed(found[1])
        return replayed if isinstance(replayed, Written) else None

    # --- rows and answers ---

    def _update(self, conn: Connection, row: _Row, form: dict[str, Any], meta: dict[str, Any], *,
                reason: Optional[str] = None, organization_id: Optional[uuid.UUID] = None) -> None:
        settings = {**row.settings, "draftForm": form, "draftSession": meta}
        if reason:
            settings["materializedBy"] = reason
        conn.execute(
            """UPDATE courses SET settings = %s, title = %s, language = %s, updated_at = now(),
                   organization_id = coalesce(%s, organization_id)
               WHERE id = %s""",
            (Jsonb(settings), self._title(form), form.get("language"), organization_id, row.id))

    def _replayed(self, answer: dict[str, Any]) -> Union[Written[Any], Refusal]:
        """A stored answer, given again: a session, a course, a discard, or the refusal it was."""
        if "refusal" in answer:
            refusal: Refusal
            if answer["refusal"] == "closed":
                refusal = SessionClosed(State(answer["state"]), uuid.UUID(answer["courseId"]))
            else:
                refusal = VersionMismatch(int(answer["current"]))
            refusal.replayed = True
            return refusal
        if "course" in answer:
            c = answer["course"]
            return Written(CourseRef(uuid.UUID(c["courseId"]), c["slug"], created=c["created"]), True)
        if "session" in answer:
            s = answer["session"]
            return Written(Session(
                session_id=uuid.UUID(s["sessionId"]),
                organization_id=uuid.UUID(s["organizationId"]) if s.get("organizationId") else None,
                storage=Storage.DATABASE, created_ms=s["createdMs"], updated_ms=s["updatedMs"],
                expires_ms=s["expiresMs"], version=s["version"], form=s["form"], state=State(s["state"]),
                course_id=uuid.UUID(s["courseId"]) if s.get("courseId") else None), True)
        return Written(None, True)


def _merged(form: dict[str, Any], changes: Changes) -> dict[str, Any]:
    merged = {**form, **changes.set}
    for name in changes.remove:
        merged.pop(name, None)
    return merged


def _session_answer(s: Session) -> dict[str, Any]:
    return {"session": {
        "sessionId": str(s.session_id), "organizationId": str(s.organization_id) if s.organization_id else None,
        "createdMs": s.created_ms, "updatedMs": s.updated_ms, "expiresMs": s.expires_ms, "version": s.version,
        "form": s.form, "state": s.state.value, "courseId": str(s.course_id) if s.course_id else None}}


def _course_answer(c: CourseRef) -> dict[str, Any]:
    return {"course": {"courseId": str(c.course_id), "slug": c.slug, "created": c.created}}


def _refusal_answer(refusal: Refusal) -> dict[str, Any]:
    if isinstance(refusal, SessionClosed):
        return {"refusal": "closed", "state": refusal.state.value, "courseId": str(refusal.course_id)}
    assert isinstance(refusal, VersionMismatch)
    return {"refusal": "version_conflict", "current": refusal.current}
