"""Draining thousands of queued courses (the hourly cleanup can delete that many drafts) is batched:
one keyspace scan and one Qdrant filter per batch, not one per course."""

from __future__ import annotations

import uuid

from tests.storage_fixtures import add_points, count_points, file_storage, qdrant  # noqa: F401 - fixtures
from tests.wired import drain_queue

COURSES = 2000
BATCH = 500
WITH_DATA = 40  # courses of the 2000 that also have keys, vectors and files


def scan_calls(rds) -> int:
    stats = rds.info("commandstats")
    return int(stats.get("cmdstat_scan", {}).get("calls", 0))


def test_draining_2000_courses_takes_a_bounded_number_of_keyspace_scans(db, rds, make_user, qdrant, file_storage):
    owner = make_user()
    ids = [uuid.uuid4() for _ in range(COURSES)]
    db.execute("""INSERT INTO courses (id, organization_id, user_id, title, slug)
                  SELECT id, %s, %s, 'draft', 'd-' || id FROM unnest(%s::uuid[]) AS id""", (owner.org_id, owner.id, ids))
    busy = ids[:: COURSES // WITH_DATA]
    for cid in busy:
        rds.set(f"course:{cid}", "x")
        rds.set(f"rag:{cid}:1", "x")
        rds.set(f"idempotency:generation-{cid}-1", "x")
        add_points(qdrant, cid, owner.org_id, [], 2)
        file_storage.put(f"materials/{cid}/m/original.pdf", b"12345")
    for n in range(300):
        rds.set(f"someone-else:{n}", "x")  # the rest of the keyspace
    db.execute("DELETE FROM courses")  # one set-based delete, as the cleanup does
    rds.config_resetstat()

    report = drain_queue(time_budget_s=600, batch_size=BATCH)

    assert (report["processed"], report["purged"], report["stillPending"]) == (COURSES, COURSES, 0)
    assert report["batches"] == COURSES // BATCH
    # One full SCAN traversal per batch: a handful of calls each for this keyspace, not one per course.
    per_traversal = rds.dbsize() // 1000 + 2
    assert 0 < scan_calls(rds) <= report["batches"] * per_traversal
    assert rds.dbsize() == 300
    assert all(count_points(qdrant, cid) == 0 for cid in busy)
    assert file_storage.keys() == set()
    totals = db.execute("""SELECT sum((result->>'redisKeysDeleted')::int), sum((result->>'qdrantVectorsDeleted')::int),
                                  sum((result->>'filesDeleted')::int), count(*) FILTER (WHERE status = 'purged')
                           FROM purge_queue""").fetchone()
    assert tuple(totals) == (3 * WITH_DATA, 2 * WITH_DATA, WITH_DATA, COURSES)
