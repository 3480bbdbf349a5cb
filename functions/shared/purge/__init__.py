"""Course purge: the durable queue's worker and its steps (DESIGN.md rule 4).

`drain_queue()` is what the hourly cleanup and `POST /purges/retry` call. Importing this package
is cheap: the stores and their clients load only when a drain runs.
"""

from __future__ import annotations


def drain_queue(*, time_budget_s: float, batch_size: int = 500) -> dict:
    """Purge due entries of the queue in batches until none is due or the time budget is spent.

    Returns at least {"processed", "purged", "stillPending"} (also "failed", "released", "revived",
    "batches").
    A store that fails leaves its entries pending with a backoff; it never raises for that.
    """
    from .runtime import drain_queue as drain

    return drain(time_budget_s=time_budget_s, batch_size=batch_size)


def sweep_orphans_slice(*, time_budget_s: float) -> dict:
    """One bounded slice of the hourly orphan sweep (it resumes where the last one stopped).

    Returns {"complete", "orphanCourses" (found in this slice), "deferred", "pages"}; the findings
    of a complete pass are what orphan_health() reports. It only reports: POST /orphans/purge queues.
    """
    from .runtime import sweep_orphans_slice as sweep

    return sweep(time_budget_s=time_budget_s)


def orphan_health() -> dict:
    """The last complete sweep: {"lastCompletedAt", "orphanCourses", "stores": {store: {"courses",
    "items", "bytes"}}, "inProgress"}; orphanCourses is None before the first complete pass."""
    from .runtime import orphan_health as health

    return health()


__all__ = ["drain_queue", "orphan_health", "sweep_orphans_slice"]
