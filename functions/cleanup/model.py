"""The cleanup's vocabulary: what a run did, and the health of drafts and their purge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional


@dataclass
class CleanupReport:
    deleted: int
    cutoff: datetime
    duration_ms: int
    batches: int
    purges_processed: int
    purges_pending: int
    dry_run: bool
    complete: bool = True
    source: str = "http"
    run_id: Optional[int] = None
    sessions: dict[str, int] = field(default_factory=dict)
    orphan_slice: Optional[dict[str, Any]] = None
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Indicator:
    value: Optional[float]  # None: it could not be measured (its store is down)
    status: str  # healthy, warning, critical


@dataclass(frozen=True)
class Health:
    status: str  # the worst indicator's
    checked_at: datetime
    indicators: dict[str, Indicator]  # unused_drafts, pollution_percent, ... (docs/MONITORING.md)
