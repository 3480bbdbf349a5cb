"""The composition root of the purge: the real stores of this container wired into a worker.

Adapters import their heavy clients (qdrant_client, boto3) on first use, so importing this module
stays cheap; the hourly cleanup imports it on every cold start.
"""

from __future__ import annotations

from ..settings import Settings, get_settings
from ..stores import files, vectors
from ..stores.course_keys import RedisCourseKeys
from ..errors import BadRequest
from ..stores.orphans import PostgresOrphanLedger
from ..stores.purge_queue import PostgresPurgeQueue
from .orphans import OrphanSweep
from .steps import FileStep, KeyStep, RagStep, VectorStep, deadline_after
from .worker import Policy, PurgeWorker


def policy(settings: Settings) -> Policy:
    return Policy(retry_base_seconds=settings.purge_retry_base_seconds,
                  retry_max_seconds=settings.purge_retry_max_seconds,
                  lease_seconds=settings.purge_lease_seconds,
                  keep_days=settings.purge_keep_days)


def worker() -> PurgeWorker:
    """A worker over the stores of the current settings (cheap: the clients are per container)."""
    settings = get_settings()
    queue = PostgresPurgeQueue()
    steps = [VectorStep(vectors.lazy_store()), KeyStep(RedisCourseKeys()), FileStep(files.file_store()),
             RagStep(queue)]
    return PurgeWorker(queue, steps, policy(settings))


def drain_queue(*, time_budget_s: float, batch_size: int = 500, force: bool = False) -> dict:
    report = worker().drain(time_budget_s=time_budget_s, batch_size=batch_size, force=force)
    return report.as_dict()


def orphan_sweep() -> OrphanSweep:
    settings = get_settings()
    return OrphanSweep(PostgresOrphanLedger(), vectors=vectors.lazy_store(), keys=RedisCourseKeys(),
                       files=files.file_store(), grace_seconds=settings.orphan_grace_seconds,
                       page_size=settings.orphan_page_size)


HOURLY = "hourly"


def sweep_orphans_slice(*, time_budget_s: float) -> dict:
    """One bounded slice of the hourly sweep, resumed from where the previous one stopped."""
    ledger = PostgresOrphanLedger()
    pass_, cursor = ledger.load_sweep(HOURLY)
    sweep = orphan_sweep()
    try:
        found = sweep.scan(cursor=cursor, expired=deadline_after(time_budget_s))
    except BadRequest:  # a cursor an older version wrote: start the pass over
        found = sweep.scan(cursor=None, expired=deadline_after(time_budget_s))
    findings = {store: {cid: (f.items, f.bytes) for cid, f in per_course.items()}
                for store, per_course in found.orphans.items()}
    ledger.record_findings(HOURLY, pass_, findings, found.cursor, found.complete)
    ledger.prune_candidates()
    return {"complete": found.complete, "orphanCourses": len(found.course_ids()), "deferred": found.deferred,
            "pages": found.pages}


def orphan_health() -> dict:
    """What the last complete hourly sweep found: {"lastCompletedAt", "orphanCourses", "stores", "inProgress"}."""
    return PostgresOrphanLedger().last_complete(HOURLY)
