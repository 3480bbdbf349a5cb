"""The purge's stores, one module each in functions/purge/stores/ (the models: Sentry's deletion
registry, GitLab's loose-foreign-keys definitions).

A store module defines `STORE = PurgeStore(...)`: its name, the keys of its counts in the result,
where it comes in the steps and in the orphan sweep, and how its step and its orphan source are
built from this process's resources. The worker, the dry run, the orphan sweep, the result counts,
the wire models and the generated docs all read this registry: adding a store is its module and
its test.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from .model import Counts, Removed
from .ports import OrphanSource, Resources, Step

DATABASE_ROWS = "databaseRowsDeleted"  # the course's own rows: the trigger's, not a store's


@dataclass(frozen=True)
class PurgeStore:
    name: str  # the step's name: failedSteps, the queue's steps, the sweep's stores
    count_key: str  # its count in CourseCleanupResult, as the wire and the queue's result name it
    bytes_key: Optional[str]  # its bytes, if it has any
    step_order: int  # the order of the steps in every answer
    sweep_order: Optional[int]  # the orphan sweep's order (cheapest first); None: not swept
    description: str  # for the generated docs: what of a course this store holds
    # The step (None: not configured in this deployment, so skipped) and the orphan source.
    step: Callable[[Resources], Optional[Step]]
    source: Optional[Callable[[Resources], Optional[OrphanSource]]] = None


@lru_cache(maxsize=1)
def stores() -> tuple[PurgeStore, ...]:
    """Every store module of functions/purge/stores/, in step order."""
    from . import stores as package

    found = [importlib.import_module(f"{package.__name__}.{m.name}").STORE
             for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")]
    return tuple(sorted(found, key=lambda s: s.step_order))


def names() -> tuple[str, ...]:
    return tuple(s.name for s in stores())


def swept() -> tuple[PurgeStore, ...]:
    """The stores the orphan sweep visits, cheapest first."""
    return tuple(sorted((s for s in stores() if s.sweep_order is not None), key=lambda s: s.sweep_order or 0))


def result_keys() -> tuple[str, ...]:
    """CourseCleanupResult's keys (seed 001), in order: each store's count (and bytes), then the rows."""
    keys: list[str] = []
    for s in stores():
        keys.append(s.count_key)
        if s.bytes_key:
            keys.append(s.bytes_key)
    return (*keys, DATABASE_ROWS)


def store(name: str) -> PurgeStore:
    for s in stores():
        if s.name == name:
            return s
    raise KeyError(name)


def result_of(removed: Removed) -> dict[str, int]:
    """CourseCleanupResult (seed 001) as the wire and the queue's stored result hold it."""
    out: dict[str, int] = {}
    for s in stores():
        counts = removed.of(s.name)
        out[s.count_key] = counts.count
        if s.bytes_key:
            out[s.bytes_key] = counts.bytes
    out[DATABASE_ROWS] = removed.database_rows
    return out


def removed_of(result: Optional[dict[str, object]]) -> Removed:
    """The reverse of result_of (missing keys are 0)."""
    result = result or {}

    def number(key: Optional[str]) -> int:
        value = result.get(key) if key else 0
        return int(value) if isinstance(value, (int, float, str)) and str(value).lstrip("-").isdigit() else 0

    return Removed({s.name: Counts(number(s.count_key), number(s.bytes_key)) for s in stores()},
                   number(DATABASE_ROWS))
