"""The `courses` rows that drafts become, in Postgres.

A draft session becomes a row exactly once: `INSERT ... ON CONFLICT (draft_session_id) DO NOTHING`,
then the existing row is read back. The row's form data is kept in `settings.draftForm`.
When Redis is down (DRAFT_DB_FALLBACK), a session lives in its row instead: id = draft_session_id
= the session id, and `settings.draftSession` holds its version and storage.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from .. import db

_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_TRANSLIT = str.maketrans({
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t",
    "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "", "ы": "y", "ь": "",
    "э": "e", "ю": "yu", "я": "ya",
})


def slug_for(title: str, course_id: uuid.UUID, salt: str = "") -> str:
    """A readable slug, unique through the course id's first 12 hex digits (and a salt on retry)."""
    ascii_title = unicodedata.normalize("NFKD", title.lower().translate(_TRANSLIT)).encode("ascii", "ignore").decode()
    base = _SLUG_CHARS.sub("-", ascii_title).strip("-")[:60].rstrip("-") or "course"
    return f"{base}-{course_id.hex[:12]}{salt}"


@dataclass(frozen=True)
class CourseRef:
    course_id: uuid.UUID
    slug: str
    created: bool


@dataclass(frozen=True)
class NewCourse:
    session_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID
    title: str
    language: Optional[str]
    form: dict[str, Any]
    reason: str


_INSERT = """
INSERT INTO courses (id, organization_id, user_id, title, slug, status, generation_status, language,
                     settings, draft_session_id)
VALUES (%(id)s, %(org)s, %(user)s, %(title)s, %(slug)s, 'draft', NULL, %(language)s, %(settings)s, %(sid)s)
ON CONFLICT (draft_session_id) DO NOTHING
RETURNING id, slug
"""


class PostgresCourses:
    def organization_of(self, user_id: uuid.UUID) -> Optional[uuid.UUID]:
        row = db.fetch_one("SELECT organization_id FROM users WHERE id = %s", (user_id,))
        return row[0] if row else None

    def find_by_session(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Optional[CourseRef]:
        row = db.fetch_one(
            "SELECT id, slug FROM courses WHERE draft_session_id = %s AND user_id = %s", (session_id, user_id))
        return CourseRef(row[0], row[1], created=False) if row else None

    def materialize(self, course: NewCourse, *, course_id: Optional[uuid.UUID] = None,
                    extra_settings: Optional[dict] = None, session_limit: Optional[int] = None) -> Optional[CourseRef]:
        """Create the session's row once; a repeat returns the row that exists.

        With `session_limit`, None when the user already has that many database-stored sessions.
        """
        settings = {"draftForm": course.form, "materializedBy": course.reason, **(extra_settings or {})}
        course_id = course_id or uuid.uuid4()
        with db.connection() as conn:
            for attempt in range(3):  # a slug collision (12 hex digits) is rare; salt it and retry
                salt = "" if attempt == 0 else "-" + uuid.uuid4().hex[:4]
                try:
                    with conn.transaction():
                        if session_limit is not None and _fallback_sessions(conn, course.user_id) >= session_limit:
                            return None
                        row = conn.execute(_INSERT, {
                            "id": course_id, "org": course.organization_id, "user": course.user_id,
                            "title": course.title, "slug": slug_for(course.title, course_id, salt),
                            "language": course.language, "settings": Jsonb(settings), "sid": course.session_id,
                        }).fetchone()
                except _unique_violation() as exc:
                    if "slug" in str(exc.diag.constraint_name or ""):
                        continue
                    raise
                if row:
                    return CourseRef(row[0], row[1], created=True)
                existing = conn.execute(
                    "SELECT id, slug FROM courses WHERE draft_session_id = %s", (course.session_id,)).fetchone()
                if existing:
                    return CourseRef(existing[0], existing[1], created=False)
            raise RuntimeError("could not allocate a unique slug")

    # --- the database fallback: a session kept in its own row while Redis is down ---

    def create_fallback(self, course: NewCourse, *, now_iso: str, session_limit: int) -> Optional[CourseRef]:
        """None when the user already holds `session_limit` database-stored sessions."""
        return self.materialize(course, course_id=course.session_id, session_limit=session_limit, extra_settings={
            "draftSession": {"storage": "database", "version": 1, "createdAt": now_iso, "updatedAt": now_iso}})

    def get_fallback(self, user_id: uuid.UUID, session_id: uuid.UUID) -> Optional[dict[str, Any]]:
        row = db.fetch_one(
            """SELECT id, organization_id, settings, slug FROM courses
               WHERE draft_session_id = %s AND user_id = %s AND settings ? 'draftSession'""",
            (session_id, user_id))
        if not row:
            return None
        meta = row[2]["draftSession"]
        return {"sessionId": str(row[0]), "organizationId": str(row[1]), "slug": row[3],
                "createdAt": meta["createdAt"], "updatedAt": meta["updatedAt"], "version": meta["version"],
                "formData": row[2].get("draftForm", {})}

    def patch_fallback(self, user_id: uuid.UUID, session_id: uuid.UUID, set_fields: dict, remove: list[str],
                       *, expected_version: Optional[int], now_iso: str, title: Optional[str]) -> Optional[dict]:
        """Merge into the row in one statement (no lost update); None if missing, -1 version on conflict."""
        with db.connection() as conn:
            row = conn.execute(
                """UPDATE courses SET
                       settings = jsonb_set(jsonb_set(settings,
                           '{draftForm}', (COALESCE(settings->'draftForm', '{}') - %(remove)s::text[]) || %(set)s),
                           '{draftSession}', settings->'draftSession'
                               || jsonb_build_object('version', (settings->'draftSession'->>'version')::int + 1,
                                                     'updatedAt', %(now)s::text)),
                       title = COALESCE(%(title)s, title),
                       updated_at = now()
                   WHERE draft_session_id = %(sid)s AND user_id = %(user)s AND settings ? 'draftSession'
                     AND (%(expected)s::int IS NULL OR (settings->'draftSession'->>'version')::int = %(expected)s::int)
                   RETURNING id""",
                {"remove": remove, "set": Jsonb(set_fields), "now": now_iso, "sid": session_id, "user": user_id,
                 "expected": expected_version, "title": title}).fetchone()
        if row:
            return self.get_fallback(user_id, session_id)
        current = self.get_fallback(user_id, session_id)
        if current is None:
            return None
        return {**current, "conflict": True}

    def list_fallback(self, user_id: uuid.UUID) -> list[dict[str, Any]]:
        rows = db.fetch_all(
            """SELECT id, settings->'draftForm'->>'topic', settings->'draftSession'->>'updatedAt'
               FROM courses WHERE user_id = %s AND status = 'draft' AND generation_status IS NULL
                 AND settings ? 'draftSession'""", (user_id,))
        return [{"sessionId": str(r[0]), "topic": r[1], "updatedAt": r[2]} for r in rows]


def _fallback_sessions(conn, user_id: uuid.UUID) -> int:
    """The user's database-stored sessions, counted under a lock on the user's row, so that parallel
    creates (Redis down: the per-user limit cannot live there) are counted one after the other."""
    conn.execute("SELECT 1 FROM users WHERE id = %s FOR NO KEY UPDATE", (user_id,))
    return conn.execute(
        """SELECT count(*) FROM courses WHERE user_id = %s AND status = 'draft' AND generation_status IS NULL
             AND settings ? 'draftSession'""", (user_id,)).fetchone()[0]


def _unique_violation():
    import psycopg  # imported lazily: sessions that never materialize do not pay for psycopg

    return psycopg.errors.UniqueViolation


def Jsonb(value):  # noqa: N802 - stands in for psycopg's adapter, imported lazily
    from psycopg.types.json import Jsonb as _Jsonb

    return _Jsonb(value)
