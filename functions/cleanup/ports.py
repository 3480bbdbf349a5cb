"""What the cleanup needs of the world (implemented in functions/adapters/, faked in tests/fakes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Optional, Protocol

from .model import Census


class HealthRow(Protocol):
    # Read-only, and a Sequence below: an adapter's rows are its own (frozen) dataclass.
    @property
    def name(self) -> str: ...

    @property
    def value(self) -> Optional[float]: ...

    @property
    def status(self) -> str: ...


class DraftRows(Protocol):
    """The draft rows in Postgres and the run log: the SQL of migrations 0006-0007."""

    def cutoff(self, max_age_hours: int) -> datetime: ...

    def count_expired(self, cutoff: datetime) -> int: ...

    def begin_run(self, source: str, cutoff: datetime) -> int: ...

    def delete_batch(self, run_id: int, cutoff: datetime, batch_size: int) -> int: ...

    def finish_run(self, run_id: int, *, complete: bool, error: Optional[str] = None) -> None: ...

    def prune_runs(self, keep_days: int = 30) -> int: ...

    def prune_idempotency_keys(self) -> int: ...

    def purge_queue_depth(self) -> int: ...

    def health(self, max_age_hours: int) -> Sequence[HealthRow]: ...

    def census(self) -> Census: ...

    def job_gap_hours(self) -> Optional[float]: ...


class SessionIndexes(Protocol):
    """The per-user indexes of draft sessions in Redis."""

    def prune_indexes(self, *, now_ms: int, scan_count: int = 1000) -> dict[str, int]: ...
