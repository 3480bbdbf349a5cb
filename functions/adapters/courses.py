"""The `courses` rows that drafts become, in Postgres.

A draft session becomes a row exactly once: `INSERT ... ON CONFLICT (draft_session_id) DO NOTHING`,
then the existing row is read back. The organization is read from `users` by the insert itself
(the organization at the moment of use). The row keeps the form in `settings.draftForm`.

A failure is told apart by when it happened (functions.adapters.postgres: StoreUnavailable.applied):
before the COMMIT was sent nothing can land (applied=False); during the COMMIT it may have.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator
from typing import Any, Optional

from ..drafts.model import CourseRef, NewCourse, NoOrganization
from .postgres import Connection, Jsonb, Postgres

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya",
})
SLUG_ATTEMPTS = 3  # a slug collision (12 hex digits of a random id) is rare: salt it and try again


def slug_for(title: str, course_id: uuid.UUID, salt: str = "") -> str:
    """A readable slug, unique through the course id's first 12 hex digits (and a salt on retry)."""
    ascii_title = unicodedata.normalize("NFKD", title.lower().translate(_TRANSLIT)).encode("ascii", "ignore").decode()
    base = _SLUG_CHARS.sub("-", ascii_title).strip("-")[:60].rstrip("-") or "course"
    return f"{base}-{course_id.hex[:12]}{salt}"


def slugs(title: str, course_id: uuid.UUID) -> Iterator[str]:
    yield slug_for(title, course_id)
    for _ in range(SLUG_ATTEMPTS - 1):
        yield slug_for(title, course_id, "-" + uuid.uuid4().hex[:4])


# The draft row, its organization taken from `users` in the same statement: no row without one.
# Any conflict does nothing (no exception, so no savepoint is needed around it): the session's row
# already there (or a parallel insert of it committing), or, very rarely, a slug taken.
INSERT_DRAFT = """
INSERT INTO courses (id, organization_id, user_id, title, slug, status, generation_status, language,
                     settings, draft_session_id)
SELECT %(id)s, u.organization_id, u.id, %(title)s, %(slug)s, 'draft', NULL, %(language)s, %(settings)s, %(sid)s
FROM users u WHERE u.id = %(user)s AND u.organization_id IS NOT NULL
ON CONFLICT DO NOTHING
RETURNING id, slug
"""


def insert_draft(conn: Connection, *, course_id: uuid.UUID, session_id: uuid.UUID, user_id: uuid.UUID, title: str,
                 language: Optional[str], settings: dict[str, Any]) -> CourseRef:
    """The session's row, inserted now (created=True) or found (False), in the caller's transaction.

    One statement in the common case. NoOrganization if the user has none (nothing inserted).
    """
    for slug in slugs(title, course_id):
        row = conn.execute(INSERT_DRAFT, {
            "id": course_id, "title": title, "slug": slug, "language": language,
            "settings": Jsonb(settings), "sid": session_id, "user": user_id}).fetchone()
        if row:
            return CourseRef(row[0], row[1], created=True)
        existing = conn.execute("SELECT id, slug FROM courses WHERE draft_session_id = %s", (session_id,)).fetchone()
        if existing:
            return CourseRef(existing[0], existing[1], created=False)
        org = conn.execute("SELECT organization_id FROM users WHERE id = %s", (user_id,)).fetchone()
        if not org or org[0] is None:
            raise NoOrganization()
        # Otherwise the slug was taken: the next one is salted.
    raise RuntimeError("could not allocate a unique slug")


class PostgresCourses:

    def __init__(self, pg: Postgres):
        self.pg = pg

    def organization_of(self, user_id: uuid.UUID) -> Optional[uuid.UUID]:
        row = self.pg.fetch_one("SELECT organization_id FROM users WHERE id = %s", (user_id,))
        return row[0] if row else None

    def create(self, course: NewCourse) -> CourseRef:
        """Create the session's row once; a repeat returns the row that exists.

        NoOrganization if the user has none (nothing inserted). A StoreUnavailable says whether the
        row may have been committed (applied=None: only if the COMMIT itself failed).
        """
        with self.pg.connection() as conn:
            return insert_draft(conn, course_id=course.course_id, session_id=course.session_id,
                                user_id=course.user_id, title=course.title, language=course.language,
                                settings={"draftForm": course.form, "materializedBy": course.reason})

    def find_by_session(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Optional[CourseRef]:
        row = self.pg.fetch_one(
            "SELECT id, slug FROM courses WHERE draft_session_id = %s AND user_id = %s", (session_id, user_id))
        return CourseRef(row[0], row[1], created=False) if row else None


