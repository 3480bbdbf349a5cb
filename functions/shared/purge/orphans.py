"""The orphan sweep: course ids that own data in a store but have no `courses` row.

Stores are swept page by page (cheapest first: rag_context_cache, Redis, storage, Qdrant), each
with its own cursor, under a time budget: a store with millions of points or objects is swept over
several invocations, each resuming where the last stopped (an opaque cursor string). Every call
makes progress (at least one page), whatever the budget.

An id found in a slice is:
- live (a `courses` row exists): never touched, and forgotten as a candidate;
- queued (its purge is pending): the purge worker already owns it;
- otherwise a candidate, and an orphan only once it has been absent for the grace period
  (ORPHAN_GRACE_SECONDS): a course created while the sweep runs, whose data the sweep saw before
  its row was committed, is never reported, let alone purged. The purge worker checks once more
  that no row exists before it deletes anything.

Free of store clients: the ledger (Postgres) and the store adapters are handed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import BadRequest, StoreUnavailable

STORES = ("rag", "redis", "files", "qdrant")  # sweep order: cheapest first
Deadline = Callable[[], bool]


def canonical(value) -> Optional[str]:
    """The id if it is a canonical (lowercase, hyphenated) UUID string, else None: only those can
    be a course's, and only those can be matched exactly by the purge."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return value if str(uuid.UUID(value)) == value else None
    except ValueError:
        return None


@dataclass
class Found:
    items: int = 0
    bytes: int = 0


@dataclass
class Slice:
    """What one invocation found. `orphans[store][courseId]` = items (points, keys, files, rows) and bytes."""

    orphans: dict[str, dict[str, Found]] = field(default_factory=dict)
    organizations: dict[str, str] = field(default_factory=dict)  # courseId -> orgId, where a store says
    complete: bool = False
    cursor: Optional[str] = None
    deferred: int = 0  # absent ids still inside the grace period
    pages: int = 0

    def report(self) -> dict:
        out = {}
        for store, per_course in self.orphans.items():
            entry = {"courseIds": sorted(per_course), "count": sum(f.items for f in per_course.values())}
            if store == "files":
                entry["bytes"] = sum(f.bytes for f in per_course.values())
            out[store] = entry
        body = {"orphans": out, "complete": self.complete, "deferred": self.deferred}
        if not self.complete:
            body["cursor"] = self.cursor
        return body

    def course_ids(self) -> set[str]:
        return {cid for per_course in self.orphans.values() for cid in per_course}


def encode_cursor(positions: dict) -> str:
    raw = json.dumps({"v": 1, "pos": positions}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: Optional[str]) -> dict:
    if not cursor:
        return {}
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("pos"), dict):
            raise ValueError("unknown cursor version")
        positions = data["pos"]
        if set(positions) - set(STORES):
            raise ValueError("unknown store")
        for store, position in positions.items():
            if position != DONE and not _VALID_POSITION[store](position):
                raise ValueError(f"not a position of {store}")
        return positions
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise _bad_cursor() from None


def _uuid_or_none(value) -> bool:
    return value is None or canonical(value) is not None


def _files_position(pos) -> bool:
    """{"phase": "uploads", "org"?, "orgAfter"?, "after"?} or {"phase": "materials", "after"?}: every
    name a canonical UUID, since each becomes part of a storage path."""
    if not isinstance(pos, dict) or pos.get("phase") not in ("uploads", "materials"):
        return False
    allowed = {"phase", "after"} | ({"org", "orgAfter"} if pos["phase"] == "uploads" else set())
    return set(pos) <= allowed and all(_uuid_or_none(pos.get(k)) for k in allowed - {"phase"})


def _qdrant_position(pos) -> bool:
    """A point id, as qdrant-client's scroll hands them out: an unsigned integer or a UUID."""
    return (isinstance(pos, int) and not isinstance(pos, bool) and 0 <= pos < 2**64) or canonical(pos) is not None


# What each store's position may be (the Redis one is checked by its adapter: host:port/cursor on a cluster).
_VALID_POSITION = {
    "rag": lambda pos: canonical(pos) is not None,
    "redis": lambda pos: isinstance(pos, (int, str)) and not isinstance(pos, bool),
    "files": _files_position,
    "qdrant": _qdrant_position,
}


def _bad_cursor() -> BadRequest:
    return BadRequest("The cursor is not one this endpoint returned.",
                      details=[{"field": "cursor", "message": "malformed"}])


DONE = "done"


class OrphanSweep:
    def __init__(self, ledger, *, vectors=None, keys=None, files=None, grace_seconds: float = 3600,
                 page_size: int = 1000):
        self.ledger = ledger
        self.vectors = vectors  # course_ids(offset, limit), or None: no Qdrant configured
        self.keys = keys        # scan_courses(cursor, count)
        self.files = files      # folders(prefix, start_after), measure(prefix), or None
        self.grace_seconds = grace_seconds
        self.page_size = page_size

    # --- one page of each store: (found {cid: Found}, orgs {cid: org}, prefixes {cid: [prefix]}, next position) ---

    def _rag_page(self, pos):
        rows, after = self.ledger.rag_page(pos, self.page_size)
        return {cid: Found(n) for cid, n in rows}, {}, {}, (after if after else DONE)

    def _redis_page(self, pos):
        try:
            position, seen = self.keys.scan_courses(pos, count=self.page_size)
        except ValueError:  # the position (per primary on a cluster) is not one the adapter handed out
            raise _bad_cursor() from None
        return {cid: Found(n) for cid, n in seen.items()}, {}, {}, (DONE if position is None else position)

    def _qdrant_page(self, pos):
        if self.vectors is None:
            return {}, {}, {}, DONE
        seen, offset = self.vectors.course_ids(offset=pos, limit=self.page_size)
        found = {cid: Found(n) for cid, (n, _org) in seen.items()}
        orgs = {cid: org for cid, (_n, org) in seen.items() if canonical(org)}
        return found, orgs, {}, (offset if offset is not None else DONE)

    def _files_page(self, pos):
        """Course folders under uploads/{orgId}/ (organization by organization), then under materials/."""
        if self.files is None:
            return {}, {}, {}, DONE
        pos = dict(pos or {"phase": "uploads"})
        found: dict[str, Found] = {}
        orgs: dict[str, str] = {}
        prefixes: dict[str, list[str]] = {}

        def add(name: str, prefix: str, org: Optional[str] = None) -> None:
            if canonical(name) and (org is None or canonical(org)):
                found.setdefault(name, Found())
                prefixes.setdefault(name, []).append(prefix)
                if org:
                    orgs[name] = org

        budget = self.page_size  # folder names per page; a listing that finds none still costs one
        while budget > 0:
            if pos["phase"] == "uploads":
                org = pos.get("org")
                if org is None:
                    org = _first(self.files.folders("uploads/", start_after=pos.get("orgAfter")))
                    if org is None:
                        pos = {"phase": "materials"}
                        continue
                    pos = {"phase": "uploads", "org": org}
                names = _take(self.files.folders(f"uploads/{org}/", start_after=pos.get("after")), budget)
                for name in names:
                    add(name, f"uploads/{org}/{name}/", org)
                if len(names) < budget:  # this organization's folders are all seen
                    pos = {"phase": "uploads", "orgAfter": org}
                else:
                    pos["after"] = names[-1]
                budget -= max(1, len(names))
            else:
                names = _take(self.files.folders("materials/", start_after=pos.get("after")), budget)
                for name in names:
                    add(name, f"materials/{name}/")
                if len(names) < budget:
                    return found, orgs, prefixes, DONE
                pos["after"] = names[-1]
                budget -= len(names)
        return found, orgs, prefixes, pos

    # --- a slice ---

    def scan(self, *, stores=STORES, cursor: Optional[str] = None, expired: Deadline) -> Slice:
        positions = decode_cursor(cursor)
        wanted = [s for s in STORES if s in stores]
        pages = {"rag": self._rag_page, "redis": self._redis_page, "files": self._files_page,
                 "qdrant": self._qdrant_page}
        seen: dict[str, dict[str, Found]] = {s: {} for s in wanted}
        orgs: dict[str, str] = {}
        prefixes: dict[str, list[str]] = {}
        result = Slice()
        stopped = False
        for store in wanted:
            while positions.get(store) != DONE:
                if result.pages and expired():
                    stopped = True
                    break
                try:
                    found, page_orgs, page_prefixes, positions[store] = pages[store](positions.get(store))
                except (StoreUnavailable, BadRequest):
                    raise
                except Exception as exc:  # any store error is that store's 503, never a 500
                    raise StoreUnavailable(store, exc) from None
                result.pages += 1
                for cid, f in found.items():
                    if canonical(cid):
                        acc = seen[store].setdefault(cid, Found())
                        acc.items += f.items
                orgs.update(page_orgs)
                for cid, p in page_prefixes.items():
                    prefixes.setdefault(cid, []).extend(p)
            if stopped:
                break
        result.complete = all(positions.get(s) == DONE for s in wanted)
        result.cursor = None if result.complete else encode_cursor(positions)
        self._judge(seen, orgs, prefixes, result)
        return result

    def _judge(self, seen, orgs, prefixes, result: Slice) -> None:
        ids = sorted({cid for per_store in seen.values() for cid in per_store})
        live, queued = self.ledger.classify(ids)
        self.ledger.forget_candidates(sorted(live))
        absent = [cid for cid in ids if cid not in live and cid not in queued]
        ages = self.ledger.note_candidates(absent)
        orphans = {cid for cid in absent if ages.get(cid, 0) >= self.grace_seconds}
        result.deferred = len(absent) - len(orphans)
        for store, per_course in seen.items():
            result.orphans[store] = {cid: f for cid, f in per_course.items() if cid in orphans}
        for cid in result.orphans.get("files", {}):
            total = Found()
            for prefix in prefixes.get(cid, []):
                try:
                    usage = self.files.measure(prefix)
                except StoreUnavailable:
                    raise
                except Exception as exc:
                    raise StoreUnavailable("files", exc) from None
                total.items += usage.files
                total.bytes += usage.bytes
            result.orphans["files"][cid] = total
        result.organizations = {cid: org for cid, org in orgs.items() if cid in orphans}


def _take(iterator, n: int) -> list:
    out = []
    if n <= 0:
        return out
    for item in iterator:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _first(iterator):
    for item in iterator:
        return item
    return None
