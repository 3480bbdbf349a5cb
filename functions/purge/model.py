"""The purge's vocabulary: a queued course, its steps' state, the counts of what was removed.

A step is one store (functions/purge/stores/: the registry). Its counts are kept per store name;
the wire and the queue's stored result name them as the registry says (qdrantVectorsDeleted ...).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Optional

Deadline = Callable[[], bool]  # True once the time budget is spent
QueueStatus = Literal["pending", "running", "purged"]


@dataclass(frozen=True)
class Counts:
    count: int = 0
    bytes: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.count + other.count, self.bytes + other.bytes)


@dataclass(frozen=True)
class Removed:
    """What a purge removed (or, in a dry run, would remove): per store, and the database rows."""

    stores: dict[str, Counts] = field(default_factory=dict)
    database_rows: int = 0

    def of(self, store: str) -> Counts:
        return self.stores.get(store, Counts())

    def plus(self, store: str, counts: Counts) -> Removed:
        return Removed({**self.stores, store: self.of(store) + counts}, self.database_rows)


@dataclass(frozen=True)
class StepState:
    """One store's step of one queued course, as the queue records it."""

    done: bool = False
    skipped: bool = False  # the store is not configured in this deployment
    error: Optional[str] = None  # the last run's failure, while not done


@dataclass
class Entry:
    """A course in the purge queue, as the worker claimed it."""

    course_id: uuid.UUID
    organization_id: Optional[uuid.UUID]
    material_ids: list[uuid.UUID] = field(default_factory=list)
    steps: dict[str, StepState] = field(default_factory=dict)
    attempts: int = 0
    removed: Removed = field(default_factory=Removed)

    @property
    def key(self) -> str:
        return str(self.course_id)

    def step_done(self, step: str) -> bool:
        return self.steps.get(step, StepState()).done


@dataclass(frozen=True)
class QueuedPurge:
    """A queue entry as the API reads it: who owned the course, how far its purge is."""

    course_id: uuid.UUID
    organization_id: Optional[uuid.UUID]
    owner_id: Optional[uuid.UUID]
    material_ids: list[uuid.UUID]
    reason: str
    requested_by: Optional[uuid.UUID]
    deleted_at: dt.datetime
    status: QueueStatus
    steps: dict[str, StepState]
    attempts: int
    last_error: Optional[str]
    next_attempt_at: Optional[dt.datetime]
    purged_at: Optional[dt.datetime]
    removed: Removed

    def entry(self) -> Entry:
        return Entry(self.course_id, self.organization_id, self.material_ids, self.steps, self.attempts, self.removed)


@dataclass(frozen=True)
class Course:
    """A live course as the purge's authorization sees it."""

    course_id: uuid.UUID
    organization_id: Optional[uuid.UUID]
    owner_id: uuid.UUID


@dataclass(frozen=True)
class Member:
    organization_id: Optional[uuid.UUID]
    role: str


@dataclass
class StepReport:
    """One step over a batch: counts of the courses it finished, errors of those it failed.

    A course in neither was not reached (the time budget ran out): it stays pending, no error.
    """

    step: str
    done: dict[str, Counts] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: bool = False  # the store is not configured in this deployment


@dataclass(frozen=True)
class StepFailure:
    step: str
    error: str


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """base, 2*base, 4*base ... after the 1st, 2nd, 3rd failed attempt; never more than cap."""
    factor: int = 2 ** max(0, min(attempts, 40) - 1)  # (mypy types int ** int as Any: a negative power is a float)
    return min(cap, base * factor)


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a failure for last_error and failedSteps."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return (f"{name}: {text}" if text and not text.startswith(name) else text or name)[:300]
