"""The purge's Redis store: the keys a course owns (API.md, functions/purge_course), found without KEYS.

- by pattern: `idempotency:generation-{courseId}-*`, `bull:course-generation:{courseId}:*`,
  `rag:{courseId}:*`: found by one SCAN of the keyspace for a whole batch of courses;
- exact: `course:{courseId}`, `materials:{courseId}`, `material:{materialId}` of its materials.

A scanned key belongs to a course only if the exact id sits between the pattern's prefix and its
separator: `rag:{id}x:...` is not a key of course `{id}`, whatever a glob would say.

These keys carry no hash tag, so on a Redis Cluster they spread over every primary: the SCANs visit
each primary (functions.adapters.redis), and each UNLINK names keys of one slot only.

Keys are read as bytes (decoded leniently), so one odd binary key elsewhere cannot break a purge.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Optional, Union

from ..model import Counts, Entry
from ..ports import Page, Resources
from ..registry import PurgeStore
from ..steps import BatchStep

if TYPE_CHECKING:  # the adapter (and redis-py) load with the first purge, not with the function
    from ...adapters.redis import Client, ScanPosition

UUID_LEN = 36
# (prefix, the character that must follow the course id)
PATTERNS = (("idempotency:generation-", "-"), ("bull:course-generation:", ":"), ("rag:", ":"))
EXACT = ("course:", "materials:")
# One glob that the three prefixes pass ("ide", "bul", "rag"): the server filters most other keys
# out during the one SCAN, and course_of_key() decides exactly.
SCAN_MATCH = "[ibr][dua][elg]*"
UNLINK_CHUNK = 500
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # no glob characters


def course_of_key(key: str) -> Optional[str]:
    """The course id a pattern key belongs to, or None. Exact: never a prefix match."""
    for prefix, sep in PATTERNS:
        if key.startswith(prefix):
            rest = key[len(prefix):]
            if len(rest) > UUID_LEN and rest[UUID_LEN] == sep:
                return rest[:UUID_LEN]
            return None
    return None


def exact_course_of_key(key: str) -> Optional[str]:
    """The course id of `course:{id}` / `materials:{id}`, or None."""
    for prefix in EXACT:
        if key.startswith(prefix) and len(key) == len(prefix) + UUID_LEN:
            return key[len(prefix):]
    return None


def exact_keys(course_id: str, material_ids: Iterable[str]) -> list[str]:
    return [f"course:{course_id}", f"materials:{course_id}", *(f"material:{m}" for m in material_ids)]


def _text(key: bytes) -> str:
    return key.decode("utf-8", "surrogateescape")


def _raw(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


class RedisCourseKeys:
    def __init__(self, client: Union[Client, Callable[[], Client]], *, scan_count: int):
        self._client = client  # answering bytes: key names are not always text; a getter: reached on use
        self.scan_count = scan_count

    @property
    def redis(self) -> Client:
        return self._client() if callable(self._client) else self._client

    def _scan(self, wanted: set[str]) -> dict[str, list[str]]:
        """One traversal of the keyspace: the pattern keys of the wanted course ids (each once,
        though SCAN may return a key twice while Redis resizes its table)."""
        found: dict[str, set[str]] = defaultdict(set)
        # One course (a purge or dry run by the API): the server filters by its id, so only its own
        # keys come back instead of every pattern key of every course (make bench: in a 1M-key
        # keyspace that cost ~1.8 s of the function's CPU). A batch: the shared glob.
        only = next(iter(wanted)) if len(wanted) == 1 else None
        match = f"*{only}*" if only and _UUID.fullmatch(only) else SCAN_MATCH
        for raw in self.redis.scan_iter(match=match, count=self.scan_count):
            key = _text(raw)
            cid = course_of_key(key)
            if cid in wanted:
                found[cid].add(key)
        return {cid: sorted(keys) for cid, keys in found.items()}

    def count(self, courses: dict[str, list[str]]) -> dict[str, int]:
        """Keys per course id ({courseId: [materialIds]}), changing nothing."""
        from ...adapters.redis import redis_errors

        with redis_errors():
            found = self._scan(set(courses)) if courses else {}
            pipe = self.redis.pipeline(transaction=False)
            order = []
            for cid, materials in courses.items():
                for key in exact_keys(cid, materials):
                    pipe.exists(_raw(key))
                    order.append(cid)
            exists = pipe.execute() if order else []
        counts = {cid: len(found.get(cid, ())) for cid in courses}
        for cid, hit in zip(order, exists, strict=True):
            counts[cid] += int(hit)
        return counts

    def purge(self, courses: dict[str, list[str]]) -> dict[str, int]:
        """UNLINK every key of these courses; the number actually removed per course."""
        if not courses:
            return {}
        from ...adapters.redis import key_chunks, redis_errors

        with redis_errors():
            found = self._scan(set(courses))
            pipe = self.redis.pipeline(transaction=False)
            order = []
            for cid, materials in courses.items():
                keys = [_raw(k) for k in found.get(cid, []) + exact_keys(cid, materials)]
                for chunk in key_chunks(self.redis, keys, UNLINK_CHUNK):
                    pipe.unlink(*chunk)
                    order.append(cid)
            removed = pipe.execute()
        counts = {cid: 0 for cid in courses}
        for cid, n in zip(order, removed, strict=True):
            counts[cid] += int(n)
        return counts

    def scan_courses(self, position: ScanPosition = None, *,
                     count: Optional[int] = None) -> tuple[ScanPosition, dict[str, int]]:
        """One SCAN step (for the orphan sweep): keys per course id seen, and the next position
        (opaque; None when every primary is done). A position not handed out here is a ValueError."""
        from ...adapters.redis import redis_errors, scan_page

        with redis_errors():
            position, keys = scan_page(self.redis, position, count=count or self.scan_count)
        seen: dict[str, int] = defaultdict(int)
        for raw in keys:
            key = _text(raw)
            cid = course_of_key(key) or exact_course_of_key(key)
            if cid:
                seen[cid] += 1
        return position, dict(seen)


class KeyStep(BatchStep):
    name = "redis"

    def __init__(self, keys: RedisCourseKeys):
        self.keys = keys

    @staticmethod
    def _courses(entries: list[Entry]) -> dict[str, list[str]]:
        return {e.key: [str(m) for m in e.material_ids] for e in entries}

    def purge(self, entries: list[Entry]) -> dict[str, int]:
        # One SCAN of the keyspace for the whole batch, then UNLINK in chunks.
        return self.keys.purge(self._courses(entries))

    def count(self, entries: list[Entry]) -> dict[str, int]:
        return self.keys.count(self._courses(entries))


class RedisSource:
    name = "redis"

    def __init__(self, keys: RedisCourseKeys):
        self.keys = keys

    def page(self, position: Any, size: int) -> Page:
        from ...adapters.redis import BadScanPosition

        try:
            position, seen = self.keys.scan_courses(position, count=size)
        except BadScanPosition:
            raise ValueError("not a scan position of this Redis") from None
        return Page(found=seen, next=position)

    def valid(self, position: Any) -> bool:
        # The cursor's node and number are checked against the live primaries when it is used.
        return isinstance(position, (int, str)) and not isinstance(position, bool)

    def measure(self, prefixes: list[str]) -> Counts:
        return Counts()


def _keys(r: Resources) -> RedisCourseKeys:
    return RedisCourseKeys(lambda: r.redis_bytes, scan_count=r.settings.purge_redis_scan_count)


STORE = PurgeStore(
    name="redis", count_key="redisKeysDeleted", bytes_key=None, step_order=2, sweep_order=2,
    description="`idempotency:generation-{courseId}-*`, `bull:course-generation:{courseId}:*`, `rag:{courseId}:*`, "
                "`course:{courseId}`, `materials:{courseId}`, `material:{materialId}`",
    step=lambda r: KeyStep(_keys(r)), source=lambda r: RedisSource(_keys(r)))
