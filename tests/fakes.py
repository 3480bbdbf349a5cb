"""In-memory stand-ins for the domains' ports (functions/*/ports.py), for the fast unit tests of the
services in tests/unit/. They replace no real-store test: the same behaviours are proven against
Redis, Postgres, S3 and Qdrant elsewhere in the suite; these let the domain logic be tested in
milliseconds, and a store be made to fail exactly where a test wants it to."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, Optional

from functions.cleanup.model import Census
from functions.cleanup.ports import HealthRow
from functions.drafts.model import (
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
    State,
    Storage,
    Summary,
    TooManySessions,
    VersionMismatch,
    Written,
)
from functions.purge.model import Counts, Course, Deadline, Entry, Member, QueuedPurge, Removed, StepReport, StepState


class Faults:
    """Failures to raise on the next calls of named operations: faults.next("patch", exc)."""

    def __init__(self) -> None:
        self._next: dict[str, list[BaseException]] = {}

    def next(self, op: str, exc: BaseException) -> None:
        self._next.setdefault(op, []).append(exc)

    def check(self, op: str) -> None:
        if self._next.get(op):
            raise self._next[op].pop(0)


class FakeSessionStore:
    """The session life cycle in a dict: what the Redis scripts and the database store both do."""

    def __init__(self, storage: Storage = Storage.REDIS):
        self.storage = storage
        self.sessions: dict[uuid.UUID, dict[str, Any]] = {}
        self.answers: dict[tuple[uuid.UUID, str], tuple[str, Any]] = {}
        self.faults = Faults()

    def _session(self, sid: uuid.UUID) -> Session:
        r = self.sessions[sid]
        return Session(sid, r["org"], self.storage, r["created"], r["updated"], r["created"] + 86_400_000,
                       r["version"], dict(r["form"]), r["state"], r["course"])

    def _mine(self, user_id: uuid.UUID, sid: uuid.UUID) -> dict[str, Any]:
        found = self.sessions.get(sid)
        if found is None or found["user"] != user_id:
            raise SessionMissing()
        return found

    def _keyed(self, user_id: uuid.UUID, idem: Optional[Idempotency], op: Callable[[], Any]) -> Any:
        if idem is not None and (user_id, idem.key_hash) in self.answers:
            fingerprint, answer = self.answers[(user_id, idem.key_hash)]
            if fingerprint != idem.fingerprint:
                raise KeyReused()
            if isinstance(answer, Refusal):
                answer.replayed = True
                raise answer
            return replace(answer, replayed=True)
        try:
            answer = op()
        except (SessionClosed, VersionMismatch) as refusal:
            if idem is not None:
                self.answers[(user_id, idem.key_hash)] = (idem.fingerprint, refusal)
            raise
        if idem is not None:
            self.answers[(user_id, idem.key_hash)] = (idem.fingerprint, answer)
        return answer

    def create(self, user_id: uuid.UUID, session_id: uuid.UUID, org_id: Optional[uuid.UUID], form: dict[str, Any],
               *, now_ms: int, ttl_ms: int, max_sessions: int, max_per_minute: int,
               idem: Optional[Idempotency] = None) -> Written[Session]:
        self.faults.check("create")

        def op() -> Written[Session]:
            open_ones = [r for r in self.sessions.values() if r["user"] == user_id and r["state"] is State.OPEN]
            if len(open_ones) >= max_sessions:
                raise TooManySessions()
            self.sessions[session_id] = {"user": user_id, "org": org_id, "created": now_ms, "updated": now_ms,
                                         "version": 1, "form": dict(form), "state": State.OPEN, "course": None}
            return Written(self._session(session_id))

        return self._keyed(user_id, idem, op)  # type: ignore[no-any-return]

    def get(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Optional[Session]:
        self.faults.check("get")
        found = self.sessions.get(session_id)
        return self._session(session_id) if found and found["user"] == user_id else None

    def patch(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, expected_version: Optional[int],
              now_ms: int, ttl_ms: int, idem: Optional[Idempotency] = None) -> Written[Session]:
        self.faults.check("patch")

        def op() -> Written[Session]:
            r = self._mine(user_id, session_id)
            if r["state"] is not State.OPEN:
                raise SessionClosed(r["state"], r["course"])
            if expected_version is not None and expected_version != r["version"]:
                raise VersionMismatch(r["version"])
            r["form"].update(changes.set)
            for name in changes.remove:
                r["form"].pop(name, None)
            r["version"] += 1
            r["updated"] = now_ms
            return Written(self._session(session_id))

        return self._keyed(user_id, idem, op)  # type: ignore[no-any-return]

    def delete(self, user_id: uuid.UUID, session_id: uuid.UUID, *,
               idem: Optional[Idempotency] = None) -> Written[None]:
        self.faults.check("delete")

        def op() -> Written[None]:
            r = self._mine(user_id, session_id)
            if r["state"] is not State.OPEN:
                raise SessionClosed(r["state"], r["course"])
            del self.sessions[session_id]
            return Written(None)

        return self._keyed(user_id, idem, op)  # type: ignore[no-any-return]

    def begin_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, course_id: uuid.UUID,
                          reason: str, attempt: str, now_ms: int,
                          idem: Optional[Idempotency] = None) -> Written[Materializing]:
        self.faults.check("begin")
        if idem is not None and (user_id, idem.key_hash) in self.answers:
            course = self._keyed(user_id, idem, lambda: None).value
            return Written(Materializing(None, course.course_id, reason, course), True)
        r = self._mine(user_id, session_id)
        if r["state"] is State.OPEN:
            r["form"].update(changes.set)
            for name in changes.remove:
                r["form"].pop(name, None)
            r.update(state=State.MATERIALIZING, course=course_id, reason=reason, attempt=attempt, doubt=False)
        else:
            if any(r["form"].get(k) != v for k, v in changes.set.items()) or any(k in r["form"] for k in changes.remove):
                raise SessionClosed(r["state"], r["course"])
            if r["state"] is State.MATERIALIZING:
                r.update(attempt=attempt, doubt=True)
        course = CourseRef(r["course"], r["slug"], False) if r["state"] is State.MATERIALIZED else None
        return Written(Materializing(self._session(session_id), r["course"], r.get("reason", reason), course))

    def finish_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, course: CourseRef, *,
                           idem: Optional[Idempotency] = None) -> Written[CourseRef]:
        self.faults.check("finish")
        r = self.sessions.get(session_id)
        if r and r["course"] == course.course_id:
            r.update(state=State.MATERIALIZED, slug=course.slug)
        return self._keyed(user_id, idem, lambda: Written(course))  # type: ignore[no-any-return]

    def reopen(self, user_id: uuid.UUID, session_id: uuid.UUID, *, attempt: str, checked: bool) -> bool:
        self.faults.check("reopen")
        r = self.sessions.get(session_id)
        if not r or r["state"] is not State.MATERIALIZING or r.get("attempt") != attempt:
            return False
        if r.get("doubt") and not checked:
            return False
        r.update(state=State.OPEN, course=None)
        return True

    def list(self, user_id: uuid.UUID, *, now_ms: int) -> list[Summary]:
        self.faults.check("list")
        return [Summary(sid, r["form"].get("topic"), r["updated"], r["created"] + 86_400_000)
                for sid, r in self.sessions.items() if r["user"] == user_id and r["state"] is State.OPEN]

    def replay_of(self, user_id: uuid.UUID, idem: Idempotency) -> Optional[Written[Session]]:
        found = self.answers.get((user_id, idem.key_hash))
        if found is None:
            return None
        if found[0] != idem.fingerprint:
            raise KeyReused()
        return replace(found[1], replayed=True)  # type: ignore[no-any-return]


class FakeCourses:
    """The `courses` rows drafts become: exactly one per session id."""

    def __init__(self, organizations: Optional[dict[uuid.UUID, Optional[uuid.UUID]]] = None):
        self.organizations = organizations or {}
        self.rows: dict[uuid.UUID, NewCourse] = {}  # by session id
        self.faults = Faults()

    def organization_of(self, user_id: uuid.UUID) -> Optional[uuid.UUID]:
        self.faults.check("organization_of")
        return self.organizations.get(user_id)

    def create(self, course: NewCourse) -> CourseRef:
        self.faults.check("create")
        if course.session_id in self.rows:
            existing = self.rows[course.session_id]
            return CourseRef(existing.course_id, f"slug-{existing.course_id.hex[:12]}", created=False)
        if self.organizations.get(course.user_id) is None:
            raise NoOrganization()
        self.rows[course.session_id] = course
        return CourseRef(course.course_id, f"slug-{course.course_id.hex[:12]}", created=True)


# --- the purge ---

class FakeCourseDirectory:
    def __init__(self, queue: FakePurgeQueue):
        self.queue = queue
        self.courses: dict[uuid.UUID, Course] = {}
        self.members: dict[uuid.UUID, Member] = {}

    def add(self, owner: uuid.UUID, org: uuid.UUID) -> uuid.UUID:
        cid = uuid.uuid4()
        self.courses[cid] = Course(cid, org, owner)
        return cid

    def course(self, course_id: uuid.UUID) -> Optional[Course]:
        return self.courses.get(course_id)

    def member(self, user_id: uuid.UUID) -> Optional[Member]:
        return self.members.get(user_id)

    def live_entry(self, course_id: uuid.UUID) -> Optional[Entry]:
        found = self.courses.get(course_id)
        return Entry(course_id, found.organization_id, removed=Removed(database_rows=1)) if found else None

    def delete_course(self, course_id: uuid.UUID, *, reason: str, requested_by: Optional[uuid.UUID]) -> bool:
        found = self.courses.pop(course_id, None)
        if found is None:
            return False
        self.queue.entries[course_id] = QueuedPurge(
            course_id, found.organization_id, found.owner_id, [], reason, requested_by, dt.datetime.now(dt.UTC),
            "pending", {}, 0, None, None, None, Removed(database_rows=1))
        return True


class FakePurgeQueue:
    def __init__(self) -> None:
        self.entries: dict[uuid.UUID, QueuedPurge] = {}
        self.claims: dict[uuid.UUID, uuid.UUID] = {}  # course id -> claim token
        self.calls: list[str] = []
        self.on_get: Optional[Callable[[QueuedPurge], QueuedPurge]] = None  # what another worker does meanwhile

    def release_stale(self) -> int:
        self.calls.append("release_stale")
        return 0

    def drop_revived(self) -> int:
        self.calls.append("drop_revived")
        return 0

    def claim(self, token: uuid.UUID, *, limit: int, lease_seconds: int, force: bool,
              course_ids: Optional[list[uuid.UUID]], exclude: Iterable[uuid.UUID]) -> list[Entry]:
        skip = set(exclude)
        due = [q for q in self.entries.values() if q.status == "pending" and q.course_id not in skip
               and (course_ids is None or q.course_id in course_ids)][:limit]
        for q in due:
            self.entries[q.course_id] = replace(q, status="running", attempts=q.attempts + 1)
            self.claims[q.course_id] = token
        return [self.entries[q.course_id].entry() for q in due]

    def record_step(self, token: uuid.UUID, step: str, counts: dict[str, Counts], *, skipped: bool) -> None:
        for key, c in counts.items():
            q = self.entries[uuid.UUID(key)]
            if self.claims.get(q.course_id) == token:
                self.entries[q.course_id] = replace(q, steps={**q.steps, step: StepState(done=True, skipped=skipped)},
                                                    removed=q.removed.plus(step, c))

    def finish(self, token: uuid.UUID, outcomes: list[Any]) -> dict[str, str]:
        statuses = {}
        for o in outcomes:
            q = self.entries[uuid.UUID(o.course_id)]
            if self.claims.pop(q.course_id, None) != token:
                continue
            steps = {**q.steps, **{f.step: StepState(error=f.error) for f in o.failed_steps}}
            from functions.purge import registry

            complete = not o.failed_steps and all(steps.get(s, StepState()).done for s in registry.names())
            self.entries[q.course_id] = replace(q, status="purged" if complete else "pending", steps=steps,
                                                last_error=o.error)
            statuses[o.course_id] = "purged" if complete else "pending"
        return statuses

    def depth(self) -> int:
        self.calls.append("depth")
        return sum(q.status != "purged" for q in self.entries.values())

    def prune(self, keep_days: int) -> int:
        self.calls.append("prune")
        return 0

    def get(self, course_id: uuid.UUID) -> Optional[QueuedPurge]:
        found = self.entries.get(course_id)
        if found is not None and self.on_get is not None:
            found = self.entries[course_id] = self.on_get(found)
        return found

    def enqueue_orphans(self, orphans: dict[uuid.UUID, Optional[uuid.UUID]]) -> int:
        return 0


class FakeStep:
    """One store's step: removes `per_course` items of each course, or fails while `failing`."""

    def __init__(self, name: str, per_course: int = 1, failing: Optional[str] = None):
        self.name, self.per_course, self.failing = name, per_course, failing
        self.purged: list[str] = []

    def run(self, entries: list[Entry], expired: Deadline) -> StepReport:
        report = StepReport(self.name)
        for e in entries:
            if self.failing:
                report.failed[e.key] = self.failing
            else:
                self.purged.append(e.key)
                report.done[e.key] = Counts(self.per_course)
        return report

    def measure(self, entries: list[Entry]) -> dict[str, Counts]:
        return {e.key: Counts(self.per_course) for e in entries}


# --- the cleanup ---

class Row:
    def __init__(self, name: str, value: Optional[float], status: str):
        self.name, self.value, self.status = name, value, status


class FakeDraftRows:
    """Expired drafts in a list; the run log in a dict."""

    def __init__(self, expired: int, health: Optional[list[HealthRow]] = None):
        self.expired = expired
        self.runs: dict[int, dict[str, Any]] = {}
        self.batches: list[int] = []
        self.rows = health or []
        self.faults = Faults()

    def cutoff(self, max_age_hours: int) -> dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) - dt.timedelta(hours=max_age_hours)

    def count_expired(self, cutoff: dt.datetime) -> int:
        return self.expired

    def begin_run(self, source: str, cutoff: dt.datetime) -> int:
        run_id = len(self.runs) + 1
        self.runs[run_id] = {"source": source, "status": "running"}
        return run_id

    def delete_batch(self, run_id: int, cutoff: dt.datetime, batch_size: int) -> int:
        self.faults.check("delete_batch")
        n = min(batch_size, self.expired)
        self.expired -= n
        self.batches.append(n)
        return n

    def finish_run(self, run_id: int, *, complete: bool, error: Optional[str] = None) -> None:
        self.runs[run_id].update(status="failed" if error else "succeeded", complete=complete, error=error)

    def prune_runs(self, keep_days: int = 30) -> int:
        return 0

    def prune_idempotency_keys(self) -> int:
        return 0

    def purge_queue_depth(self) -> int:
        return 0

    def health(self, max_age_hours: int) -> list[HealthRow]:
        return self.rows

    def job_gap_hours(self) -> Optional[float]:
        return 1.0 if self.runs else None

    def census(self) -> Census:
        self.faults.check("census")
        return Census(total_drafts=self.expired, drafts_last_hour=0, drafts_last_day=0,
                      max_unused_per_org=self.expired, oldest_pending_purge_s=None)


class FakeIndexes:
    def __init__(self, active: int = 0):
        self.active = active
        self.faults = Faults()

    def prune_indexes(self, *, now_ms: int, scan_count: int = 1000) -> dict[str, int]:
        self.faults.check("prune_indexes")
        return {"indexes": 1, "expiredEntriesRemoved": 0, "activeSessions": self.active}


__all__ = ["CreatesRateLimited", "FakeCourseDirectory", "FakeCourses", "FakeDraftRows", "FakeIndexes",
           "FakePurgeQueue", "FakeSessionStore", "FakeStep", "Faults", "Row"]
