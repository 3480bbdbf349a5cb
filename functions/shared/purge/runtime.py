"""The composition root of the purge: the real stores of this container wired into a worker.

Adapters import their heavy clients (qdrant_client, boto3) on first use, so importing this module
stays cheap; the hourly cleanup imports it on every cold start.
"""

from __future__ import annotations

from ..settings import Settings, get_settings
from ..stores import files, vectors
from ..stores.course_keys import RedisCourseKeys
from ..stores.purge_queue import PostgresPurgeQueue
from .steps import FileStep, KeyStep, RagStep, VectorStep
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
    steps = [VectorStep(vectors.vector_store()), KeyStep(RedisCourseKeys()), FileStep(files.file_store()),
             RagStep(queue)]
    return PurgeWorker(queue, steps, policy(settings))


def drain_queue(*, time_budget_s: float, batch_size: int = 500, force: bool = False) -> dict:
    report = worker().drain(time_budget_s=time_budget_s, batch_size=batch_size, force=force)
    return report.as_dict()
