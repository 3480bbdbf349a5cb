"""What every purge step shares. A step takes a batch of entries and is idempotent: purging a
course twice deletes nothing the second time and counts 0. A store this deployment does not
configure (no QDRANT_URL/QDRANT_PATH, no STORAGE_URL) is skipped, never guessed at."""

from __future__ import annotations

import time
from collections.abc import Callable

from .model import Counts, Deadline, Entry, StepReport, describe


def skipped(name: str, entries: list[Entry]) -> StepReport:
    """The report of a step whose store this deployment does not configure: done, nothing removed."""
    report = StepReport(name, skipped=True)
    report.done = {e.key: Counts() for e in entries}
    return report


class BatchStep:
    """A step whose store takes the whole batch in one call and answers {courseId: items}."""

    name = ""

    def purge(self, entries: list[Entry]) -> dict[str, int]:
        raise NotImplementedError

    def count(self, entries: list[Entry]) -> dict[str, int]:
        raise NotImplementedError

    def run(self, entries: list[Entry], expired: Deadline) -> StepReport:
        report = StepReport(self.name)
        try:
            removed = self.purge(entries)
        except Exception as exc:  # the whole batch shares the failure; each entry records it
            report.failed = {e.key: describe(exc) for e in entries}
            return report
        report.done = {e.key: Counts(removed.get(e.key, 0)) for e in entries}
        return report

    def measure(self, entries: list[Entry]) -> dict[str, Counts]:
        counts = self.count(entries)
        return {e.key: Counts(counts.get(e.key, 0)) for e in entries}


class Skipped:
    """The step of a store this deployment does not configure."""

    def __init__(self, name: str):
        self.name = name

    def run(self, entries: list[Entry], expired: Deadline) -> StepReport:
        return skipped(self.name, entries)

    def measure(self, entries: list[Entry]) -> dict[str, Counts]:
        return {e.key: Counts() for e in entries}


def deadline_after(seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
    end = clock() + seconds
    return lambda: clock() >= end
