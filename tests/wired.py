"""The tests' handles on this process's composition root (functions/wiring.py): the same clients,
stores and services the handlers use, so that a test and a handler share one container's state."""

from __future__ import annotations

from typing import Any

from functions import wiring


def process() -> wiring.Process:
    return wiring.process()


def pg() -> Any:
    return process().postgres


def redis_sessions() -> Any:
    return process().draft_sessions.sessions


def purge_queue() -> Any:
    return process().purge_queue


def course_keys() -> Any:
    from functions.purge.stores.redis import RedisCourseKeys

    return RedisCourseKeys(lambda: process().redis_bytes, scan_count=process().settings.purge_redis_scan_count)


def drain_queue(*, time_budget_s: float, batch_size: int = 500, force: bool = False) -> dict[str, int]:
    """What the hourly cleanup runs: the worker over the queue, with its housekeeping."""
    return process().purge_worker().drain(time_budget_s=time_budget_s, batch_size=batch_size, force=force).as_dict()


def sweep_orphans_slice(*, time_budget_s: float) -> dict[str, Any]:
    return process().hourly_sweep.slice(time_budget_s=time_budget_s)


def orphan_health() -> dict[str, Any]:
    return process().hourly_sweep.health()


def use_qdrant(client: Any) -> None:
    """Hand the functions this qdrant-client (a test's local-mode one), or None to stop."""
    wiring.use_qdrant_client(client)
