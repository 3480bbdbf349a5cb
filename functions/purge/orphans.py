"""The orphan sweep: course ids that own data in a store but have no `courses` row.

Stores are swept page by page, in the registry's sweep order (cheapest first), each with its own
position, under a time budget: a store with millions of points or objects is swept over several
invocations, each resuming where the last stopped (an opaque cursor string). Every call makes
progress (at least one page), whatever the budget.

An id found in a slice is:
- live (a `courses` row exists): never touched, and forgotten as a candidate;
- queued (its purge is pending): the purge worker already owns it;
- otherwise a candidate, and an orphan only once it has been absent for the grace period
  (ORPHAN_GRACE_SECONDS): a course created while the sweep runs, whose data the sweep saw before
  its row was committed, is never reported, let alone purged. The purge worker checks once more
  that no row exists before it deletes anything.

Free of store clients: the ledger and the stores' sources (functions/purge/stores/) are handed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from ..platform.errors import BadRequest, StoreUnavailable
from .model import Counts, Deadline
from .ports import OrphanLedger, OrphanSource
from .steps import deadline_after

DONE = "done"
HOURLY = "hourly"  # the hourly cleanup's own sweep, resumed slice after slice


def canonical(value: Any) -> Optional[str]:
    """The id if it is a canonical (lowercase, hyphenated) UUID string, else None: only those can
    be a course's, and only those can be matched exactly by the purge."""
    if not isinstance(value, str) or len(value) != 36:
        return None
    try:
        return value if str(uuid.UUID(value)) == value else None
    except ValueError:
        return None


@dataclass
class Slice:
    """What one invocation found: `orphans[store][courseId]` = items (points, keys, files, rows) and bytes."""

    orphans: dict[str, dict[str, Counts]] = field(default_factory=dict)
    organizations: dict[str, str] = field(default_factory=dict)  # courseId -> orgId, where a store says
    complete: bool = False
    cursor: Optional[str] = None
    deferred: int = 0  # absent ids still inside the grace period
    pages: int = 0

    def course_ids(self) -> set[str]:
        return {cid for per_course in self.orphans.values() for cid in per_course}


class OrphanSweep:
    def __init__(self, ledger: OrphanLedger, sources: list[OrphanSource], *, grace_seconds: float = 3600,
                 page_size: int = 1000):
        self.ledger = ledger
        self.sources = sources  # the configured stores' sources, in sweep order
        self.grace_seconds = grace_seconds
        self.page_size = page_size

    @property
    def stores(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources)

    def decode_cursor(self, cursor: Optional[str]) -> dict[str, Any]:
        """The positions of a cursor this sweep handed out; a BadRequest for anything else, before any
        part of it reaches a path, a key pattern or SQL."""
        if not cursor:
            return {}
        valid = {s.name: s.valid for s in self.sources}
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            data = json.loads(raw)
            if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("pos"), dict):
                raise ValueError("unknown cursor version")
            positions: dict[str, Any] = data["pos"]
            for store, position in positions.items():
                if store not in valid or (position != DONE and not valid[store](position)):
                    raise ValueError(f"not a position of {store}")
            return positions
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            raise bad_cursor() from None

    @staticmethod
    def encode_cursor(positions: dict[str, Any]) -> str:
        raw = json.dumps({"v": 1, "pos": positions}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def scan(self, *, stores: Optional[tuple[str, ...]] = None, cursor: Optional[str] = None,
             expired: Deadline) -> Slice:
        positions = self.decode_cursor(cursor)
        wanted = [s for s in self.sources if stores is None or s.name in stores]
        seen: dict[str, dict[str, int]] = {s.name: {} for s in wanted}
        orgs: dict[str, str] = {}
        prefixes: dict[str, dict[str, list[str]]] = {s.name: {} for s in wanted}  # per store: its folders
        result = Slice()
        for source in wanted:
            while positions.get(source.name) != DONE:
                if result.pages and expired():
                    break
                try:
                    page = source.page(positions.get(source.name), self.page_size)
                except (StoreUnavailable, BadRequest):
                    raise
                except ValueError:  # a position the store itself refuses (e.g. a Redis node not there)
                    raise bad_cursor() from None
                except Exception as exc:  # any store error is that store's 503, never a 500
                    raise StoreUnavailable(source.name, exc) from None
                positions[source.name] = DONE if page.next is None else page.next
                result.pages += 1
                for cid, items in page.found.items():
                    if canonical(cid):
                        seen[source.name][cid] = seen[source.name].get(cid, 0) + items
                orgs.update(page.organizations)
                for cid, found in page.prefixes.items():
                    prefixes[source.name].setdefault(cid, []).extend(found)
            else:
                continue
            break  # the time budget ended the slice inside this store
        result.complete = all(positions.get(s.name) == DONE for s in wanted)
        result.cursor = None if result.complete else self.encode_cursor(positions)
        self._judge(seen, orgs, prefixes, result)
        return result

    def _judge(self, seen: dict[str, dict[str, int]], orgs: dict[str, str],
               prefixes: dict[str, dict[str, list[str]]], result: Slice) -> None:
        ids = sorted({cid for per_store in seen.values() for cid in per_store})
        live, queued = self.ledger.classify(ids)
        self.ledger.forget_candidates(sorted(live))
        absent = [cid for cid in ids if cid not in live and cid not in queued]
        ages = self.ledger.note_candidates(absent)
        orphans = {cid for cid in absent if ages.get(cid, 0) >= self.grace_seconds}
        result.deferred = len(absent) - len(orphans)
        by_name = {s.name: s for s in self.sources}
        for store, per_course in seen.items():
            found: dict[str, Counts] = {}
            for cid, items in per_course.items():
                if cid not in orphans:
                    continue
                if cid in prefixes[store]:  # a store with folders: what they hold (items and bytes)
                    try:
                        found[cid] = by_name[store].measure(prefixes[store][cid])
                    except StoreUnavailable:
                        raise
                    except Exception as exc:
                        raise StoreUnavailable(store, exc) from None
                else:
                    found[cid] = Counts(items)
            result.orphans[store] = found
        result.organizations = {cid: org for cid, org in orgs.items() if cid in orphans}


class HourlySweep:
    """One bounded slice of the hourly sweep (the cleanup's), resumed from where the last one stopped;
    what its complete passes found is what health reports."""

    def __init__(self, ledger: OrphanLedger, sweep: OrphanSweep):
        self.ledger = ledger
        self.sweep = sweep

    def slice(self, *, time_budget_s: float) -> dict[str, Any]:
        pass_, cursor = self.ledger.load_sweep(HOURLY)
        try:
            found = self.sweep.scan(cursor=cursor, expired=deadline_after(time_budget_s))
        except BadRequest:  # a cursor an older version wrote: start the pass over
            found = self.sweep.scan(cursor=None, expired=deadline_after(time_budget_s))
        findings = {store: {cid: (c.count, c.bytes) for cid, c in per_course.items()}
                    for store, per_course in found.orphans.items()}
        self.ledger.record_findings(HOURLY, pass_, findings, found.cursor, found.complete)
        self.ledger.prune_candidates()
        return {"complete": found.complete, "orphanCourses": len(found.course_ids()), "deferred": found.deferred,
                "pages": found.pages, "stores": {store: len(ids) for store, ids in found.orphans.items()}}

    def health(self) -> dict[str, Any]:
        """What the last complete pass found: {"lastCompletedAt", "orphanCourses", "stores", "inProgress"}."""
        return self.ledger.last_complete(HOURLY)


def bad_cursor() -> BadRequest:
    return BadRequest("The cursor is not one this endpoint returned.",
                      details=[{"field": "cursor", "code": "invalid_format", "message": "malformed"}])
