"""What the draft sessions need of the world: two session stores with one interface (Redis, and the
database fallback), and the course rows. Implemented in functions/adapters/; faked in tests/fakes.py."""

from __future__ import annotations

import uuid
from typing import Any, Optional, Protocol

from .model import Changes, CourseRef, Idempotency, Materializing, NewCourse, Session, Storage, Summary, Written


class SessionStore(Protocol):
    storage: Storage

    def create(self, user_id: uuid.UUID, session_id: uuid.UUID, org_id: Optional[uuid.UUID], form: dict[str, Any],
               *, now_ms: int, ttl_ms: int, max_sessions: int, max_per_minute: int,
               idem: Optional[Idempotency] = None) -> Written[Session]: ...

    def get(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Optional[Session]: ...

    def patch(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, expected_version: Optional[int],
              now_ms: int, ttl_ms: int, idem: Optional[Idempotency] = None) -> Written[Session]: ...

    def delete(self, user_id: uuid.UUID, session_id: uuid.UUID, *,
               idem: Optional[Idempotency] = None) -> Written[None]: ...

    def begin_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, changes: Changes, *, course_id: uuid.UUID,
                          reason: str, attempt: str, now_ms: int,
                          idem: Optional[Idempotency] = None) -> Written[Materializing]: ...

    def finish_materialize(self, user_id: uuid.UUID, session_id: uuid.UUID, course: CourseRef, *,
                           idem: Optional[Idempotency] = None) -> Written[CourseRef]: ...

    def reopen(self, user_id: uuid.UUID, session_id: uuid.UUID, *, attempt: str, checked: bool) -> bool: ...

    def list(self, user_id: uuid.UUID, *, now_ms: int) -> list[Summary]: ...


class FallbackStore(SessionStore, Protocol):
    def replay_of(self, user_id: uuid.UUID, idem: Idempotency) -> Optional[Written[Session]]: ...


class Courses(Protocol):
    def organization_of(self, user_id: uuid.UUID) -> Optional[uuid.UUID]: ...

    def create(self, course: NewCourse) -> CourseRef: ...
