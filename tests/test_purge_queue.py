"""The purge queue in Postgres: what the trigger records, in which transaction, and how the worker
claims, retries, backs off and releases entries."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from devtools.localstores import free_port
from functions.purge.model import StepFailure, backoff_seconds
from functions.purge.worker import Outcome
from tests.purge_seed import seed_course
from tests.wired import drain_queue, purge_queue, use_qdrant


def entry(db, course_id):
    row = db.execute("""SELECT organization_id, owner_id, material_ids, reason, requested_by, status, attempts,
                               result, last_error
                        FROM purge_queue WHERE course_id = %s""", (course_id,)).fetchone()
    if row is None:
        return None
    keys = ("org", "owner", "materials", "reason", "requested_by", "status", "attempts", "result", "last_error")
    return dict(zip(keys, row))


def rag_rows(db, course_id) -> int:
    return db.execute("SELECT count(*) FROM rag_context_cache WHERE course_id = %s", (course_id,)).fetchone()[0]


def test_a_set_based_delete_queues_every_course_with_its_materials(db, rds, make_user):
    owner = make_user()
    doomed = [seed_course(db, rds, owner) for _ in range(3)]
    kept = seed_course(db, rds, owner)

    db.execute("DELETE FROM courses WHERE id = ANY(%s)", ([c.course_id for c in doomed],))

    for course in doomed:
        queued = entry(db, course.course_id)
        # The materials cascaded away with the course, yet their ids were captured for material:{id}.
        assert sorted(queued["materials"]) == sorted(course.material_ids)
        assert (queued["org"], queued["owner"], queued["reason"], queued["status"]) == (
            owner.org_id, owner.id, "sql", "pending")
        assert queued["result"] == {"ragContextEntriesDeleted": 3, "databaseRowsDeleted": 3}
        assert rag_rows(db, course.course_id) == 0
    assert entry(db, kept.course_id) is None and rag_rows(db, kept.course_id) == 3
    assert db.execute("SELECT count(*) FROM purge_queue WHERE status <> 'purged'").fetchone()[0] == 3


def test_the_queue_row_and_the_cache_rows_share_the_deleting_transaction(db, rds, make_user):
    owner = make_user()
    course = seed_course(db, rds, owner)

    with pytest.raises(psycopg.errors.RaiseException):
        with db.transaction():
            db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))
            assert entry(db, course.course_id) is not None and rag_rows(db, course.course_id) == 0
            db.execute("DO $$ BEGIN RAISE EXCEPTION 'the delete is rolled back'; END $$")

    assert entry(db, course.course_id) is None
    assert rag_rows(db, course.course_id) == 3
    assert db.execute("SELECT count(*) FROM materials WHERE course_id = %s", (course.course_id,)).fetchone()[0] == 2


def test_deleting_a_material_of_a_live_course_queues_nothing(db, rds, make_user):
    owner = make_user()
    course = seed_course(db, rds, owner)
    db.execute("DELETE FROM materials WHERE id = %s", (course.material_ids[0],))
    db.execute("DELETE FROM materials WHERE course_id IS NULL")  # no course at all: nothing either
    assert db.execute("SELECT count(*) FROM purge_queue").fetchone()[0] == 0


def test_the_deleting_transaction_names_its_reason_and_requester(db, rds, make_user):
    owner = make_user()
    first, second = seed_course(db, rds, owner), seed_course(db, rds, owner)
    with db.transaction():
        db.execute("SELECT set_config('app.purge_reason', 'draft_expired', true), "
                   "set_config('app.purge_requested_by', %s, true)", (str(owner.id),))
        db.execute("DELETE FROM courses WHERE id = %s", (first.course_id,))
    with db.transaction():  # a malformed requester never fails a delete
        db.execute("SELECT set_config('app.purge_requested_by', 'robert''); drop table x; --', true)")
        db.execute("DELETE FROM courses WHERE id = %s", (second.course_id,))
    assert (entry(db, first.course_id)["reason"], entry(db, first.course_id)["requested_by"]) == (
        "draft_expired", owner.id)
    assert (entry(db, second.course_id)["reason"], entry(db, second.course_id)["requested_by"]) == ("sql", None)


def test_a_purged_id_deleted_again_starts_a_fresh_entry(db, rds, make_user):
    owner = make_user()
    course = seed_course(db, rds, owner)
    db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))
    assert drain_queue(time_budget_s=30)["purged"] == 1

    again = seed_course(db, rds, owner, course_id=course.course_id)  # restored from a backup, say
    db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))

    queued = entry(db, course.course_id)
    assert (queued["status"], queued["attempts"]) == ("pending", 0)
    assert sorted(queued["materials"]) == sorted(again.material_ids)
    assert queued["result"] == {"ragContextEntriesDeleted": 3, "databaseRowsDeleted": 3}
    assert drain_queue(time_budget_s=30)["purged"] == 1
    assert not any(rds.exists(k) for k in again.keys)


def test_a_bulk_delete_of_thousands_queues_them_all(db, make_user):
    owner = make_user()
    db.execute("""INSERT INTO courses (organization_id, user_id, title, slug)
                  SELECT %s, %s, 'draft', 'bulk-' || g FROM generate_series(1, 3000) g""", (owner.org_id, owner.id))
    db.execute("INSERT INTO rag_context_cache (course_id) SELECT id FROM courses")
    deleted = db.execute("DELETE FROM courses").rowcount
    assert deleted == 3000
    assert db.execute("SELECT count(*) FROM purge_queue WHERE status = 'pending'").fetchone()[0] == 3000
    assert db.execute("SELECT count(*) FROM rag_context_cache").fetchone()[0] == 0


def test_a_failed_step_backs_off_exponentially(db, rds, make_user, settings_env):
    owner = make_user()
    course = seed_course(db, rds, owner)
    db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))
    settings_env(QDRANT_URL=f"http://127.0.0.1:{free_port()}", PURGE_RETRY_BASE_SECONDS="10",
                 PURGE_RETRY_MAX_SECONDS="25")
    waits = []
    for attempt in range(1, 4):
        db.execute("UPDATE purge_queue SET next_attempt_at = now()")  # the previous wait is over
        report = drain_queue(time_budget_s=30)
        assert (report["processed"], report["purged"], report["stillPending"]) == (1, 0, 1)
        queued = entry(db, course.course_id)
        assert queued["attempts"] == attempt and queued["last_error"].startswith("qdrant:")
        waits.append(db.execute("SELECT extract(epoch FROM next_attempt_at - updated_at) FROM purge_queue")
                     .fetchone()[0])
    assert [float(w) for w in waits] == [10, 20, 25]  # doubled, then capped
    assert not any(rds.exists(k) for k in course.keys)  # the other stores did not wait for Qdrant


def test_backoff_schedule():
    assert [backoff_seconds(n, 30, 3600) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert backoff_seconds(10_000, 30, 3600) == 3600


def test_an_entry_stuck_running_past_its_lease_is_released_and_purged(db, rds, make_user):
    owner = make_user()
    stuck, busy = seed_course(db, rds, owner), seed_course(db, rds, owner)
    db.execute("DELETE FROM courses WHERE id = ANY(%s)", ([stuck.course_id, busy.course_id],))
    db.execute("""UPDATE purge_queue SET status = 'running', claim_token = gen_random_uuid(), attempts = 1,
                      locked_until = CASE WHEN course_id = %s THEN now() - interval '1 second'
                                          ELSE now() + interval '1 hour' END""", (stuck.course_id,))

    report = drain_queue(time_budget_s=30)

    assert (report["released"], report["processed"], report["purged"], report["stillPending"]) == (1, 1, 1, 1)
    assert entry(db, stuck.course_id)["status"] == "purged"
    assert entry(db, busy.course_id)["status"] == "running"  # its worker is still within its lease
    assert all(rds.exists(k) for k in busy.keys)


def test_two_workers_never_claim_the_same_entry(db, rds, make_user):
    owner = make_user()
    for _ in range(3):
        db.execute("DELETE FROM courses WHERE id = %s", (seed_course(db, rds, owner).course_id,))
    queue = purge_queue()
    first = queue.claim(uuid.uuid4(), limit=2, lease_seconds=60)
    second = queue.claim(uuid.uuid4(), limit=2, lease_seconds=60)
    assert len(first) == 2 and len(second) == 1
    assert not {e.course_id for e in first} & {e.course_id for e in second}
    assert queue.claim(uuid.uuid4(), limit=2, lease_seconds=60) == []


def test_a_stale_worker_cannot_finish_an_entry_it_no_longer_holds(db, rds, make_user):
    owner = make_user()
    course = seed_course(db, rds, owner)
    db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))
    queue = purge_queue()
    token = uuid.uuid4()
    [claimed] = queue.claim(token, limit=1, lease_seconds=60)
    db.execute("UPDATE purge_queue SET locked_until = now() - interval '1 second'")
    assert drain_queue(time_budget_s=30)["purged"] == 1  # released and purged by another worker

    assert queue.finish(token, [Outcome(str(claimed.course_id), [StepFailure("redis", "late")], 60)]) == {}
    queued = entry(db, course.course_id)
    assert (queued["status"], queued["last_error"]) == ("purged", None)
    assert db.execute("SELECT count(*) FROM audit_log WHERE record_id = %s", (course.course_id,)).fetchone()[0] == 1


def test_unconfigured_stores_are_skipped_not_guessed(db, rds, make_user, settings_env):
    owner = make_user()
    course = seed_course(db, rds, owner)
    settings_env(QDRANT_URL="", QDRANT_PATH="", STORAGE_URL="")
    use_qdrant(None)
    db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))
    assert drain_queue(time_budget_s=30)["purged"] == 1
    steps = db.execute("SELECT steps FROM purge_queue").fetchone()[0]
    assert steps["qdrant"]["skipped"] and steps["files"]["skipped"] and not steps["redis"]["skipped"]


def test_cache_rows_a_late_writer_adds_after_the_delete_are_purged_too(db, rds, make_user):
    owner = make_user()
    course = seed_course(db, rds, owner)
    db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))
    for _ in range(2):  # a generation job finishing after the delete
        db.execute("INSERT INTO rag_context_cache (course_id) VALUES (%s)", (course.course_id,))

    assert drain_queue(time_budget_s=30)["purged"] == 1

    assert rag_rows(db, course.course_id) == 0
    assert entry(db, course.course_id)["result"]["ragContextEntriesDeleted"] == 3 + 2


def test_an_entry_whose_course_exists_again_is_dropped_and_its_data_kept(db, rds, make_user):
    owner = make_user()
    course = seed_course(db, rds, owner)
    db.execute("DELETE FROM courses WHERE id = %s", (course.course_id,))
    revived = seed_course(db, rds, owner, course_id=course.course_id)  # restored before the worker ran

    report = drain_queue(time_budget_s=30)

    assert (report["revived"], report["processed"], report["stillPending"]) == (1, 0, 0)
    assert entry(db, course.course_id) is None
    assert all(rds.exists(k) for k in revived.keys) and rag_rows(db, course.course_id) == 3
