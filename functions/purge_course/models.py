"""The wire models of purge_course: the request bodies are validated by these, the responses documented."""

from __future__ import annotations

import uuid
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field


class PurgeResult(BaseModel):
    """CourseCleanupResult: what was (or, in a dry run, would be) removed, per store."""

    qdrantVectorsDeleted: int
    redisKeysDeleted: int
    ragContextEntriesDeleted: int
    filesDeleted: int
    bytesFreed: int
    databaseRowsDeleted: int = Field(description="the courses row and the rows that cascaded with it")


class FailedStep(BaseModel):
    step: Literal["qdrant", "redis", "files", "rag"]
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
