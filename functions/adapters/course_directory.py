"""The live courses, as the purge's API needs them: who owns one, who may purge it, what a dry run
would see, and the delete that starts a purge (the trigger queues it in the same transaction)."""

from __future__ import annotations

import uuid
from typing import Optional

from ..purge.model import Course, Entry, Member, Removed
from .postgres import Postgres

_CHILD_ROWS = """
SELECT (SELECT count(*) FROM sections WHERE course_id = %(id)s)
     + (SELECT count(*) FROM lessons l JOIN sections s ON s.id = l.section_id WHERE s.course_id = %(id)s)
     + (SELECT count(*) FROM assets a JOIN lessons l ON l.id = a.lesson_id
                                      JOIN sections s ON s.id = l.section_id WHERE s.course_id = %(id)s)
     + (SELECT count(*) FROM file_catalog WHERE course_id = %(id)s)
"""


class PostgresCourseDirectory:
    def __init__(self, pg: Postgres):
        self.pg = pg

    def course(self, course_id: uuid.UUID) -> Optional[Course]:
        row = self.pg.fetch_one("SELECT id, organization_id, user_id FROM courses WHERE id = %s", (course_id,))
        return Course(row[0], row[1], row[2]) if row else None

    def member(self, user_id: uuid.UUID) -> Optional[Member]:
        row = self.pg.fetch_one("SELECT organization_id, role FROM users WHERE id = %s", (user_id,))
        return Member(row[0], row[1]) if row else None

    def live_entry(self, course_id: uuid.UUID) -> Optional[Entry]:
        """A live course as the purge would see it (for a dry run): its materials and its rows."""
        with self.pg.connection() as conn:
            row = conn.execute("SELECT organization_id FROM courses WHERE id = %s", (course_id,)).fetchone()
            if not row:
                return None
            materials = [r[0] for r in conn.execute(
                "SELECT id FROM materials WHERE course_id = %s", (course_id,)).fetchall()]
            children = conn.execute(_CHILD_ROWS, {"id": course_id}).fetchone()[0]
        # Its cache rows are counted by the rag step's measure, like every other store.
        return Entry(course_id=course_id, organization_id=row[0], material_ids=materials,
                     removed=Removed(database_rows=1 + len(materials) + children))

    def delete_course(self, course_id: uuid.UUID, *, reason: str, requested_by: Optional[uuid.UUID]) -> bool:
        """Delete the row; the trigger queues its purge in the same transaction. False if it was gone."""
        with self.pg.connection() as conn:
            conn.execute("SELECT set_config('app.purge_reason', %s, true), "
                         "set_config('app.purge_requested_by', %s, true)",
                         (reason, str(requested_by) if requested_by else ""))
            # Rows the cascade removes beside materials (which the trigger counts itself).
            children = conn.execute(_CHILD_ROWS, {"id": course_id}).fetchone()[0]
            if conn.execute("DELETE FROM courses WHERE id = %s", (course_id,)).rowcount == 0:
                return False
            if children:
                conn.execute(
                    """UPDATE purge_queue SET result = result || jsonb_build_object('databaseRowsDeleted',
                           coalesce((result->>'databaseRowsDeleted')::bigint, 0) + %s)
                       WHERE course_id = %s""", (children, course_id))
        return True
