"""The Postgres side of the orphan sweep (sql/migrations/0004): which ids are live, queued or new
candidates, the hourly sweep's cursor and what its passes found."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Optional

from ..platform.timestamps import iso
from .postgres import Postgres


class PostgresOrphanLedger:

    def __init__(self, pg: Postgres):
        self.pg = pg

    def classify(self, ids: list[str]) -> tuple[set[str], set[str]]:
        """(ids with a courses row, ids whose purge is queued and not done yet)."""
        if not ids:
            return set(), set()
        uuids = [uuid.UUID(i) for i in ids]
        with self.pg.connection() as conn:
            live = {str(r[0]) for r in conn.execute("SELECT id FROM courses WHERE id = ANY(%s)", (uuids,))}
            queued = {str(r[0]) for r in conn.execute(
                "SELECT course_id FROM purge_queue WHERE course_id = ANY(%s) AND status <> 'purged'", (uuids,))}
        return live, queued

    def note_candidates(self, ids: list[str]) -> dict[str, float]:
        """Remember absent ids; seconds since each was first seen absent."""
        if not ids:
            return {}
        rows = self.pg.fetch_all(
            """INSERT INTO orphan_candidates AS c (course_id) SELECT unnest(%s::uuid[])
               ON CONFLICT (course_id) DO UPDATE SET last_seen_at = now()
               RETURNING course_id, extract(epoch FROM now() - c.first_seen_at)""", ([uuid.UUID(i) for i in ids],))
        return {str(r[0]): float(r[1]) for r in rows}

    def forget_candidates(self, ids: Iterable[str]) -> None:
        if ids:
            with self.pg.connection() as conn:
                conn.execute("DELETE FROM orphan_candidates WHERE course_id = ANY(%s)",
                             ([uuid.UUID(i) for i in ids],))

    def prune_candidates(self, days: int = 30) -> int:
        """Candidates not seen for a month: their data went another way."""
        with self.pg.connection() as conn:
            return conn.execute(
                """DELETE FROM orphan_candidates WHERE course_id IN (SELECT course_id FROM orphan_candidates
                   WHERE last_seen_at < now() - make_interval(days => %s) LIMIT 1000)""", (days,)).rowcount

    # --- the hourly sweep ---

    def load_sweep(self, name: str) -> tuple[int, Optional[str]]:
        row = self.pg.fetch_one(
            """INSERT INTO orphan_sweeps (name) VALUES (%s)
               ON CONFLICT (name) DO UPDATE SET updated_at = orphan_sweeps.updated_at
               RETURNING pass, cursor""", (name,))
        return row[0], row[1]

    def record_findings(self, name: str, pass_: int, findings: dict[str, dict[str, tuple[int, int]]],
                        cursor: Optional[str], complete: bool) -> None:
        """Add one slice's findings to the pass; a complete pass becomes the one health reports."""
        rows = [(store, uuid.UUID(cid), items, size)
                for store, per_course in findings.items() for cid, (items, size) in per_course.items()]
        with self.pg.connection() as conn:
            if rows:
                conn.execute(
                    """INSERT INTO orphan_findings AS f (sweep, pass, store, course_id, items, bytes)
                       SELECT %s, %s, s, c, i, b FROM unnest(%s::text[], %s::uuid[], %s::bigint[], %s::bigint[])
                           AS v(s, c, i, b)
                       ON CONFLICT (sweep, pass, store, course_id)
                       DO UPDATE SET items = f.items + excluded.items, bytes = f.bytes + excluded.bytes""",
                    (name, pass_, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                     [r[3] for r in rows]))
            if complete:
                conn.execute(
                    """UPDATE orphan_sweeps SET last_complete_pass = pass, last_completed_at = now(),
                           pass = pass + 1, cursor = NULL, pass_started_at = now(), updated_at = now()
                       WHERE name = %s""", (name,))
                conn.execute("DELETE FROM orphan_findings WHERE sweep = %s AND pass < %s", (name, pass_))
            else:
                conn.execute("UPDATE orphan_sweeps SET cursor = %s, updated_at = now() WHERE name = %s",
                             (cursor, name))

    def last_complete(self, name: str) -> dict[str, Any]:
        state = self.pg.fetch_one("SELECT last_complete_pass, last_completed_at, pass, cursor IS NOT NULL "
                             "FROM orphan_sweeps WHERE name = %s", (name,))
        if not state or state[0] is None:
            return {"lastCompletedAt": None, "orphanCourses": None, "stores": {},
                    "inProgress": bool(state and state[3])}
        with self.pg.connection() as conn:
            per_store = conn.execute(
                """SELECT store, count(*), sum(items), sum(bytes) FROM orphan_findings
                   WHERE sweep = %s AND pass = %s GROUP BY store""", (name, state[0])).fetchall()
            courses = conn.execute("SELECT count(DISTINCT course_id) FROM orphan_findings WHERE sweep = %s AND pass = %s",
                                   (name, state[0])).fetchone()[0]
        return {
            "lastCompletedAt": iso(state[1]),
            "orphanCourses": courses,
            "stores": {r[0]: {"courses": r[1], "items": int(r[2]), "bytes": int(r[3])} for r in per_store},
            "inProgress": bool(state[3]),
        }
