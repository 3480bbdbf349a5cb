"""The purge steps, one per store. Each takes a batch of entries and is idempotent: purging a course
twice deletes nothing the second time and counts 0. A store that is not configured in this
deployment (no QDRANT_URL/QDRANT_PATH, no STORAGE_URL) is skipped, never guessed at.

The stores are adapters (functions.shared.stores) handed in by the composition root; this module
knows their small interfaces, not their clients.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

from .model import Counts, Entry, StepReport, describe, file_prefixes

Deadline = Callable[[], bool]  # True once the time budget is spent


def skipped(name: str, entries: list[Entry]) -> StepReport:
    """The report of a step whose store this deployment does not configure: done, with nothing removed."""
    report = StepReport(name)
    report.skipped = True
    report.done = {e.key: Counts() for e in entries}
    return report


class BatchStep:
    """A step whose store takes the whole batch in one call and answers {courseId: items}."""

    name = ""

    def __init__(self, store):
        self.store = store  # None: not configured in this deployment, so skipped

    def _purge(self, entries: list[Entry]) -> dict[str, int]:
        raise NotImplementedError

    def _count(self, entries: list[Entry]) -> dict[str, int]:
        raise NotImplementedError

    def run(self, entries: list[Entry], expired: Deadline) -> StepReport:
        if self.store is None:
            return skipped(self.name, entries)
        report = StepReport(self.name)
        try:
            removed = self._purge(entries)
        except Exception as exc:  # the whole batch shares the failure; each entry records it
            report.failed = {e.key: describe(exc) for e in entries}
            return report
        report.done = {e.key: Counts(removed.get(e.key, 0)) for e in entries}
        return report

    def measure(self, entries: list[Entry]) -> dict[str, Counts]:
        if self.store is None:
            return {e.key: Counts() for e in entries}
        counts = self._count(entries)
        return {e.key: Counts(counts.get(e.key, 0)) for e in entries}


class VectorStep(BatchStep):
    name = "qdrant"  # store: count_by_course(ids) / delete_courses(ids)

    def _purge(self, entries: list[Entry]) -> dict[str, int]:
        # One filter (MatchAny on course_id) for the whole batch.
        return self.store.delete_courses([e.key for e in entries])

    def _count(self, entries: list[Entry]) -> dict[str, int]:
        return self.store.count_by_course([e.key for e in entries])


class KeyStep(BatchStep):
    name = "redis"  # store: count(courses) / purge(courses), courses = {courseId: [materialIds]}

    @staticmethod
    def _courses(entries: list[Entry]) -> dict[str, list[str]]:
        return {e.key: [str(m) for m in e.material_ids] for e in entries}

    def _purge(self, entries: list[Entry]) -> dict[str, int]:
        # One SCAN of the keyspace for the whole batch, then UNLINK in chunks.
        return self.store.purge(self._courses(entries))

    def _count(self, entries: list[Entry]) -> dict[str, int]:
        return self.store.count(self._courses(entries))


class FileStep:
    name = "files"

    def __init__(self, store, *, parallel: int = 4):
        self.store = store  # measure(prefix) / delete_prefix(prefix) -> Usage, or None
        self.parallel = parallel

    @staticmethod
    def _prefixes(entry: Entry) -> list[str]:
        org = str(entry.organization_id) if entry.organization_id else None
        return file_prefixes(entry.key, org)

    def _one(self, entry: Entry, expired: Deadline, measure_only: bool = False) -> Optional[Counts]:
        if expired():
            return None  # not reached: stays pending without an error
        total = Counts()
        for prefix in self._prefixes(entry):
            usage = self.store.measure(prefix) if measure_only else self.store.delete_prefix(prefix)
            total += Counts(usage.files, usage.bytes)
        return total

    def run(self, entries: list[Entry], expired: Deadline) -> StepReport:
        if self.store is None:
            return skipped(self.name, entries)
        report = StepReport(self.name)
        # Listing is per prefix (no store lists many prefixes at once), so courses go in parallel.
        with ThreadPoolExecutor(max_workers=min(self.parallel, max(1, len(entries)))) as pool:
            futures = {e.key: pool.submit(self._one, e, expired) for e in entries}
        for key, future in futures.items():
            try:
                counts = future.result()
            except Exception as exc:  # one course's failure is its own
                report.failed[key] = describe(exc)
                continue
            if counts is not None:
                report.done[key] = counts
        return report

    def measure(self, entries: list[Entry]) -> dict[str, Counts]:
        if self.store is None:
            return {e.key: Counts() for e in entries}
        return {e.key: self._one(e, lambda: False, measure_only=True) for e in entries}


class RagStep(BatchStep):
    name = "rag"  # store: count_rag_rows(ids) / delete_rag_rows(ids): rag_context_cache in Postgres

    def _purge(self, entries: list[Entry]) -> dict[str, int]:
        return self.store.delete_rag_rows([e.course_id for e in entries])

    def _count(self, entries: list[Entry]) -> dict[str, int]:
        return self.store.count_rag_rows([e.course_id for e in entries])


def never() -> bool:
    return False


def deadline_after(seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
    end = clock() + seconds
    return lambda: clock() >= end
