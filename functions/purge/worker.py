"""The purge worker: drains the queue in batches, each store a step, each step's success recorded.

A batch is claimed in one statement (`FOR UPDATE SKIP LOCKED`, so two workers never share an
entry), its steps run concurrently (the stores are independent), each step's counts are written
as soon as it succeeds, and the batch is finished in one statement: an entry whose every step is
done becomes 'purged' (with an audit row); one with a failed step goes back to 'pending' with the
error and a next attempt time that doubles with every failure. An entry left 'running' by a worker
that died is released once its lease has passed.

Free of store clients: the queue and the steps (the registry's, functions/purge/stores/) are handed
in by the composition root (functions/wiring.py).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Optional

from ..platform.errors import StoreUnavailable
from .model import Deadline, Entry, Removed, StepFailure, StepReport, backoff_seconds
from .ports import PurgeQueue, Step
from .steps import deadline_after

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What happened to one entry in this run."""

    course_id: str
    failed_steps: list[StepFailure] = field(default_factory=list)
    retry_in_seconds: float = 0.0  # when failed: the backoff before the next attempt
    status: str = "pending"  # set by finish(): 'purged' or 'pending'

    @property
    def error(self) -> Optional[str]:
        if not self.failed_steps:
            return None
        return "; ".join(f"{f.step}: {f.error}" for f in self.failed_steps)[:1000]


@dataclass
class DrainReport:
    processed: int = 0
    purged: int = 0
    failed: int = 0
    released: int = 0
    revived: int = 0  # entries dropped because their course exists again
    batches: int = 0
    still_pending: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def failures_by_step(self) -> dict[str, int]:
        """Per store, the courses of this drain whose step failed."""
        counts: dict[str, int] = {}
        for outcome in self.outcomes.values():
            for failure in outcome.failed_steps:
                counts[failure.step] = counts.get(failure.step, 0) + 1
        return counts

    def as_dict(self) -> dict[str, int]:
        return {"processed": self.processed, "purged": self.purged, "stillPending": self.still_pending,
                "failed": self.failed, "released": self.released, "revived": self.revived, "batches": self.batches}


@dataclass(frozen=True)
class Policy:
    retry_base_seconds: float = 30
    retry_max_seconds: float = 3600
    lease_seconds: int = 300
    keep_days: int = 30


class PurgeWorker:
    def __init__(self, queue: PurgeQueue, steps: list[Step], policy: Policy = Policy(),
                 clock: Callable[[], float] = time.monotonic):
        self.queue = queue
        self.steps = {step.name: step for step in steps}  # in the registry's order
        self.policy = policy
        self.clock = clock

    def drain(self, *, time_budget_s: float, batch_size: int = 500, force: bool = False,
              course_ids: Optional[list[uuid.UUID]] = None, housekeeping: bool = True) -> DrainReport:
        """Purge due entries, batch after batch, until none is due or the time budget is spent.

        force: also entries still waiting out their backoff (an admin's retry, a repeated DELETE).
        course_ids: only these entries.
        housekeeping: release stale leases, drop revived courses, prune old entries, count the queue;
        each scans the queue, so a one-course DELETE leaves them to the scheduled drain.
        """
        expired = deadline_after(time_budget_s, self.clock)
        report = DrainReport()
        if housekeeping:
            report.released = self.queue.release_stale()
            report.revived = self.queue.drop_revived()
        seen: set[uuid.UUID] = set()
        while not expired():
            token = uuid.uuid4()
            entries = self.queue.claim(token, limit=batch_size, lease_seconds=self.policy.lease_seconds,
                                       force=force, course_ids=course_ids, exclude=seen)
            if not entries:
                break
            seen.update(e.course_id for e in entries)
            report.batches += 1
            for outcome in self.process(token, entries, expired):
                report.outcomes[outcome.course_id] = outcome
                report.processed += 1
                report.purged += outcome.status == "purged"
                report.failed += bool(outcome.failed_steps)
        if housekeeping:
            if report.batches and course_ids is None:
                self.queue.prune(self.policy.keep_days)
            report.still_pending = self.queue.depth()
        return report

    def process(self, token: uuid.UUID, entries: list[Entry], expired: Deadline) -> list[Outcome]:
        """Run the steps of one claimed batch, concurrently, and finish every entry."""
        outcomes = {e.key: Outcome(e.key) for e in entries}
        todo = {name: [e for e in entries if not e.step_done(name)] for name in self.steps}
        todo = {name: batch for name, batch in todo.items() if batch}

        def run(name: str) -> StepReport:
            report = self.steps[name].run(todo[name], expired)
            if report.done:
                # Recorded at once: a crash later in the batch does not lose (or repeat) this store.
                self.queue.record_step(token, name, report.done, skipped=report.skipped)
            return report

        reports: list[StepReport] = []
        if todo:
            with ThreadPoolExecutor(max_workers=len(todo)) as pool:
                futures = [pool.submit(run, name) for name in todo]
            for future in futures:
                try:
                    reports.append(future.result())
                except Exception as exc:  # recording the step failed (Postgres): nothing is lost,
                    log.warning("purge step not recorded: %s", exc)  # the step runs again next time
        by_key = {e.key: e for e in entries}
        for report in reports:
            for key, error in report.failed.items():
                outcomes[key].failed_steps.append(StepFailure(report.step, error))
        for key, outcome in outcomes.items():
            if outcome.failed_steps:
                outcome.retry_in_seconds = backoff_seconds(
                    by_key[key].attempts, self.policy.retry_base_seconds, self.policy.retry_max_seconds)
        statuses = self.queue.finish(token, list(outcomes.values()))
        for key, outcome in outcomes.items():
            outcome.status = statuses.get(key, "pending")
        return list(outcomes.values())

    def measure(self, entry: Entry) -> Removed:
        """What a purge of this entry would remove from the stores of the steps (a dry run)."""
        removed = entry.removed
        for name, step in self.steps.items():
            try:
                counts = step.measure([entry])[entry.key]
            except StoreUnavailable:
                raise
            except Exception as exc:  # a dry run that cannot look is a 503, never a 500
                raise StoreUnavailable(name, exc) from None
            removed = removed.plus(name, counts)
        return removed
