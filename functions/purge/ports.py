"""What the purge needs of the world, as Protocols: the queue (the worker's), the course directory
(the API's), the orphan ledger, and per store a step and an orphan source (functions/purge/stores/).

The adapters in functions/adapters/ and functions/purge/stores/ implement them; tests/fakes.py has
in-memory ones for the domain's unit tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from .model import Counts, Course, Deadline, Entry, Member, QueuedPurge, StepFailure, StepReport


class Outcome(Protocol):
    """What the queue records of one entry's run (the worker's Outcome)."""

    course_id: str
    retry_in_seconds: float
    failed_steps: list[StepFailure]

    @property
    def error(self) -> Optional[str]: ...


class PurgeQueue(Protocol):
    """The durable queue the trigger on `courses` feeds (sql/migrations/0002)."""

    def release_stale(self) -> int: ...

    def drop_revived(self) -> int: ...

    def claim(self, token: uuid.UUID, *, limit: int, lease_seconds: int, force: bool,
              course_ids: Optional[list[uuid.UUID]], exclude: Iterable[uuid.UUID]) -> list[Entry]: ...

    def record_step(self, token: uuid.UUID, step: str, counts: dict[str, Counts], *, skipped: bool) -> None: ...

    def finish(self, token: uuid.UUID, outcomes: Sequence[Outcome]) -> dict[str, str]: ...

    def depth(self) -> int: ...

    def prune(self, keep_days: int) -> int: ...

    def get(self, course_id: uuid.UUID) -> Optional[QueuedPurge]: ...

    def enqueue_orphans(self, orphans: dict[uuid.UUID, Optional[uuid.UUID]]) -> int: ...


class CourseDirectory(Protocol):
    """The live courses, as the purge API needs them: who may purge, what a dry run would see."""

    def course(self, course_id: uuid.UUID) -> Optional[Course]: ...

    def member(self, user_id: uuid.UUID) -> Optional[Member]: ...

    def live_entry(self, course_id: uuid.UUID) -> Optional[Entry]: ...

    def delete_course(self, course_id: uuid.UUID, *, reason: str, requested_by: Optional[uuid.UUID]) -> bool: ...


class Step(Protocol):
    """One store's part of a purge: idempotent, a whole batch at a time."""

    name: str

    def run(self, entries: list[Entry], expired: Deadline) -> StepReport: ...

    def measure(self, entries: list[Entry]) -> dict[str, Counts]: ...


@dataclass
class Page:
    """One page of a store in the orphan sweep: per course id seen, its items; the next position."""

    found: dict[str, int] = field(default_factory=dict)
    organizations: dict[str, str] = field(default_factory=dict)  # courseId -> orgId, where the store says
    prefixes: dict[str, list[str]] = field(default_factory=dict)  # courseId -> its folders (files)
    next: Any = None  # None: this store is done


class OrphanSource(Protocol):
    """One store's side of the orphan sweep: its pages, and what a position of it may be."""

    name: str

    def page(self, position: Any, size: int) -> Page: ...

    def valid(self, position: Any) -> bool: ...

    def measure(self, prefixes: list[str]) -> Counts: ...


class OrphanLedger(Protocol):
    """Which ids are live or queued, the sweep's candidates, and the hourly sweep's own state."""

    def classify(self, ids: list[str]) -> tuple[set[str], set[str]]: ...

    def note_candidates(self, ids: list[str]) -> dict[str, float]: ...

    def forget_candidates(self, ids: Iterable[str]) -> None: ...

    def prune_candidates(self, days: int = 30) -> int: ...

    def load_sweep(self, name: str) -> tuple[int, Optional[str]]: ...

    def record_findings(self, name: str, pass_: int, findings: dict[str, dict[str, tuple[int, int]]],
                        cursor: Optional[str], complete: bool) -> None: ...

    def last_complete(self, name: str) -> dict[str, Any]: ...


class Resources(Protocol):
    """What a purge store is built from: this process's settings and clients (functions/wiring.py)."""

    @property
    def settings(self) -> Any: ...

    @property
    def postgres(self) -> Any: ...

    @property
    def redis_bytes(self) -> Any: ...

    @property
    def files(self) -> Any: ...  # the FileStore of STORAGE_URL, or None

    @property
    def has_qdrant(self) -> bool: ...

    def vectors(self) -> Any: ...  # the QdrantVectors, opened on first use (StoreUnavailable if it cannot be)
