"""The purge's service and worker (functions/purge/) over in-memory stores: who may, what a purge
answers, failures and retries, a parallel run, and that a one-course purge leaves the queue's
housekeeping to the drain. Milliseconds, no server."""

from __future__ import annotations

import uuid

import pytest

from functions.platform.auth import Principal
from functions.platform.errors import Forbidden, NotFound
from functions.platform.settings import load_settings
from functions.purge.model import Member
from functions.purge.service import CoursePurges
from functions.purge.worker import PurgeWorker
from tests.fakes import FakeCourseDirectory, FakePurgeQueue, FakeStep

OWNER, ORG = uuid.uuid4(), uuid.uuid4()
ADMIN = Principal(user_id=None, is_admin=True)


@pytest.fixture
def world():
    queue = FakePurgeQueue()
    directory = FakeCourseDirectory(queue)
    steps = [FakeStep("qdrant", 5), FakeStep("redis", 3), FakeStep("files", 2), FakeStep("rag", 1)]
    purges = CoursePurges(directory, queue, lambda: PurgeWorker(queue, steps), lambda: None,  # type: ignore[arg-type]
                          load_settings(), sleep=lambda _s: None)
    return purges, directory, queue, steps


def test_a_purge_removes_the_course_from_every_store_and_answers_the_counts(world):
    purges, directory, queue, _ = world
    cid = directory.add(OWNER, ORG)
    answer = purges.purge(Principal(OWNER, False), cid)
    assert answer.status == "purged"
    assert {name: c.count for name, c in answer.removed.stores.items()} == {"qdrant": 5, "redis": 3, "files": 2, "rag": 1}
    assert purges.purge(ADMIN, cid).status == "already_purged"
    assert "release_stale" not in queue.calls and "depth" not in queue.calls  # the drain's, not this request's


def test_only_the_owner_an_org_admin_or_an_admin_may_purge(world):
    purges, directory, _, _ = world
    cid = directory.add(OWNER, ORG)
    stranger, org_admin = uuid.uuid4(), uuid.uuid4()
    directory.members[stranger] = Member(uuid.uuid4(), "admin")
    directory.members[org_admin] = Member(ORG, "admin")
    with pytest.raises(Forbidden):
        purges.purge(Principal(stranger, False), cid)
    assert purges.purge(Principal(org_admin, False), cid).status == "purged"
    with pytest.raises(NotFound):
        purges.purge(ADMIN, uuid.uuid4())


def test_a_failing_store_answers_pending_naming_it_and_the_retry_finishes(world):
    purges, directory, _, steps = world
    steps[2].failing = "S3 down"
    cid = directory.add(OWNER, ORG)
    answer = purges.purge(ADMIN, cid)
    assert answer.status == "pending" and [(f.step, f.error) for f in answer.failed_steps] == [("files", "S3 down")]
    steps[2].failing = None
    assert purges.retry([cid]).purged == 1
    assert purges.status(ADMIN, cid).status == "purged"
    assert steps[0].purged == [str(cid)]  # a step done once is not run again


def test_a_dry_run_counts_and_changes_nothing(world):
    purges, directory, queue, steps = world
    cid = directory.add(OWNER, ORG)
    answer = purges.purge(ADMIN, cid, dry_run=True)
    assert answer.status == "dry_run" and answer.removed.of("qdrant").count == 5 and answer.removed.database_rows == 1
    assert directory.course(cid) is not None and not queue.entries and not any(s.purged for s in steps)


def test_a_purge_held_by_another_worker_answers_what_that_run_did(world):
    purges, directory, queue, steps = world
    cid = directory.add(OWNER, ORG)
    directory.delete_course(cid, reason="api", requested_by=None)
    from dataclasses import replace

    queue.entries[cid] = replace(queue.entries[cid], status="running")  # claimed by a parallel DELETE
    seen = []

    def the_other_run_finishes(q):
        seen.append(q.status)
        return replace(q, status="purged") if len(seen) > 2 else q

    queue.on_get = the_other_run_finishes
    answer = purges.purge(ADMIN, cid)
    assert answer.status == "already_purged" and not any(s.purged for s in steps)
