"""The draft session's vocabulary: its states, what the stores answer, and their refusals.

A session lives in one of two stores (Redis, or its own `courses` row while Redis is down) and goes
through three states, the same in both (docs/DRAFTS.md):

    open ──begin──▶ materializing ──row committed──▶ materialized (a tombstone naming the course)
      ▲                 │
      └──── reopen ◀────┘  (the insert certainly failed: nothing lost, editable again)

Only an open session takes saves and discards; in the other two states they are refused with
`SessionClosed` (409 already_materialized), never acknowledged for a course that will not have them.
Free of HTTP and of any store's client.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, Generic, Optional, TypeVar

from ..platform.idempotency import Idempotency as Idempotency  # re-exported: the stores take it with every write


class State(enum.StrEnum):
    OPEN = "open"
    MATERIALIZING = "materializing"
    MATERIALIZED = "materialized"


class Storage(enum.StrEnum):
    REDIS = "redis"
    DATABASE = "database"


@dataclass(frozen=True)
class Session:
    """A draft session as a store holds it; times are epoch milliseconds."""

    session_id: uuid.UUID
    organization_id: Optional[uuid.UUID]
    storage: Storage
    created_ms: int
    updated_ms: int
    expires_ms: Optional[int]
    version: int
    form: dict[str, Any]
    state: State = State.OPEN
    course_id: Optional[uuid.UUID] = None  # reserved when materializing begins, the course once materialized


@dataclass(frozen=True)
class Summary:
    """One line of the caller's open drafts (GET /drafts)."""

    session_id: uuid.UUID
    topic: Optional[str]
    updated_ms: int
    expires_ms: Optional[int]


@dataclass(frozen=True)
class CourseRef:
    course_id: uuid.UUID
    slug: str
    created: bool  # True only for the call whose insert created the row


@dataclass(frozen=True)
class NewCourse:
    """What a materialization inserts. The organization is not here: the insert reads it from
    `users` in its own statement (the organization at the moment of use, never a cached copy)."""

    course_id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID
    title: str
    language: Optional[str]
    form: dict[str, Any]
    reason: str


@dataclass(frozen=True)
class Materializing:
    """The snapshot a store hands over when materializing begins (or resumes after a crash).

    `course` is set when the store committed the course itself (a database-stored session is its
    own row) or when it was committed before: nothing is left to insert.
    """

    session: Optional[Session]  # None when only the stored answer of an earlier call is known
    course_id: uuid.UUID
    reason: str
    course: Optional[CourseRef] = None


@dataclass(frozen=True)
class Changes:
    """One save: fields to set and fields to remove (sent as null); fields not named stay."""

    set: dict[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.remove)


# --- what the stores refuse (the service turns them into the contract's errors) ---

class Refusal(Exception):
    """A store declined an operation for a reason of the domain (not a failure of the store).

    `replayed`: this refusal is the stored first answer of an Idempotency-Key, given again.
    """

    replayed = False


class SessionMissing(Refusal):
    """Not in this store (expired, discarded, never there, or another user's)."""


class VersionMismatch(Refusal):
    def __init__(self, current: int):
        super().__init__(f"current version is {current}")
        self.current = current


class SessionClosed(Refusal):
    """The session is materializing or materialized: it takes no more saves or discards."""

    def __init__(self, state: State, course_id: Optional[uuid.UUID]):
        super().__init__(state.value)
        self.state = state
        self.course_id = course_id


class TooManySessions(Refusal):
    pass


class NoOrganization(Refusal):
    """The user has no `users` row or no organization: no course can be created for it."""


class CreatesRateLimited(Refusal):
    def __init__(self, retry_after_ms: int):
        super().__init__(f"retry in {retry_after_ms} ms")
        self.retry_after_ms = retry_after_ms


class KeyReused(Refusal):
    """The Idempotency-Key was used before, for another request."""


T = TypeVar("T")


@dataclass(frozen=True)
class Written(Generic[T]):
    """What a write answered; `replayed`: the first answer of its Idempotency-Key, given again
    (nothing was applied this time)."""

    value: T
    replayed: bool = False
