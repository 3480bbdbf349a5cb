"""The wire models of cleanup_drafts: validation and the OpenAPI document come from these alone."""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

Status = Literal["healthy", "warning", "critical"]


class CleanupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dryRun: StrictBool = Field(False, description="Count what would be deleted; change nothing.")
    maxAgeHours: Optional[Annotated[StrictInt, Field(ge=1, le=24 * 365)]] = Field(
        None, description="Delete unused drafts created more than this many hours ago (default CLEANUP_MAX_AGE_HOURS).")


class CleanupResult(BaseModel):
    deleted: int = Field(description="Drafts deleted (in a dry run: that would be deleted).")
    cutoffTime: str
    durationMs: int
    batches: int
    purgesProcessed: int
    purgesPending: int
    dryRun: bool


class Indicator(BaseModel):
    value: Optional[Union[int, float]] = Field(description="null when it cannot be measured (e.g. Redis down).")
    status: Status


class Health(BaseModel):
    status: Status
    checkedAt: str
    indicators: dict[str, Indicator] = Field(description=(
        "unusedDrafts, pollutionPercent, cleanupJobGapHours, pendingCleanup, activeDraftSessions, "
        "purgeQueueDepth, orphanCourses (docs/MONITORING.md gives each threshold)."))
