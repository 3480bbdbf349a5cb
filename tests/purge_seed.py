"""A course with data in every store, for the purge tests, and a look at what is left of it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Optional

from tests.storage_fixtures import add_points, count_points

FILES = {  # relative to the course's folders: size in bytes
    "uploads": {"syllabus.pdf": 100, "sub/notes.txt": 50},
    "materials": {"{m0}/original.pdf": 200, "{m1}/processed.txt": 30},
}
VECTORS = 5
RAG_ROWS = 3


def sibling_id(course_id: uuid.UUID) -> uuid.UUID:
    """Another id sharing all but the last hex digit: a prefix match of the first would catch it."""
    text = str(course_id)
    return uuid.UUID(text[:-1] + ("0" if text[-1] != "0" else "1"))


@dataclass
class SeededCourse:
    course_id: uuid.UUID
    org_id: uuid.UUID
    owner_id: uuid.UUID
    material_ids: list[uuid.UUID]
    keys: list[str] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)  # storage key -> size
    vectors: int = 0

    @property
    def expected(self) -> dict[str, int]:
        """The CourseCleanupResult a purge of this course must report (stores that were seeded)."""
        return {"qdrantVectorsDeleted": self.vectors, "redisKeysDeleted": len(self.keys),
                "ragContextEntriesDeleted": RAG_ROWS, "filesDeleted": len(self.files),
                "bytesFreed": sum(self.files.values()),
                # course + 2 materials + section + lesson + asset + file_catalog row
                "databaseRowsDeleted": 7}


def seed_course(db, rds, person, *, qdrant=None, storage=None, course_id: Optional[uuid.UUID] = None,
                status: str = "ready") -> SeededCourse:
    cid = course_id or uuid.uuid4()
    db.execute("INSERT INTO courses (id, organization_id, user_id, title, slug, status) VALUES (%s, %s, %s, %s, %s, %s)",
               (cid, person.org_id, person.id, "Курс", f"course-{cid}", status))
    materials = [uuid.uuid4(), uuid.uuid4()]
    for m in materials:
        db.execute("INSERT INTO materials (id, course_id, file_path, file_size) VALUES (%s, %s, %s, 1)",
                   (m, cid, f"materials/{cid}/{m}/original.pdf"))
    section = db.execute("INSERT INTO sections (course_id) VALUES (%s) RETURNING id", (cid,)).fetchone()[0]
    lesson = db.execute("INSERT INTO lessons (section_id) VALUES (%s) RETURNING id", (section,)).fetchone()[0]
    db.execute("INSERT INTO assets (lesson_id) VALUES (%s)", (lesson,))
    db.execute("INSERT INTO file_catalog (course_id, storage_path, file_size) VALUES (%s, 'x', 1)", (cid,))
    for _ in range(RAG_ROWS):
        db.execute("INSERT INTO rag_context_cache (course_id) VALUES (%s)", (cid,))
    seeded = SeededCourse(cid, person.org_id, person.id, materials)
    seeded.keys = [
        f"idempotency:generation-{cid}-a1", f"idempotency:generation-{cid}-b2",
        f"bull:course-generation:{cid}:1", f"bull:course-generation:{cid}:lock",
        f"rag:{cid}:query:42", f"course:{cid}", f"materials:{cid}",
        *(f"material:{m}" for m in materials),
    ]
    for key in seeded.keys:
        rds.set(key, "x")
    if qdrant is not None:
        add_points(qdrant, cid, person.org_id, materials, VECTORS)
        seeded.vectors = VECTORS
    if storage is not None:
        for name, size in FILES["uploads"].items():
            seeded.files[f"uploads/{person.org_id}/{cid}/{name}"] = size
        for name, size in FILES["materials"].items():
            seeded.files[f"materials/{cid}/" + name.format(m0=materials[0], m1=materials[1])] = size
        for key, size in seeded.files.items():
            storage.put(key, b"z" * size)
    return seeded


def lookalike_keys(course_id: uuid.UUID) -> list[str]:
    """Keys a glob on the course id without its separator would take: they belong to no course."""
    return [f"idempotency:generation-{course_id}0-a1", f"bull:course-generation:{course_id}x:1",
            f"rag:{course_id}-extra:1", f"course:{course_id}0", f"materials:{course_id}x"]


def leftovers(db, rds, seeded: SeededCourse, *, qdrant=None, storage=None) -> dict[str, int]:
    """What is still there of a seeded course, per store (all zero after a complete purge)."""
    cid = seeded.course_id
    rows = db.execute(
        """SELECT (SELECT count(*) FROM courses WHERE id = %(c)s) + (SELECT count(*) FROM materials WHERE course_id = %(c)s)
                + (SELECT count(*) FROM sections WHERE course_id = %(c)s)
                + (SELECT count(*) FROM file_catalog WHERE course_id = %(c)s),
                  (SELECT count(*) FROM rag_context_cache WHERE course_id = %(c)s)""", {"c": cid}).fetchone()
    return {
        "database": rows[0],
        "rag": rows[1],
        "redis": sum(rds.exists(k) for k in seeded.keys),
        "qdrant": count_points(qdrant, cid) if qdrant is not None else 0,
        "files": len(set(seeded.files) & storage.keys()) if storage is not None else 0,
    }


NOTHING_LEFT = {"database": 0, "rag": 0, "redis": 0, "qdrant": 0, "files": 0}
