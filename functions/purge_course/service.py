"""Purging a course on request: who may, what a dry run reports, and what the caller is told.

Free of HTTP and of store clients: a repository (the course rows and the queue) and a worker
factory are handed in. The deletion itself is the queue's: the API deletes the row (the trigger
queues it, in the same transaction), then runs the worker on that one entry at once.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional

from ..shared.auth import Principal
from ..shared.errors import Forbidden, NotFound, ValidationFailed
from ..shared.idempotency import Idempotency
from ..shared.purge.model import STEPS, Entry, full_result
from ..shared.purge.orphans import STORES, OrphanSweep
from ..shared.purge.steps import deadline_after
from ..shared.purge.worker import PurgeWorker
from ..shared.settings import Settings


OTHER_RUN_POLL_SECONDS = 0.1


def failed_steps(steps: dict[str, Any]) -> list[dict[str, str]]:
    """The steps whose last run failed, with their errors, as the queue entry records them."""
    return [{"step": step, "error": str(steps[step].get("error"))} for step in STEPS
            if isinstance(steps.get(step), dict) and not steps[step].get("done") and steps[step].get("error")]


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False  # the first answer of an Idempotency-Key, given again


def _iso(value: Optional[datetime]) -> Optional[str]:
    return value.isoformat().replace("+00:00", "Z") if value else None


class CoursePurges:
    def __init__(self, repo, make_worker: Callable[[], PurgeWorker], settings: Settings,
                 clock: Callable[[], float] = time.perf_counter,
                 make_sweep: Optional[Callable[[], OrphanSweep]] = None,
                 sleep: Callable[[float], None] = time.sleep, answers=None):
        self.repo = repo
        self.make_worker = make_worker
        self.make_sweep = make_sweep
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.answers = answers  # the first answers of Idempotency-Keys (PostgresAnswers), or None

    def _authorize(self, principal: Principal, organization_id, owner_id) -> None:
        """Admin credentials, the course's owner, or an `admin` of its organization (the seed's RBAC)."""
        if principal.is_admin:
            return
        if principal.user_id is not None and principal.user_id == owner_id:
            return
        member = self.repo.member(principal.user_id) if principal.user_id else None
        if member and member[1] == "admin" and organization_id is not None and member[0] == organization_id:
            return
        raise Forbidden("Only the course's owner, an admin of its organization or an administrator may purge it.")

    def purge(self, principal: Principal, course_id: uuid.UUID, *, dry_run: bool = False,
              idem: Optional[Idempotency] = None) -> Answer:
        """Purge (or measure) a course; with an Idempotency-Key, a repeat answers the first answer."""
        if idem is None or self.answers is None:
            return self._purge(principal, course_id, dry_run=dry_run)
        with _key_refusal():
            stored = self.answers.recall(principal.label, idem)
            if stored is not None:
                return Answer(stored["status"], stored["body"], replayed=True)
            answer = self._purge(principal, course_id, dry_run=dry_run)
            kept = self.answers.remember(principal.label, idem, {"status": answer.status, "body": answer.body})
        if kept != {"status": answer.status, "body": answer.body}:  # a parallel call with the key was first
            return Answer(kept["status"], kept["body"], replayed=True)
        return answer

    def _purge(self, principal: Principal, course_id: uuid.UUID, *, dry_run: bool) -> Answer:
        start = self.clock()
        course = self.repo.course(course_id)
        if course is not None:
            self._authorize(principal, course["organization_id"], course["owner_id"])
            if dry_run:
                entry = self.repo.course_entry(course_id)
                if entry is not None:
                    return self._dry_run(course_id, entry)
            else:
                self.repo.delete_course(course_id, reason="api", requested_by=principal.user_id)
        queued = self.repo.get(course_id)
        if queued is None:
            raise NotFound("No such course.")
        if course is None:  # already deleted: the queue entry remembers who owned it
            self._authorize(principal, queued["organization_id"], queued["owner_id"])
        if queued["status"] == "purged":
            return Answer(200, {"courseId": str(course_id), "status": "already_purged",
                                "result": full_result(queued["result"])})
        if dry_run:  # deleted, not yet purged: what is left to remove
            return self._dry_run(course_id, Entry(course_id, queued["organization_id"], queued["material_ids"]))
        report = self.make_worker().drain(time_budget_s=self.settings.purge_time_budget_seconds, batch_size=1,
                                          force=True, course_ids=[course_id])
        outcome = report.outcomes.get(str(course_id))
        if outcome is None:
            # Another worker (a parallel DELETE, the hourly drain) holds the entry: its run is this
            # purge too. Wait for it and answer what it did, rather than a 202 that names no failure.
            queued = self._after_other_run(course_id) or queued
            if queued["status"] == "purged":
                return Answer(200, {"courseId": str(course_id), "status": "already_purged",
                                    "result": full_result(queued["result"])})
            failed = failed_steps(queued["steps"])
        else:
            queued = self.repo.get(course_id) or queued
            failed = outcome.failed_steps
        result = full_result(queued["result"])
        if queued["status"] == "purged":
            return Answer(200, {"courseId": str(course_id), "status": "purged", "result": result,
                                "durationMs": round((self.clock() - start) * 1000, 1)})
        # A store failed: the course is gone for users; the rest is retried automatically.
        return Answer(202, {"courseId": str(course_id), "status": "pending", "failedSteps": failed,
                            "result": result, "attempts": queued["attempts"],
                            "nextAttemptAt": _iso(queued["next_attempt_at"])})

    def _after_other_run(self, course_id: uuid.UUID) -> Optional[dict[str, Any]]:
        """The entry once no worker holds it (bounded by the purge's time budget and the lease)."""
        give_up = self.clock() + min(self.settings.purge_time_budget_seconds, self.settings.purge_lease_seconds)
        while True:
            queued = self.repo.get(course_id)
            if queued is None or queued["status"] != "running" or self.clock() >= give_up:
                return queued
            self.sleep(OTHER_RUN_POLL_SECONDS)

    def _dry_run(self, course_id: uuid.UUID, entry: Entry) -> Answer:
        return Answer(200, {"courseId": str(course_id), "status": "dry_run",
                            "result": self.make_worker().measure(entry)})

    def status(self, principal: Principal, course_id: uuid.UUID) -> Answer:
        queued = self.repo.get(course_id)
        if queued is None:
            raise NotFound("No purge was ever requested for this course.")
        self._authorize(principal, queued["organization_id"], queued["owner_id"])
        purged = queued["status"] == "purged"
        return Answer(200, {
            "courseId": str(course_id),
            "status": "purged" if purged else "pending",  # 'running' is pending to the caller
            "attempts": queued["attempts"],
            "lastError": queued["last_error"],
            "result": full_result(queued["result"]),
            "reason": queued["reason"],
            "deletedAt": _iso(queued["deleted_at"]),
            "purgedAt": _iso(queued["purged_at"]),
            "nextAttemptAt": None if purged else _iso(queued["next_attempt_at"]),
            "steps": {step: bool((queued["steps"].get(step) or {}).get("done")) for step in STEPS},
        })

    def retry(self, course_ids: Optional[list[uuid.UUID]] = None) -> Answer:
        """Run the worker now, backoff or not (an administrator asked)."""
        report = self.make_worker().drain(time_budget_s=self.settings.purge_time_budget_seconds,
                                          batch_size=self.settings.purge_batch_size, force=True,
                                          course_ids=course_ids)
        body = report.as_dict()
        return Answer(200, {k: body[k] for k in ("processed", "purged", "stillPending", "failed")})

    # --- the orphan sweep (admin only) ---

    def _sweep(self, stores: Optional[list[str]], cursor: Optional[str]):
        return self.make_sweep().scan(stores=stores or STORES, cursor=cursor,
                                      expired=deadline_after(self.settings.orphan_time_budget_seconds))

    def scan_orphans(self, stores: Optional[list[str]], cursor: Optional[str]) -> Answer:
        """Report only: per store, the orphan course ids of this slice, their items and bytes."""
        return Answer(200, self._sweep(stores, cursor).report())

    def purge_orphans(self, stores: Optional[list[str]], cursor: Optional[str]) -> Answer:
        """Queue this slice's orphans: the purge worker removes them and reports the same counts."""
        found = self._sweep(stores, cursor)
        orgs = found.organizations
        queued = self.repo.enqueue_orphans(
            {uuid.UUID(cid): (uuid.UUID(orgs[cid]) if cid in orgs else None) for cid in sorted(found.course_ids())})
        body = {"queued": queued, "complete": found.complete, "deferred": found.deferred}
        if not found.complete:
            body["cursor"] = found.cursor
        return Answer(200, body)


class _key_refusal:
    """A key used before for another request: the contract's 422."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type, exc, tb) -> bool:
        from ..drafts.model import KeyReused

        if isinstance(exc, KeyReused):
            raise ValidationFailed("This Idempotency-Key was used for another request.", details=[
                {"field": "Idempotency-Key", "code": "key_reused",
                 "message": "already used for a different request; send a new key"}]) from None
        return False
