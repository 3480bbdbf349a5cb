"""The composition root: what one process (a Lambda container, a dev-server worker, a test run)
builds from its settings: clients, store adapters and the domains' services, each once, on first use.

Nothing is built at import: a function pays only for what its requests reach (the draft function
never opens Qdrant or S3). `reset()` forgets all of it, closing what it opened: the one reset of the
tests, and what a new container would start from.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Optional

from .platform.errors import StoreUnavailable
from .platform.settings import Settings, get_settings

if TYPE_CHECKING:  # for the annotations only: each is imported where it is built, on first use
    from qdrant_client import QdrantClient

    from .adapters.idempotency_keys import PostgresAnswers
    from .adapters.orphan_ledger import PostgresOrphanLedger
    from .adapters.postgres import Postgres
    from .adapters.purge_queue import PostgresPurgeQueue
    from .adapters.redis import Client
    from .cleanup.service import DraftCleanup
    from .drafts.service import DraftSessions
    from .platform.auth import Authenticator
    from .purge.orphans import HourlySweep, OrphanSweep
    from .purge.service import CoursePurges
    from .purge.stores.files import FileStore
    from .purge.stores.qdrant import QdrantVectors
    from .purge.worker import DrainReport, PurgeWorker


class Process:
    """This process's settings, clients, stores and services."""

    def __init__(self, settings: Optional[Settings] = None):
        self._settings = settings
        self._lock = threading.Lock()

    @cached_property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    @cached_property
    def authenticator(self) -> Authenticator:
        """Who is calling (its verified tokens and JWKS keys are kept for the process's life)."""
        from .platform.auth import Authenticator

        return Authenticator(self.settings)

    # --- clients ---

    @cached_property
    def postgres(self) -> Postgres:
        from .adapters.postgres import Postgres

        return Postgres(self.settings)

    @cached_property
    def redis(self) -> Client:
        from .adapters.redis import connect

        return connect(self.settings)

    @cached_property
    def redis_bytes(self) -> Client:
        """A client answering bytes: key names (the purge's, the sweep's) need not be UTF-8."""
        from .adapters.redis import connect

        return connect(self.settings, decode_responses=False)

    @cached_property
    def files(self) -> Optional[FileStore]:
        """The FileStore of STORAGE_URL, or None (no uploads in this deployment)."""
        from .purge.stores.files import open_storage

        return open_storage(self.settings.storage_url, self.settings) if self.settings.storage_url else None

    @property
    def has_qdrant(self) -> bool:
        """Whether this deployment has a Qdrant (else its purge step is skipped)."""
        return _qdrant_client is not None or bool(self.settings.qdrant_url or self.settings.qdrant_path)

    def vectors(self) -> QdrantVectors:
        """The Qdrant store, opened on first use: a Qdrant that cannot even be opened (e.g. a local-mode
        directory another process holds) is then a failed purge step, not a failed request."""
        with self._lock:
            found: Optional[QdrantVectors] = self.__dict__.get("_vectors")
            if found is None:
                from .purge.stores.qdrant import QdrantVectors, connect

                try:
                    if _qdrant_client is not None:
                        found = QdrantVectors(_qdrant_client, self.settings.qdrant_collection, hosted=False)
                    else:
                        found = connect(self.settings)
                except Exception as exc:
                    raise StoreUnavailable("qdrant", exc) from None
                if found is None:
                    raise StoreUnavailable("qdrant", RuntimeError("QDRANT_URL / QDRANT_PATH are not set"))
                self.__dict__["_vectors"] = found
            return found

    # --- the drafts ---

    @cached_property
    def draft_sessions(self) -> DraftSessions:
        from .adapters.courses import PostgresCourses
        from .adapters.database_sessions import DatabaseSessionStore
        from .adapters.redis_sessions import RedisSessionStore
        from .drafts.service import DraftSessions

        s = self.settings
        return DraftSessions(
            RedisSessionStore(lambda: self.redis, timeout_s=s.store_timeout_seconds),
            DatabaseSessionStore(self.postgres, default_title=s.default_course_title,
                                 lifetime_ms=s.cleanup_max_age_hours * 3600 * 1000),
            PostgresCourses(self.postgres), s)

    # --- the purge ---

    @cached_property
    def purge_queue(self) -> PostgresPurgeQueue:
        from .adapters.purge_queue import PostgresPurgeQueue

        return PostgresPurgeQueue(self.postgres)

    def purge_worker(self) -> PurgeWorker:
        """A worker over the registry's stores (cheap: the clients are this process's)."""
        from .purge import registry
        from .purge.steps import Skipped
        from .purge.worker import Policy, PurgeWorker

        s = self.settings
        steps = [store.step(self) or Skipped(store.name) for store in registry.stores()]
        return PurgeWorker(self.purge_queue, steps, Policy(
            retry_base_seconds=s.purge_retry_base_seconds, retry_max_seconds=s.purge_retry_max_seconds,
            lease_seconds=s.purge_lease_seconds, keep_days=s.purge_keep_days))

    def orphan_sweep(self) -> OrphanSweep:
        from .purge import registry
        from .purge.orphans import OrphanSweep

        sources = [source for store in registry.swept() if store.source and (source := store.source(self))]
        return OrphanSweep(self.orphan_ledger, sources, grace_seconds=self.settings.orphan_grace_seconds,
                           page_size=self.settings.orphan_page_size)

    @cached_property
    def orphan_ledger(self) -> PostgresOrphanLedger:
        from .adapters.orphan_ledger import PostgresOrphanLedger

        return PostgresOrphanLedger(self.postgres)

    @cached_property
    def hourly_sweep(self) -> HourlySweep:
        from .purge.orphans import HourlySweep

        return HourlySweep(self.orphan_ledger, self.orphan_sweep())

    @cached_property
    def course_purges(self) -> CoursePurges:
        from .adapters.course_directory import PostgresCourseDirectory
        from .purge.service import CoursePurges

        return CoursePurges(PostgresCourseDirectory(self.postgres), self.purge_queue, self.purge_worker,
                            self.orphan_sweep, self.settings)

    @cached_property
    def answers(self) -> PostgresAnswers:
        """Idempotency-Key answers of writes that span transactions (the purge's DELETE)."""
        from .adapters.idempotency_keys import PostgresAnswers

        return PostgresAnswers(self.postgres)

    # --- the cleanup ---

    @cached_property
    def draft_cleanup(self) -> DraftCleanup:
        from .adapters.draft_cleanup import PostgresDraftCleanup
        from .adapters.redis_sessions import RedisSessionStore
        from .cleanup.service import DraftCleanup

        s = self.settings
        sessions = RedisSessionStore(lambda: self.redis, timeout_s=s.store_timeout_seconds)

        def drain(*, time_budget_s: float, batch_size: int) -> DrainReport:
            return self.purge_worker().drain(time_budget_s=time_budget_s, batch_size=batch_size)

        return DraftCleanup(PostgresDraftCleanup(self.postgres), sessions, drain, s,
                            sweep=lambda **kw: self.hourly_sweep.slice(**kw), orphans=lambda: self.hourly_sweep.health())

    # --- the end ---

    def close(self) -> None:
        """Close what was opened (a pool, clients, a local-mode Qdrant that holds its directory)."""
        for name in ("postgres", "redis", "redis_bytes"):
            found = self.__dict__.get(name)
            if found is not None:
                try:
                    found.close()
                except Exception:  # closing is best effort; a dead connection has nothing to release
                    pass
        vectors = self.__dict__.get("_vectors")
        if vectors is not None and _qdrant_client is None:
            vectors.close()


_process: Optional[Process] = None
# A qdrant-client handed in by a test: it outlives resets, its owner closes it.
_qdrant_client: Optional[QdrantClient] = None
_lock = threading.Lock()


def process() -> Process:
    """This process's composition root."""
    global _process
    if _process is None:
        with _lock:
            if _process is None:
                _process = Process()
    return _process


def reset() -> None:
    """Forget every client, store and service, and the settings (tests; what a new container is)."""
    global _process
    with _lock:
        if _process is not None:
            _process.close()
        _process = None
    get_settings.cache_clear()


def use_qdrant_client(client: QdrantClient) -> None:
    """Use this qdrant-client (e.g. a test's local-mode one) instead of one from the settings."""
    global _qdrant_client
    reset()
    _qdrant_client = client
