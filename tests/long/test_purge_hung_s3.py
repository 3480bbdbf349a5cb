"""The purge with S3 hung (accepts, never answers) at the default STORE_TIMEOUT_SECONDS: the
API's DELETE still answers 202 inside the function's timeout, a drain hung mid-way leaves its
courses pending, and every course is purged once S3 answers again (figures: how long each took)."""

from __future__ import annotations

import threading
import time
import uuid

import boto3

from functions.purge_course.app import handler
from tests.conftest import ADMIN_TOKEN, call
from tests.hung_store import HungStore
from tests.purge_seed import NOTHING_LEFT, leftovers, seed_course
from tests.storage_fixtures import AWS_ENV, Bucket, qdrant  # noqa: F401 - fixtures
from tests.test_faults_purge import MotoS3, queue_statuses
from tests.wired import drain_queue


def test_purge_with_s3_hung(db, rds, make_user, qdrant, settings_env, monkeypatch, figures):
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    moto = MotoS3()
    proxy = HungStore(target=moto.port)
    try:
        bucket = Bucket(moto.endpoint, f"hung-{uuid.uuid4().hex[:12]}")
        settings_env(STORAGE_URL=bucket.url, S3_ENDPOINT_URL=proxy.url("http"), STORE_TIMEOUT_SECONDS="3")
        owner = make_user()
        courses = [seed_course(db, rds, owner, qdrant=qdrant, storage=bucket) for _ in range(13)]
        single, many = courses[0], courses[1:]

        proxy.hang()
        before = proxy.accepted
        t0 = time.perf_counter()
        reply = call(handler, "DELETE", f"/courses/{single.course_id}", token=owner.token)
        delete_ms = round((time.perf_counter() - t0) * 1000)
        assert reply.status == 202 and [f["step"] for f in reply.json["failedSteps"]] == ["files"], reply
        # Two tries of one call, each one read timeout: botocore's max_attempts=2 had meant three.
        assert proxy.accepted - before == 2
        proxy.heal()

        watcher = boto3.client("s3", endpoint_url=moto.endpoint)
        total = watcher.list_objects_v2(Bucket=bucket.name)["KeyCount"]
        db.execute("DELETE FROM courses WHERE id = ANY(%s)", ([c.course_id for c in many],))
        report: dict = {}
        t0 = time.perf_counter()
        drain = threading.Thread(target=lambda: report.update(drain_queue(time_budget_s=20, batch_size=4)),
                                 daemon=True)
        drain.start()
        deadline = time.monotonic() + 60
        while drain.is_alive() and time.monotonic() < deadline:  # S3 hangs once the drain removed something
            if watcher.list_objects_v2(Bucket=bucket.name)["KeyCount"] < total:
                proxy.hang()
                break
            time.sleep(0.005)
        drain.join(180)
        drain_ms = round((time.perf_counter() - t0) * 1000)
        assert not drain.is_alive()
        pending = queue_statuses(db, courses).get("pending", 0)

        proxy.heal()
        t0 = time.perf_counter()
        for _ in range(3):
            retry = call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN)
            assert retry.status == 200, retry
            if retry.json["stillPending"] == 0:
                break
        retry_ms = round((time.perf_counter() - t0) * 1000)
        assert queue_statuses(db, courses) == {"purged": len(courses)}
        for course in courses:
            assert leftovers(db, rds, course, qdrant=qdrant, storage=bucket) == NOTHING_LEFT
        figures.record(
            "purge with S3 hung (STORE_TIMEOUT_SECONDS=3; function timeout 60 s)",
            deleteWithS3Hung={"status": reply.status, "ms": delete_ms},
            drainOf12HungMidway={"ms": drain_ms, "processed": report.get("processed"),
                                 "leftPending": pending, "budgetS": 20},
            retryAfterHeal={"ms": retry_ms, "purgedInTheEnd": len(courses), "orphans": 0},
        )
    finally:
        proxy.close()
        moto.stop()


def test_purge_with_a_hosted_qdrant_hung(db, rds, make_user, qdrant, settings_env, figures):
    from tests.wired import use_qdrant

    owner = make_user()
    course = seed_course(db, rds, owner, qdrant=qdrant)
    with HungStore() as hung:
        use_qdrant(None)
        settings_env(QDRANT_URL=hung.url("http"), STORE_TIMEOUT_SECONDS="3")
        t0 = time.perf_counter()
        reply = call(handler, "DELETE", f"/courses/{course.course_id}", token=owner.token)
        delete_ms = round((time.perf_counter() - t0) * 1000)
        assert reply.status == 202 and [f["step"] for f in reply.json["failedSteps"]] == ["qdrant"], reply
        connections = hung.accepted
    use_qdrant(qdrant)  # Qdrant answers again
    assert call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN).json["stillPending"] == 0
    assert leftovers(db, rds, course, qdrant=qdrant) == NOTHING_LEFT
    figures.record("purge with a hosted Qdrant hung (STORE_TIMEOUT_SECONDS=3)",
                   deleteWithQdrantHung={"status": reply.status, "ms": delete_ms, "connections": connections})
