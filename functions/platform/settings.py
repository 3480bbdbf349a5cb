"""Configuration from environment variables (the names of API.md, template.yaml and the dev server).

A malformed value stops start-up with one line naming the variable: each function reads its
settings when its module loads, so in Lambda a bad deploy fails the container's init (reported as
an init error, counted by the Errors alarm), never each request with a 500.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Optional
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the environment variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    database_url: Optional[str] = None
    redis_url: Optional[str] = None
    # REDIS_URL names one node of a Redis Cluster (ElastiCache Serverless or cluster mode, Valkey,
    # self-hosted): redis-py's cluster client, which routes each key to its slot's primary.
    redis_cluster: bool = False
    qdrant_url: Optional[str] = None
    qdrant_api_key: Optional[str] = None
    qdrant_path: Optional[str] = None
    qdrant_collection: str = "course_chunks"
    storage_url: Optional[str] = None
    s3_endpoint_url: Optional[str] = None

    supabase_jwt_secret: Optional[str] = None
    supabase_jwks_url: Optional[str] = None
    jwt_audience: str = "authenticated"
    jwt_issuer: Optional[str] = None
    admin_token: Optional[str] = None

    draft_ttl_seconds: int = Field(86400, ge=60, le=30 * 86400)
    draft_max_sessions_per_user: int = Field(20, ge=1, le=10_000)
    draft_max_creates_per_minute: int = Field(60, ge=1, le=100_000)
    draft_max_body_bytes: int = Field(65536, ge=1024, le=6 * 1024 * 1024)
    draft_db_fallback: bool = True
    default_course_title: str = Field("Новый курс", min_length=1, max_length=500)
    cleanup_max_age_hours: int = Field(24, ge=1, le=24 * 365)
    # Draft cleanup (functions/cleanup_drafts): rows per batch transaction (a user's update of an
    # expiring draft waits at most one batch), and the run's budget; in Lambda the run also stops
    # CLEANUP_SAFETY_SECONDS before the function's own timeout (context.get_remaining_time_in_millis).
    cleanup_batch_size: int = Field(1000, ge=1, le=10_000)
    cleanup_time_budget_seconds: float = Field(25, gt=0, le=900)
    cleanup_safety_seconds: float = Field(5, ge=0, le=300)
    # CloudWatch metrics (embedded metric format, functions/platform/metrics.py).
    metrics_namespace: str = Field("CourseDrafts", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._/#:-]+$")

    # Store timeouts: short, so that a hung store becomes a 503 well inside the function timeout.
    store_timeout_seconds: float = Field(3.0, gt=0, le=60)
    retry_after_seconds: int = Field(5, ge=1, le=3600)

    # The purge queue (functions/purge): a failed entry waits base * 2^(attempts-1) seconds,
    # at most the cap; a 'running' entry whose worker died is released after the lease.
    purge_retry_base_seconds: float = Field(30, gt=0, le=86400)
    purge_retry_max_seconds: float = Field(3600, gt=0, le=7 * 86400)
    purge_lease_seconds: int = Field(300, ge=5, le=86400)
    purge_batch_size: int = Field(1000, ge=1, le=10_000)  # one keyspace SCAN per batch: per 1,000 courses (make bench)
    purge_time_budget_seconds: float = Field(20, gt=0, le=900)  # POST /purges/retry
    purge_redis_scan_count: int = Field(1000, ge=10, le=100_000)
    purge_keep_days: int = Field(30, ge=1, le=3650)  # purged entries are kept this long, then pruned
    # The orphan sweep: an absent course id is an orphan only after this long (a course being
    # created while a sweep runs is never one); items per page of each store; time per call.
    orphan_grace_seconds: float = Field(3600, ge=0, le=30 * 86400)
    orphan_page_size: int = Field(1000, ge=1, le=10_000)
    orphan_time_budget_seconds: float = Field(20, gt=0, le=900)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: Optional[str]) -> Optional[str]:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("redis_cluster")
    @classmethod
    def _cluster_url(cls, value: bool, info: ValidationInfo) -> bool:
        # redis-py's cluster client reaches nodes over TCP only, and a cluster has database 0 only.
        url = urlsplit(info.data.get("redis_url") or "")
        if value and (url.scheme == "unix" or url.path.strip("/") not in ("", "0")):
            raise ValueError("a cluster is reached as redis://host:port or rediss://host:port (database 0)")
        return value

    @field_validator("storage_url")
    @classmethod
    def _storage_scheme(cls, value: Optional[str]) -> Optional[str]:
        if value and not value.startswith(("file://", "s3://")):
            raise ValueError("must be file://DIR or s3://BUCKET[/PREFIX]")
        return value



def load_settings(**overrides: Any) -> Settings:
    """The settings, or ConfigError with one line naming each bad variable and what it must be."""
    from .validation import detail

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            said = detail(err)
            message = str(err.get("msg", "")).removeprefix("Value error, ") if said["code"] == "invalid" else said["message"]
            problems.append(f"{str(err['loc'][0]).upper()} {message} (got {err.get('input')!r})")
        raise ConfigError("invalid setting: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process (a Lambda container reads its environment once)."""
    return load_settings()
