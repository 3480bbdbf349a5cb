"""Purging a course on request: who may, what a dry run reports, what happened.

Free of HTTP and of store clients: the course directory, the queue, the worker and the sweep are
handed in (functions/wiring.py). The deletion itself is the queue's: the API deletes the row (the
trigger queues it, in the same transaction), then runs the worker on that one entry at once.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Optional

from ..platform.auth import Principal
from ..platform.errors import Forbidden, NotFound
from ..platform.settings import Settings
from .model import Entry, QueuedPurge, Removed, StepFailure, StepState
from .orphans import OrphanSweep, Slice
from .ports import CourseDirectory, PurgeQueue
from .steps import deadline_after
from .worker import DrainReport, PurgeWorker

OTHER_RUN_POLL_SECONDS = 0.1
Status = Literal["purged", "already_purged", "pending", "dry_run"]


@dataclass(frozen=True)
class PurgeAnswer:
    """What a DELETE did: purged now, purged before, pending (a store failed), or a dry run's count."""

    course_id: uuid.UUID
    status: Status
    removed: Removed
    failed_steps: list[StepFailure] = field(default_factory=list)
    attempts: int = 0
    next_attempt_at: Optional[dt.datetime] = None
    duration_ms: Optional[float] = None


@dataclass(frozen=True)
class OrphansQueued:
    queued: int
    found: Slice


def failed_steps(steps: dict[str, StepState]) -> list[StepFailure]:
    """The steps whose last run failed, with their errors, as the queue entry records them."""
    return [StepFailure(name, state.error) for name, state in steps.items() if not state.done and state.error]


class CoursePurges:
    def __init__(self, courses: CourseDirectory, queue: PurgeQueue, worker: Callable[[], PurgeWorker],
                 sweep: Callable[[], OrphanSweep], settings: Settings, *,
                 clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep):
        self.courses = courses
        self.queue = queue
        self.worker = worker
        self.sweep = sweep
        self.settings = settings
        self.clock = clock
        self.sleep = sleep

    def _authorize(self, principal: Principal, organization_id: Optional[uuid.UUID],
                   owner_id: Optional[uuid.UUID]) -> None:
        """Admin credentials, the course's owner, or an `admin` of its organization (the seed's RBAC)."""
        if principal.is_admin:
            return
        if principal.user_id is not None and principal.user_id == owner_id:
            return
        member = self.courses.member(principal.user_id) if principal.user_id else None
        if member and member.role == "admin" and organization_id is not None and member.organization_id == organization_id:
            return
        raise Forbidden("Only the course's owner, an admin of its organization or an administrator may purge it.")

    def purge(self, principal: Principal, course_id: uuid.UUID, *, dry_run: bool = False) -> PurgeAnswer:
        start = self.clock()
        course = self.courses.course(course_id)
        if course is not None:
            self._authorize(principal, course.organization_id, course.owner_id)
            if dry_run:
                live = self.courses.live_entry(course_id)
                if live is not None:
                    return self._dry_run(live)
            else:
                self.courses.delete_course(course_id, reason="api", requested_by=principal.user_id)
        queued = self.queue.get(course_id)
        if queued is None:
            raise NotFound("No such course.")
        if course is None:  # already deleted: the queue entry remembers who owned it
            self._authorize(principal, queued.organization_id, queued.owner_id)
        if queued.status == "purged":
            return PurgeAnswer(course_id, "already_purged", queued.removed)
        if dry_run:  # deleted, not yet purged: what is left to remove
            return self._dry_run(queued.entry())
        give_up = self.clock() + min(self.settings.purge_time_budget_seconds, self.settings.purge_lease_seconds)
        while True:
            # One course: the queue's housekeeping is the scheduled drain's, not this request's.
            report = self.worker().drain(time_budget_s=self.settings.purge_time_budget_seconds, batch_size=1,
                                         force=True, course_ids=[course_id], housekeeping=False)
            outcome = report.outcomes.get(str(course_id))
            if outcome is not None:
                queued = self.queue.get(course_id) or queued
                failed = outcome.failed_steps
                break
            # Another worker (a parallel DELETE, the hourly drain) holds the entry: its run is this
            # purge too. Wait for it and answer what it did, rather than a 202 that names no failure.
            queued = self._after_other_run(course_id, give_up) or queued
            if queued.status == "purged":
                return PurgeAnswer(course_id, "already_purged", queued.removed)
            failed = failed_steps(queued.steps)
            if failed or self.clock() >= give_up:
                break
            # Still pending with nothing failed: the other worker's claim had not committed when it
            # skipped ours (SKIP LOCKED), or it let go. Claim again.
            self.sleep(OTHER_RUN_POLL_SECONDS)
        if queued.status == "purged":
            return PurgeAnswer(course_id, "purged", queued.removed, duration_ms=round((self.clock() - start) * 1000, 1))
        # A store failed: the course is gone for users; the rest is retried automatically.
        return PurgeAnswer(course_id, "pending", queued.removed, failed, queued.attempts, queued.next_attempt_at)

    def _after_other_run(self, course_id: uuid.UUID, give_up: float) -> Optional[QueuedPurge]:
        """The entry once no worker holds it (bounded by the purge's time budget and the lease)."""
        while True:
            queued = self.queue.get(course_id)
            if queued is None or queued.status != "running" or self.clock() >= give_up:
                return queued
            self.sleep(OTHER_RUN_POLL_SECONDS)

    def _dry_run(self, entry: Entry) -> PurgeAnswer:
        return PurgeAnswer(entry.course_id, "dry_run", self.worker().measure(entry))

    def status(self, principal: Principal, course_id: uuid.UUID) -> QueuedPurge:
        queued = self.queue.get(course_id)
        if queued is None:
            raise NotFound("No purge was ever requested for this course.")
        self._authorize(principal, queued.organization_id, queued.owner_id)
        return queued

    def retry(self, course_ids: Optional[list[uuid.UUID]] = None) -> DrainReport:
        """Run the worker now, backoff or not (an administrator asked)."""
        return self.worker().drain(time_budget_s=self.settings.purge_time_budget_seconds,
                                   batch_size=self.settings.purge_batch_size, force=True, course_ids=course_ids)

    # --- the orphan sweep (admin only) ---

    def scan_orphans(self, stores: Optional[tuple[str, ...]], cursor: Optional[str]) -> Slice:
        """Report only: per store, the orphan course ids of this slice, their items and bytes."""
        return self.sweep().scan(stores=stores, cursor=cursor,
                                 expired=deadline_after(self.settings.orphan_time_budget_seconds))

    def purge_orphans(self, stores: Optional[tuple[str, ...]], cursor: Optional[str]) -> OrphansQueued:
        """Queue this slice's orphans: the purge worker removes them and reports the same counts."""
        found = self.scan_orphans(stores, cursor)
        orgs = found.organizations
        queued = self.queue.enqueue_orphans(
            {uuid.UUID(cid): (uuid.UUID(orgs[cid]) if cid in orgs else None) for cid in sorted(found.course_ids())})
        return OrphansQueued(queued, found)
