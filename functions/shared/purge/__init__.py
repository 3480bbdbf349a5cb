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


__all__ = ["drain_queue"]
