"""The wire models of purge_course: the request bodies are validated by these, the responses documented."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..purge import registry


def _result_model() -> type[BaseModel]:
    """CourseCleanupResult: what was (or, in a dry run, would be) removed, per store of the registry."""
    fields: dict[str, Any] = {key: (int, Field(description=f"{store.name}: {store.description}"))
                              for store in registry.stores()
                              for key in (store.count_key, store.bytes_key) if key}
    fields[registry.DATABASE_ROWS] = (int, Field(description="the courses row and the rows that cascaded with it"))
    return create_model("PurgeResult", __doc__=_result_model.__doc__, **fields)


if TYPE_CHECKING:  # built from the registry at import, which mypy cannot follow: their base types
    PurgeResult = BaseModel
    StoreName = str
    SweptStore = str
else:
    PurgeResult = _result_model()
    StoreName = Literal[registry.names()]
    SweptStore = Literal[tuple(s.name for s in registry.swept())]


class FailedStep(BaseModel):
    step: StoreName
    error: str


class Purged(BaseModel):
    """purged: removed now; already_purged: an earlier purge removed it; dry_run: what would be removed."""

    courseId: str
    status: Literal["purged", "already_purged", "dry_run"]
    result: PurgeResult
    durationMs: Optional[float] = Field(None, description="purged only")


class PurgePending(BaseModel):
    """A store failed: the course is gone for users; the rest is retried automatically (with backoff)."""

    courseId: str
    status: Literal["pending"]
    failedSteps: list[FailedStep]
    result: PurgeResult
    attempts: int
    nextAttemptAt: Optional[str]


class PurgeStatus(BaseModel):
    courseId: str
    status: Literal["pending", "purged"]
    attempts: int
    lastError: Optional[str]
    result: PurgeResult
    reason: str = Field(description="api, draft_expired, orphan, sql (a delete made elsewhere) ...")
    deletedAt: str
    purgedAt: Optional[str]
    nextAttemptAt: Optional[str]
    steps: dict[str, bool] = Field(description="which stores are done")


class RetryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    courseIds: Optional[list[uuid.UUID]] = Field(None, max_length=1000, description="only these entries")


class RetryReport(BaseModel):
    processed: int
    purged: int
    stillPending: int
    failed: int




class OrphanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stores: Optional[list[SweptStore]] = Field(
        None, min_length=1, max_length=len(registry.swept()), description="the stores to sweep (default: all)")
    cursor: Optional[str] = Field(None, max_length=4096,
                                  description="the cursor of the previous answer, to go on where it stopped")


class OrphanStoreReport(BaseModel):
    courseIds: list[str]
    count: int = Field(description="points, keys, files or rows of these course ids found in this slice")
    bytes: Optional[int] = Field(None, description="files only")


class OrphanScan(BaseModel):
    orphans: dict[str, OrphanStoreReport]
    complete: bool = Field(description="false: the time budget ended this slice; send `cursor` back to go on")
    cursor: Optional[str] = None
    deferred: int = Field(description="ids without a course that are still inside the grace period")


class OrphansQueued(BaseModel):
    queued: int = Field(description="orphan course ids put in the purge queue (the purge worker removes them)")
    complete: bool
    cursor: Optional[str] = None
    deferred: int
