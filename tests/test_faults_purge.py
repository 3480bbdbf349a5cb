"""The purge under store faults: S3 (moto's server) stopped, before and in the middle of a drain;
Qdrant raising in the middle of a drain; Postgres and Redis stopped under a drain. Whatever fails,
the courses are gone for users at once, and every deleted course is purged in the end, from every
store, by the same process once the store is back (no client reset, no restart)."""

from __future__ import annotations

import threading
import time
import uuid

import boto3
import psycopg
import pytest

from devtools.localstores import free_port
from functions.platform.errors import StoreUnavailable
from functions.purge_course.app import handler
from tests.conftest import ADMIN_TOKEN, call
from tests.purge_seed import NOTHING_LEFT, leftovers, seed_course
from tests.storage_fixtures import AWS_ENV, Bucket, qdrant  # noqa: F401 - fixtures
from tests.wired import drain_queue


class MotoS3:
    """moto's S3 server over HTTP on a port of this test, stoppable and restartable on that port.

    moto keeps its buckets in this process, so a restarted server serves the same objects, as a real
    S3 endpoint that was unreachable for a while would."""

    def __init__(self):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.start()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def s3(settings_env, monkeypatch):
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    moto = MotoS3()
    bucket = Bucket(moto.endpoint, f"faults-{uuid.uuid4().hex[:12]}")
    settings_env(STORAGE_URL=bucket.url, S3_ENDPOINT_URL=moto.endpoint, STORE_TIMEOUT_SECONDS="1")
    yield moto, bucket
    moto.stop()


def seed(db, rds, make_user, n: int, **stores):
    owner = make_user()
    return owner, [seed_course(db, rds, owner, **stores) for _ in range(n)]


def delete_in_sql(db, courses) -> None:
    """As the hourly cleanup or the SQL console would: the trigger queues every one."""
    db.execute("DELETE FROM courses WHERE id = ANY(%s)", ([c.course_id for c in courses],))


def queue_statuses(db, courses) -> dict[str, int]:
    rows = db.execute("SELECT status, count(*) FROM purge_queue WHERE course_id = ANY(%s) GROUP BY status",
                      ([c.course_id for c in courses],)).fetchall()
    return dict(rows)


def retry_all() -> dict:
    reply = call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN)
    assert reply.status == 200, reply
    return reply.json


def assert_all_purged(db, rds, courses, **stores) -> None:
    assert queue_statuses(db, courses) == {"purged": len(courses)}
    for course in courses:
        assert leftovers(db, rds, course, **stores) == NOTHING_LEFT, course.course_id


def test_s3_down_during_an_api_purge_is_202_then_the_retry_finishes(db, rds, make_user, qdrant, s3):
    moto, bucket = s3
    owner, [course] = seed(db, rds, make_user, 1, qdrant=qdrant, storage=bucket)
    moto.stop()
    reply = call(handler, "DELETE", f"/courses/{course.course_id}", token=owner.token)
    assert reply.status == 202, reply
    assert [f["step"] for f in reply.json["failedSteps"]] == ["files"]
    assert "testing" not in reply.text  # no credential in the error
    # Gone for users at once; the other stores are clean already; the files wait.
    left = leftovers(db, rds, course, qdrant=qdrant)
    assert left == NOTHING_LEFT
    assert call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN).json["stillPending"] == 1
    moto.start()
    assert retry_all() == {"processed": 1, "purged": 1, "stillPending": 0, "failed": 0}
    assert_all_purged(db, rds, [course], qdrant=qdrant, storage=bucket)


def test_s3_stopped_in_the_middle_of_a_drain_orphans_nothing(db, rds, make_user, qdrant, s3):
    moto, bucket = s3
    _, courses = seed(db, rds, make_user, 12, qdrant=qdrant, storage=bucket)
    total = len(bucket.keys())
    watcher = boto3.client("s3", endpoint_url=moto.endpoint)
    delete_in_sql(db, courses)

    report: dict = {}
    drain = threading.Thread(target=lambda: report.update(drain_queue(time_budget_s=60, batch_size=3)), daemon=True)
    drain.start()
    deadline = time.monotonic() + 60
    while drain.is_alive() and time.monotonic() < deadline:  # stop S3 at the first object the drain removes
        if watcher.list_objects_v2(Bucket=bucket.name).get("KeyCount", 0) < total:
            moto.stop()
            break
        time.sleep(0.005)
    drain.join(120)
    assert not drain.is_alive()
    assert report["processed"] == 12
    stopped_mid_drain = moto.server is None
    pending_after_the_fault = queue_statuses(db, courses).get("pending", 0)
    for course in courses:  # the rest of every course is gone whatever happened to its files
        assert leftovers(db, rds, course, qdrant=qdrant) == NOTHING_LEFT

    if stopped_mid_drain:
        moto.start()
    for _ in range(3):  # each retry is forced (no backoff wait); one is enough once S3 is back
        if retry_all()["stillPending"] == 0:
            break
    assert_all_purged(db, rds, courses, qdrant=qdrant, storage=bucket)
    assert bucket.keys() == set()
    print(f"S3 stopped mid-drain: {stopped_mid_drain}; courses left pending by it: {pending_after_the_fault}")


def test_qdrant_raising_in_the_middle_of_a_drain_is_finished_by_the_retry(db, rds, make_user, qdrant, monkeypatch):
    _, courses = seed(db, rds, make_user, 6, qdrant=qdrant)
    real_delete = qdrant.delete
    calls = {"n": 0}

    def delete_then_fail(*args, **kwargs):
        # The first batch goes through; from the second on, Qdrant fails as a hosted one can (a 5xx).
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("Unexpected Response: 503 (Service Unavailable)")
        return real_delete(*args, **kwargs)

    monkeypatch.setattr(qdrant, "delete", delete_then_fail)
    delete_in_sql(db, courses)
    report = drain_queue(time_budget_s=60, batch_size=2)
    assert (report["processed"], report["purged"], report["failed"]) == (6, 2, 4)
    pending = db.execute("SELECT course_id, steps, last_error FROM purge_queue WHERE status = 'pending'").fetchall()
    assert len(pending) == 4
    for _, steps, last_error in pending:
        assert "qdrant" in last_error
        assert {s: bool((steps.get(s) or {}).get("done")) for s in ("qdrant", "redis", "files", "rag")} == {
            "qdrant": False, "redis": True, "files": True, "rag": True}

    monkeypatch.setattr(qdrant, "delete", real_delete)  # Qdrant is back
    assert retry_all() == {"processed": 4, "purged": 4, "stillPending": 0, "failed": 0}
    assert_all_purged(db, rds, courses, qdrant=qdrant)


def test_redis_down_under_a_drain_then_purged_in_the_end(db, rds, make_user, qdrant, redis_server):
    _, courses = seed(db, rds, make_user, 4, qdrant=qdrant)
    delete_in_sql(db, courses)
    redis_server.stop()
    try:
        report = drain_queue(time_budget_s=30, batch_size=2)
        assert (report["processed"], report["purged"], report["stillPending"]) == (4, 0, 4)
    finally:
        redis_server.start()  # empty again (the suite's Redis keeps nothing): the keys' purge finds 0
    assert retry_all()["stillPending"] == 0
    assert queue_statuses(db, courses) == {"purged": 4}
    for course in courses:
        assert leftovers(db, rds, course, qdrant=qdrant) == NOTHING_LEFT


def test_postgres_down_under_a_drain_then_purged_in_the_end(db, rds, make_user, qdrant, pg_server):
    _, courses = seed(db, rds, make_user, 4, qdrant=qdrant)
    delete_in_sql(db, courses)
    db.close()
    pg_server.stop("fast")
    try:
        with pytest.raises(StoreUnavailable) as failed:  # the queue itself is unreachable: nothing claimed
            drain_queue(time_budget_s=10, batch_size=2)
        assert failed.value.store == "postgres"
    finally:
        pg_server.start()
    assert retry_all() == {"processed": 4, "purged": 4, "stillPending": 0, "failed": 0}
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        assert_all_purged(conn, rds, courses, qdrant=qdrant)
