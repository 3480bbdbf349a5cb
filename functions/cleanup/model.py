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
    purges_done: int = 0  # of the processed, those whose purge finished
    purge_failures: dict[str, int] = field(default_factory=dict)  # per store: courses whose step failed
    complete: bool = True
    source: str = "http"
    run_id: Optional[int] = None
    sessions: dict[str, int] = field(default_factory=dict)
    orphan_slice: Optional[dict[str, Any]] = None
    problems: list[str] = field(default_factory=list)
    gap_before_hours: Optional[float] = None  # since the previous successful run, as this one began


@dataclass(frozen=True)
class Census:
    """Counts the health indicators leave out (seed 000 §6.1, seed 002's panels and alert matrix)."""
    total_drafts: int  # courses with status draft
    drafts_last_hour: int  # of them, created in the last hour (seed 002's "unusual traffic spike": > 100)
    drafts_last_day: int  # created in the last 24 hours ("new drafts a day")
    max_unused_per_org: int  # the most unused drafts one organization has (seed 002: > 100 is abuse)
    oldest_pending_purge_s: Optional[float]  # how long the oldest unfinished purge has waited (None: none)


@dataclass(frozen=True)
class Indicator:
    value: Optional[float]  # None: it could not be measured (its store is down)
    status: str  # healthy, warning, critical


@dataclass(frozen=True)
class Health:
    status: str  # the worst indicator's
    checked_at: datetime
    indicators: dict[str, Indicator]  # unused_drafts, pollution_percent, ... (docs/MONITORING.md)
