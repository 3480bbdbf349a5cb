"""The purge's Qdrant store: course chunks, counted, deleted and listed by the payload field `course_id`.

Settings: QDRANT_URL (+ QDRANT_API_KEY) for a hosted Qdrant, or QDRANT_URL=':memory:', or
QDRANT_PATH for qdrant-client's local mode on a directory (dev). The collection is
QDRANT_COLLECTION (payload `course_id`, `organization_id`, `material_id`).

qdrant_client takes most of a second to import, so it is imported on first use, and the client is
created once per process (functions/wiring.py). A local-mode client holds a lock on its directory,
which is one more reason for one client per process; tests hand theirs in (wiring.use_qdrant_client).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Optional

from ...platform.errors import StoreUnavailable
from ...platform.settings import Settings
from ..model import Counts, Entry
from ..ports import Page
from ..registry import PurgeStore
from ..steps import BatchStep

if TYPE_CHECKING:  # qdrant_client is imported on first use (see above)
    from qdrant_client import QdrantClient
    from qdrant_client.conversions.common_types import PointId
    from qdrant_client.http.models import Filter

log = logging.getLogger(__name__)
MATCH_ANY_CHUNK = 500  # course ids per filter: one request for a whole purge batch, kept bounded


class QdrantVectors:
    def __init__(self, client: QdrantClient, collection: str, *, hosted: bool, timeout: int = 15):
        self._client = client
        self.collection = collection
        self.hosted = hosted  # a hosted collection that is missing is an error; in local mode, just empty
        self.timeout = timeout
        self._indexed = False

    @property
    def client(self) -> QdrantClient:
        return self._client

    # --- helpers ---

    def _filter(self, course_ids: list[str], *, shared: Optional[bool] = False) -> Filter:
        """Points of these courses. shared=False: only points no other course names too (a point whose
        `course_id` lists several courses); True: only those; None: both."""
        from qdrant_client import models

        of_courses = models.FieldCondition(key="course_id", match=models.MatchAny(any=course_ids))
        several = models.FieldCondition(key="course_id", values_count=models.ValuesCount(gt=1))
        if shared is None:
            return models.Filter(must=[of_courses])
        if shared:
            return models.Filter(must=[of_courses, several])
        return models.Filter(must=[of_courses], must_not=[several])

    def _available(self) -> bool:
        """Whether the collection exists. Missing in local mode means nothing was ever stored there."""
        with qdrant_errors():
            exists = self.client.collection_exists(self.collection)
        if not exists and self.hosted:
            raise RuntimeError(f"Qdrant collection {self.collection!r} does not exist (check QDRANT_COLLECTION)")
        return exists

    def ensure_indexes(self) -> None:
        """Deletes filter on `course_id`; `organization_id` is the tenant key. Both must be indexed."""
        if self._indexed:
            return
        from qdrant_client import models

        with qdrant_errors():
            schema = self.client.get_collection(self.collection).payload_schema or {}
            wanted = {
                "course_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD),
                "organization_id": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            }
            for field, params in wanted.items():
                if field not in schema:
                    with warnings.catch_warnings():
                        # Local mode says its indexes do nothing; they matter on the hosted server.
                        warnings.simplefilter("ignore", UserWarning)
                        self.client.create_payload_index(self.collection, field, field_schema=params, wait=True)
        self._indexed = True

    # --- what the purge and the sweep call ---

    def count_by_course(self, course_ids: list[str]) -> dict[str, int]:
        """Points per course id that a purge would delete (exact; points shared with other courses are
        kept, so not counted), in one facet request per chunk of ids."""
        counts = {cid: 0 for cid in course_ids}
        if not course_ids or not self._available():
            return counts
        self.ensure_indexes()
        with qdrant_errors():
            for start in range(0, len(course_ids), MATCH_ANY_CHUNK):
                chunk = course_ids[start:start + MATCH_ANY_CHUNK]
                reply = self.client.facet(self.collection, key="course_id", facet_filter=self._filter(chunk),
                                          limit=len(chunk), exact=True)
                for hit in reply.hits:
                    if hit.value in counts:
                        counts[hit.value] = hit.count
        return counts

    def delete_courses(self, course_ids: list[str]) -> dict[str, int]:
        """Delete every point of these courses (one filter per chunk, wait=True), then confirm 0 left.

        A point that names other courses too (`course_id` a list) is theirs as well: it is not
        deleted, only these courses are taken out of its list. The counts are the deleted points.
        """
        counts = self.count_by_course(course_ids)
        if not course_ids or not self._available():
            return counts
        from qdrant_client import models

        with qdrant_errors():
            for start in range(0, len(course_ids), MATCH_ANY_CHUNK):
                chunk = course_ids[start:start + MATCH_ANY_CHUNK]
                if any(counts[cid] for cid in chunk):
                    selector = models.FilterSelector(filter=self._filter(chunk))
                    self.client.delete(self.collection, points_selector=selector, wait=True)
                self._detach(chunk)
                left = self.client.count(self.collection, count_filter=self._filter(chunk, shared=None), exact=True).count
                if left:
                    # A writer added points meanwhile: fail the step, the retry deletes them.
                    raise RuntimeError(f"{left} point(s) of the purged courses are still in Qdrant")
        return counts

    def _detach(self, course_ids: list[str]) -> int:
        """Take these courses out of the points they share with others (rare: scrolled, not bulk)."""
        gone, offset, detached = set(course_ids), None, 0
        while True:
            points, offset = self.client.scroll(self.collection, scroll_filter=self._filter(course_ids, shared=True),
                                                limit=256, offset=offset, with_payload=["course_id"], with_vectors=False)
            for point in points:
                kept = [cid for cid in (point.payload or {}).get("course_id") or [] if cid not in gone]
                if kept:
                    self.client.set_payload(self.collection, payload={"course_id": kept}, points=[point.id], wait=True)
                else:  # every course it named is being purged
                    self.client.delete(self.collection, points_selector=[point.id], wait=True)
                detached += 1
            if offset is None:
                return detached

    def course_ids(self, *, offset: Optional[PointId] = None,
                   limit: int = 1000) -> tuple[dict[str, tuple[int, Optional[str]]], Optional[PointId]]:
        """One page of the collection (in point id order): {course_id: (points, organization_id)} and
        the offset of the next page (None after the last)."""
        if not self._available():
            return {}, None
        with qdrant_errors():
            points, next_offset = self.client.scroll(
                self.collection, limit=limit, offset=offset, with_payload=["course_id", "organization_id"],
                with_vectors=False)
        found: dict[str, tuple[int, Optional[str]]] = {}
        for point in points:
            payload = point.payload or {}
            cid, org = payload.get("course_id"), payload.get("organization_id")
            if isinstance(cid, str):
                count, known = found.get(cid, (0, None))
                found[cid] = (count + 1, known or (org if isinstance(org, str) else None))
        return found, next_offset

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing is best effort; a dead connection has nothing to release
            pass


class _QdrantErrors:
    """Connection failures of any transport become StoreUnavailable('qdrant')."""

    def __enter__(self) -> _QdrantErrors:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> Literal[False]:  # never swallows: it raises instead
        if exc is None or isinstance(exc, StoreUnavailable):
            return False
        from qdrant_client.http.exceptions import ResponseHandlingException

        if isinstance(exc, (ResponseHandlingException, ConnectionError, TimeoutError, OSError)):
            raise StoreUnavailable("qdrant", exc) from None
        try:
            import httpx
        except ImportError:  # pragma: no cover - qdrant-client depends on httpx
            return False
        if isinstance(exc, httpx.TransportError):
            raise StoreUnavailable("qdrant", exc) from None
        return False


def qdrant_errors() -> _QdrantErrors:
    return _QdrantErrors()


def connect(settings: Settings) -> Optional[QdrantVectors]:
    """A store from the settings, or None when no Qdrant is configured (no vectors in this deployment)."""
    url, path = settings.qdrant_url, settings.qdrant_path
    if not url and not path:
        return None
    from qdrant_client import QdrantClient

    timeout = max(5, int(settings.store_timeout_seconds * 5))  # deletes with wait=True take a while
    if url == ":memory:":
        client, hosted = QdrantClient(location=":memory:"), False
    elif url:
        # No version check at start-up: it is one more request on every cold start.
        client = QdrantClient(url=url, api_key=settings.qdrant_api_key, timeout=timeout, check_compatibility=False)
        hosted = True
    else:
        client, hosted = QdrantClient(path=path), False
    return QdrantVectors(client, settings.qdrant_collection, hosted=hosted, timeout=timeout)


class VectorStep(BatchStep):
    name = "qdrant"

    def __init__(self, vectors: Callable[[], QdrantVectors]):
        self.vectors = vectors  # opened on first use: a Qdrant that cannot be opened is a failed step

    def purge(self, entries: list[Entry]) -> dict[str, int]:
        # One filter (MatchAny on course_id) for the whole batch.
        return self.vectors().delete_courses([e.key for e in entries])

    def count(self, entries: list[Entry]) -> dict[str, int]:
        return self.vectors().count_by_course([e.key for e in entries])


class QdrantSource:
    name = "qdrant"

    def __init__(self, vectors: Callable[[], QdrantVectors]):
        self.vectors = vectors

    def page(self, position: Any, size: int) -> Page:
        from ..orphans import canonical

        seen, offset = self.vectors().course_ids(offset=position, limit=size)
        return Page(found={cid: n for cid, (n, _org) in seen.items()},
                    organizations={cid: org for cid, (_n, org) in seen.items() if org and canonical(org)},
                    next=offset)

    def valid(self, position: Any) -> bool:
        """A point id, as qdrant-client's scroll hands them out: an unsigned integer or a UUID."""
        from ..orphans import canonical

        return ((isinstance(position, int) and not isinstance(position, bool) and 0 <= position < 2**64)
                or canonical(position) is not None)

    def measure(self, prefixes: list[str]) -> Counts:
        return Counts()


STORE = PurgeStore(
    name="qdrant", count_key="qdrantVectorsDeleted", bytes_key=None, step_order=1, sweep_order=4,
    description="points of QDRANT_COLLECTION whose payload `course_id` names the course (a point naming "
                "several courses only loses this one)",
    step=lambda r: VectorStep(r.vectors) if r.has_qdrant else None,
    source=lambda r: QdrantSource(r.vectors) if r.has_qdrant else None)
