"""functions/purge_course end to end: real Postgres and Redis, qdrant-client local mode, and storage
as a temp directory and as moto's S3 server over HTTP."""

from __future__ import annotations

import uuid

import pytest

from devtools.localstores import free_port
from functions.purge_course.app import handler
from tests.conftest import ADMIN_TOKEN, call, user_token
from tests.purge_seed import NOTHING_LEFT, leftovers, lookalike_keys, seed_course, sibling_id
from tests.storage_fixtures import file_storage, moto_s3, qdrant, storage  # noqa: F401 - fixtures
from tests.wired import drain_queue, use_qdrant

EMPTY_RESULT = {"qdrantVectorsDeleted": 0, "redisKeysDeleted": 0, "ragContextEntriesDeleted": 0,
                "filesDeleted": 0, "bytesFreed": 0, "databaseRowsDeleted": 0}


def purge(token, course_id, **kwargs):
    return call(handler, "DELETE", f"/courses/{course_id}", token=token, **kwargs)


def purge_status(token, course_id):
    return call(handler, "GET", f"/courses/{course_id}/purge", token=token)


def log_lines(caplog, event: str) -> list[dict]:
    """The invocation log lines named `event`, as the JSON logger would write their fields."""
    return [vars(r) for r in caplog.records if r.getMessage() == event]


def audit_rows(db, course_id):
    return db.execute("SELECT action, new_values, user_id FROM audit_log WHERE record_id = %s AND table_name = 'courses'",
                      (course_id,)).fetchall()


def test_purge_removes_exactly_the_course_from_every_store(db, rds, make_user, qdrant, storage, caplog):
    owner = make_user()
    doomed = seed_course(db, rds, owner, qdrant=qdrant, storage=storage)
    kept = seed_course(db, rds, owner, qdrant=qdrant, storage=storage, course_id=sibling_id(doomed.course_id))
    for key in lookalike_keys(doomed.course_id):
        rds.set(key, "not a key of the course")
    kept_before = leftovers(db, rds, kept, qdrant=qdrant, storage=storage)
    caplog.clear()

    reply = purge(owner.token, doomed.course_id)

    assert reply.status == 200, reply
    assert reply.json["status"] == "purged" and reply.json["courseId"] == str(doomed.course_id)
    assert reply.json["result"] == doomed.expected
    assert reply.json["durationMs"] >= 0
    assert leftovers(db, rds, doomed, qdrant=qdrant, storage=storage) == NOTHING_LEFT
    # Nothing of the course whose id shares all but one digit, nor keys that merely start with the id.
    assert leftovers(db, rds, kept, qdrant=qdrant, storage=storage) == kept_before
    assert all(rds.exists(key) for key in lookalike_keys(doomed.course_id))
    assert storage.keys() == set(kept.files)
    # One audit row, with the counts; one log line, with the counts.
    [(action, new_values, user_id)] = audit_rows(db, doomed.course_id)
    assert (action, new_values["result"], new_values["reason"], user_id) == ("PURGE", doomed.expected, "api", owner.id)
    [line] = log_lines(caplog, "course_purged")
    assert {k: line[k] for k in doomed.expected} == doomed.expected
    assert line["course"] == str(doomed.course_id) and line["purge"] == "purged"


def test_store_failure_answers_202_and_retry_completes_the_purge(db, rds, make_user, qdrant, file_storage,
                                                                  settings_env):
    owner = make_user()
    seeded = seed_course(db, rds, owner, qdrant=qdrant, storage=file_storage)
    use_qdrant(None)
    settings_env(QDRANT_URL=f"http://127.0.0.1:{free_port()}")  # a hosted Qdrant that is down

    reply = purge(owner.token, seeded.course_id)

    assert reply.status == 202, reply
    assert reply.json["status"] == "pending"
    [failed] = reply.json["failedSteps"]
    assert failed["step"] == "qdrant" and "qdrant" in failed["error"]
    assert reply.json["result"] == {**seeded.expected, "qdrantVectorsDeleted": 0}
    # Gone for users at once; every other store is clean; the vectors wait for the retry.
    left = leftovers(db, rds, seeded, qdrant=qdrant, storage=file_storage)
    assert left == {**NOTHING_LEFT, "qdrant": seeded.vectors}
    status = purge_status(owner.token, seeded.course_id)
    assert status.status == 200, status
    assert (status.json["status"], status.json["attempts"]) == ("pending", 1)
    assert "qdrant" in status.json["lastError"] and status.json["steps"] == {
        "qdrant": False, "redis": True, "files": True, "rag": True}
    assert audit_rows(db, seeded.course_id) == []  # written when the purge completes

    use_qdrant(qdrant)  # the store is back
    retry = call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN)

    assert retry.status == 200, retry
    assert retry.json == {"processed": 1, "purged": 1, "stillPending": 0, "failed": 0}
    status = purge_status(owner.token, seeded.course_id)
    assert (status.json["status"], status.json["attempts"], status.json["lastError"]) == ("purged", 2, None)
    assert status.json["result"] == seeded.expected  # the counts of both attempts add up
    assert leftovers(db, rds, seeded, qdrant=qdrant, storage=file_storage) == NOTHING_LEFT
    assert len(audit_rows(db, seeded.course_id)) == 1
    again = purge(owner.token, seeded.course_id)
    assert (again.status, again.json["status"], again.json["result"]) == (200, "already_purged", seeded.expected)


def test_the_hourly_drain_completes_a_failed_purge_once_its_backoff_is_over(db, rds, make_user, qdrant,
                                                                           file_storage, settings_env):
    owner = make_user()
    seeded = seed_course(db, rds, owner, qdrant=qdrant, storage=file_storage)
    use_qdrant(None)
    settings_env(QDRANT_URL=f"http://127.0.0.1:{free_port()}")
    assert purge(owner.token, seeded.course_id).status == 202
    use_qdrant(qdrant)

    early = drain_queue(time_budget_s=30)
    assert (early["processed"], early["stillPending"]) == (0, 1)  # still waiting out its backoff

    db.execute("UPDATE purge_queue SET next_attempt_at = now() WHERE course_id = %s", (seeded.course_id,))
    report = drain_queue(time_budget_s=30)

    assert (report["processed"], report["purged"], report["stillPending"]) == (1, 1, 0)
    assert purge_status(ADMIN_TOKEN, seeded.course_id).json["result"] == seeded.expected
    assert leftovers(db, rds, seeded, qdrant=qdrant, storage=file_storage) == NOTHING_LEFT


def test_a_course_deleted_by_plain_sql_is_purged_by_the_next_retry(db, rds, make_user, qdrant, file_storage):
    owner = make_user()
    seeded = seed_course(db, rds, owner, qdrant=qdrant, storage=file_storage)

    db.execute("DELETE FROM courses WHERE id = %s", (seeded.course_id,))  # typed in the SQL console

    assert purge_status(owner.token, seeded.course_id).json["status"] == "pending"
    retry = call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN)
    assert retry.json == {"processed": 1, "purged": 1, "stillPending": 0, "failed": 0}
    status = purge_status(owner.token, seeded.course_id).json
    assert status["reason"] == "sql"
    # Outside the API the trigger counts the course row and its materials (it cannot see the
    # other cascades); everything else is exact.
    assert status["result"] == {**seeded.expected, "databaseRowsDeleted": 3}
    assert leftovers(db, rds, seeded, qdrant=qdrant, storage=file_storage) == NOTHING_LEFT


class _Context:
    """The Lambda context of a scheduled invocation: a minute left."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def test_an_expired_draft_deleted_by_the_hourly_cleanup_is_purged_by_the_same_run(db, rds, make_user, file_storage):
    from functions.cleanup_drafts.app import handler as cleanup_handler

    owner = make_user()
    draft = seed_course(db, rds, owner, storage=file_storage, status="draft")  # materialized by a file upload
    live = seed_course(db, rds, owner, storage=file_storage, status="draft")
    db.execute("UPDATE courses SET created_at = now() - interval '25 hours' WHERE id = %s", (draft.course_id,))

    run = cleanup_handler({"source": "aws.scheduler", "action": "cleanup"}, _Context())  # the hourly event

    assert (run["deleted"], run["purgesProcessed"], run["purgesPending"]) == (1, 1, 0)
    assert leftovers(db, rds, draft, storage=file_storage) == NOTHING_LEFT
    assert file_storage.keys() == set(live.files)
    status = purge_status(ADMIN_TOKEN, draft.course_id).json
    assert (status["status"], status["reason"]) == ("purged", "draft_expired")
    assert (status["result"]["filesDeleted"], status["result"]["bytesFreed"]) == (4, 380)


def test_dry_run_changes_nothing_and_reports_what_the_purge_removes(db, rds, make_user, qdrant, storage):
    owner = make_user()
    seeded = seed_course(db, rds, owner, qdrant=qdrant, storage=storage)
    before = leftovers(db, rds, seeded, qdrant=qdrant, storage=storage)

    dry = purge(owner.token, seeded.course_id, query={"dryRun": "true"})

    assert dry.status == 200, dry
    assert (dry.json["status"], dry.json["result"]) == ("dry_run", seeded.expected)
    assert leftovers(db, rds, seeded, qdrant=qdrant, storage=storage) == before
    assert db.execute("SELECT count(*) FROM purge_queue").fetchone()[0] == 0
    assert audit_rows(db, seeded.course_id) == []
    assert purge_status(owner.token, seeded.course_id).status == 404  # never requested

    real = purge(owner.token, seeded.course_id)
    assert (real.status, real.json["result"]) == (200, dry.json["result"])
    second = purge(owner.token, seeded.course_id)
    assert (second.status, second.json["status"], second.json["result"]) == (200, "already_purged", seeded.expected)
    dry_after = purge(owner.token, seeded.course_id, query={"dryRun": "true"})
    assert (dry_after.status, dry_after.json["status"]) == (200, "already_purged")


def test_unknown_course_is_404_and_bad_input_is_400(make_user):
    owner = make_user()
    unknown = uuid.uuid4()
    for reply in (purge(ADMIN_TOKEN, unknown), purge(owner.token, unknown, query={"dryRun": "true"}),
                  purge_status(ADMIN_TOKEN, unknown)):
        assert reply.status == 404, reply
        assert reply.json["error"]["code"] == "not_found"
    assert purge(ADMIN_TOKEN, "not-a-uuid").status == 400
    assert purge(ADMIN_TOKEN, unknown, query={"dryRun": "maybe"}).status == 400
    assert purge(None, unknown).status == 401


def _callers(make_user, owner):
    org_admin = make_user(org_id=owner.org_id, role="admin")
    colleague = make_user(org_id=owner.org_id)
    foreign_admin = make_user(role="admin")
    return {
        "admin token": (ADMIN_TOKEN, 200),
        "service_role": (user_token(uuid.uuid4(), role="service_role"), 200),
        "owner": (owner.token, 200),
        "organization admin": (org_admin.token, 200),
        "other user of the organization": (colleague.token, 403),
        "admin of another organization": (foreign_admin.token, 403),
        "nobody": (None, 401),
    }


@pytest.mark.parametrize("who", ["admin token", "service_role", "owner", "organization admin",
                                 "other user of the organization", "admin of another organization", "nobody"])
def test_authorization_matrix(db, rds, make_user, who):
    owner = make_user()
    token, expected = _callers(make_user, owner)[who]
    course = seed_course(db, rds, owner)

    dry = purge(token, course.course_id, query={"dryRun": "true"})
    reply = purge(token, course.course_id)

    assert (dry.status, reply.status) == (expected, expected), (dry, reply)
    still_there = db.execute("SELECT count(*) FROM courses WHERE id = %s", (course.course_id,)).fetchone()[0]
    if expected == 200:
        assert reply.json["status"] == "purged" and still_there == 0
        assert purge_status(token, course.course_id).status == 200
    else:
        assert reply.json["error"]["code"] == ("forbidden" if expected == 403 else "unauthorized")
        assert still_there == 1 and rds.exists(f"course:{course.course_id}")


def test_status_and_retry_are_guarded_like_the_purge(db, rds, make_user):
    owner = make_user()
    course = seed_course(db, rds, owner)
    assert purge(owner.token, course.course_id).status == 200
    assert purge_status(owner.token, course.course_id).status == 200
    assert purge_status(make_user(org_id=owner.org_id, role="admin").token, course.course_id).status == 200
    assert purge_status(make_user(role="admin").token, course.course_id).status == 403
    assert purge(make_user(role="admin").token, course.course_id).status == 403  # even once purged
    retry = call(handler, "POST", "/purges/retry", token=owner.token)
    assert (retry.status, retry.json["error"]["code"]) == (403, "forbidden")
    assert call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN, body={"bogus": 1}).status == 422
    assert call(handler, "GET", "/purges/retry", token=ADMIN_TOKEN).status == 405
