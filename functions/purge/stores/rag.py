"""The purge's `rag_context_cache` store: the platform's RAG answer cache in Postgres, which has no
foreign key to `courses` (why it leaked). The deleting transaction already removes a course's rows
(the trigger of sql/migrations/0002); this step removes what a late writer left there since."""

from __future__ import annotations

import uuid
from typing import Any, Optional

from ...adapters.postgres import Postgres
from ..model import Counts, Entry
from ..ports import Page
from ..registry import PurgeStore
from ..steps import BatchStep

NIL = uuid.UUID(int=0)


class PostgresRagCache:
    def __init__(self, pg: Postgres):
        self.pg = pg

    def count_rows(self, course_ids: list[uuid.UUID]) -> dict[str, int]:
        rows = self.pg.fetch_all("SELECT course_id, count(*) FROM rag_context_cache WHERE course_id = ANY(%s) "
                                 "GROUP BY course_id", (list(course_ids),))
        return {str(r[0]): r[1] for r in rows}

    def delete_rows(self, course_ids: list[uuid.UUID]) -> dict[str, int]:
        """Delete the cache rows of courses that are gone (never of a live one, whatever the caller says)."""
        rows = self.pg.fetch_all(
            """WITH gone AS (DELETE FROM rag_context_cache r WHERE r.course_id = ANY(%s)
                   AND NOT EXISTS (SELECT 1 FROM courses c WHERE c.id = r.course_id) RETURNING r.course_id)
               SELECT course_id, count(*) FROM gone GROUP BY course_id""", (list(course_ids),))
        return {str(r[0]): r[1] for r in rows}

    def page(self, after: Optional[str], limit: int) -> tuple[list[tuple[str, int]], Optional[str]]:
        """Cache rows per course id, in id order after `after`; the last id, or None when done."""
        rows = self.pg.fetch_all(
            """SELECT course_id, count(*) FROM rag_context_cache WHERE course_id > %s
               GROUP BY course_id ORDER BY course_id LIMIT %s""", (uuid.UUID(after) if after else NIL, limit))
        found = [(str(r[0]), int(r[1])) for r in rows]
        return found, (found[-1][0] if len(found) == limit else None)


class RagStep(BatchStep):
    name = "rag"

    def __init__(self, cache: PostgresRagCache):
        self.cache = cache

    def purge(self, entries: list[Entry]) -> dict[str, int]:
        return self.cache.delete_rows([e.course_id for e in entries])

    def count(self, entries: list[Entry]) -> dict[str, int]:
        return self.cache.count_rows([e.course_id for e in entries])


class RagSource:
    name = "rag"

    def __init__(self, cache: PostgresRagCache):
        self.cache = cache

    def page(self, position: Any, size: int) -> Page:
        rows, after = self.cache.page(position, size)
        return Page(found=dict(rows), next=after)

    def valid(self, position: Any) -> bool:
        from ..orphans import canonical

        return canonical(position) is not None

    def measure(self, prefixes: list[str]) -> Counts:
        return Counts()


STORE = PurgeStore(
    name="rag", count_key="ragContextEntriesDeleted", bytes_key=None, step_order=4, sweep_order=1,
    description="`rag_context_cache` rows (`course_id`), in Postgres",
    step=lambda r: RagStep(PostgresRagCache(r.postgres)),
    source=lambda r: RagSource(PostgresRagCache(r.postgres)))
