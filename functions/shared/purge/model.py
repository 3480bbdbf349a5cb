"""The purge's vocabulary: a queued course, the steps, the result counts, the retry schedule."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

# The stores the worker purges, each an idempotent step. rag_context_cache rows and the course's
# own rows go in the deleting transaction (the trigger); the rag step removes what a late writer
# (or a course deleted before the trigger existed) left there since.
STEPS = ("qdrant", "redis", "files", "rag")

# CourseCleanupResult of the seed (001), plus the database rows.
RESULT_KEYS = ("qdrantVectorsDeleted", "redisKeysDeleted", "ragContextEntriesDeleted", "filesDeleted",
               "bytesFreed", "databaseRowsDeleted")
STEP_RESULT_KEYS = {  # step -> (result key of its count, result key of its bytes)
    "qdrant": ("qdrantVectorsDeleted", None),
    "redis": ("redisKeysDeleted", None),
    "files": ("filesDeleted", "bytesFreed"),
    "rag": ("ragContextEntriesDeleted", None),
}


@dataclass(frozen=True)
class Counts:
    count: int = 0
    bytes: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.count + other.count, self.bytes + other.bytes)


@dataclass
class Entry:
    """A course in the purge queue, as the worker claimed it."""

    course_id: uuid.UUID
    organization_id: Optional[uuid.UUID]
    material_ids: list[uuid.UUID] = field(default_factory=list)
    steps: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return str(self.course_id)

    def step_done(self, step: str) -> bool:
        return bool((self.steps.get(step) or {}).get("done"))


@dataclass
class StepReport:
    """One step over a batch: counts of the courses it finished, errors of those it failed.

    A course in neither was not reached (the time budget ran out): it stays pending, no error.
    """

    step: str
    done: dict[str, Counts] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: bool = False  # the store is not configured in this deployment


def full_result(result: Optional[dict]) -> dict[str, int]:
    result = result or {}
    return {key: int(result.get(key) or 0) for key in RESULT_KEYS}


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """base, 2*base, 4*base ... after the 1st, 2nd, 3rd failed attempt; never more than cap."""
    return min(cap, base * (2 ** max(0, min(attempts, 40) - 1)))


def file_prefixes(course_id: str, organization_id: Optional[str]) -> list[str]:
    """The storage folders a course owns (API.md): uploads by organization, materials by course."""
    prefixes = [f"materials/{course_id}/"]
    if organization_id:
        prefixes.insert(0, f"uploads/{organization_id}/{course_id}/")
    return prefixes


def describe(exc: BaseException) -> str:
    """A short, secret-free description of a failure for last_error and failedSteps."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    return (f"{name}: {text}" if text and not text.startswith(name) else text or name)[:300]
