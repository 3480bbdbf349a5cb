"""The draft life cycle of functions/drafts/service.py over in-memory stores (tests/fakes.py): the
state machine, the reopen rules, the fallback, the refusals. Milliseconds, no server."""

from __future__ import annotations

import uuid

import pytest

from functions.drafts.model import Changes, State, Storage
from functions.drafts.service import DraftSessions
from functions.platform.errors import AlreadyMaterialized, Forbidden, NotFound, StoreUnavailable, VersionConflict
from functions.platform.idempotency import Idempotency
from functions.platform.settings import load_settings
from tests.fakes import FakeCourses, FakeSessionStore

USER, ORG = uuid.uuid4(), uuid.uuid4()


@pytest.fixture
def world():
    redis, database = FakeSessionStore(), FakeSessionStore(Storage.DATABASE)
    courses = FakeCourses({USER: ORG})
    service = DraftSessions(redis, database, courses, load_settings(), clock=lambda: 1_800_000_000.0)
    return service, redis, database, courses


def opened(service, form=None):
    return service.create(USER, form or {"topic": "t"}).value.session_id


def test_a_session_is_open_until_materialized_then_closed_to_saves_and_discards(world):
    service, redis, _, courses = world
    sid = opened(service)
    assert service.patch(USER, sid, Changes({"language": "ru"}), None).value.version == 2
    first = service.materialize(USER, sid, "submit", Changes({"estimatedLessons": 3})).value
    assert first.created and courses.rows[sid].form == {"topic": "t", "language": "ru", "estimatedLessons": 3}
    assert redis.sessions[sid]["state"] is State.MATERIALIZED
    with pytest.raises(AlreadyMaterialized) as refused:
        service.patch(USER, sid, Changes({"topic": "late"}), None)
    assert refused.value.details[0]["courseId"] == str(first.course_id)
    with pytest.raises(AlreadyMaterialized):
        service.delete(USER, sid)
    again = service.materialize(USER, sid, "submit", Changes()).value
    assert (again.course_id, again.created) == (first.course_id, False)
    with pytest.raises(AlreadyMaterialized):
        service.materialize(USER, sid, "submit", Changes({"estimatedLessons": 4}))
    assert len(courses.rows) == 1


def test_an_insert_that_never_reached_postgres_reopens_the_session(world):
    service, redis, _, courses = world
    sid = opened(service)
    courses.faults.next("create", StoreUnavailable("postgres", applied=False, reason="connect_failed"))
    with pytest.raises(StoreUnavailable):
        service.materialize(USER, sid, "submit", Changes())
    assert redis.sessions[sid]["state"] is State.OPEN
    assert service.patch(USER, sid, Changes({"description": "still editable"}), None).value.version == 2


def test_an_insert_whose_commit_is_unknown_leaves_it_materializing_and_the_next_call_resumes_once(world):
    service, redis, _, courses = world
    sid = opened(service)
    courses.faults.next("create", StoreUnavailable("postgres", applied=None, reason="connection_lost"))
    with pytest.raises(StoreUnavailable):
        service.materialize(USER, sid, "submit", Changes())
    assert redis.sessions[sid]["state"] is State.MATERIALIZING
    with pytest.raises(AlreadyMaterialized):  # no save acknowledged for a course that may exist
        service.patch(USER, sid, Changes({"topic": "x"}), None)
    done = service.materialize(USER, sid, "submit", Changes()).value
    assert done.created and len(courses.rows) == 1 and redis.sessions[sid]["state"] is State.MATERIALIZED


def test_a_session_resumed_in_doubt_is_not_reopened_without_postgres_saying_so(world):
    service, redis, _, courses = world
    sid = opened(service)
    courses.faults.next("create", StoreUnavailable("postgres", applied=None))
    with pytest.raises(StoreUnavailable):
        service.materialize(USER, sid, "submit", Changes())
    courses.faults.next("create", StoreUnavailable("postgres", applied=False))  # the resume never reached it
    with pytest.raises(StoreUnavailable):
        service.materialize(USER, sid, "submit", Changes())
    assert redis.sessions[sid]["state"] is State.MATERIALIZING  # the first insert may have landed


def test_no_organization_reopens_and_is_a_403(world):
    service, redis, _, courses = world
    sid = opened(service)
    courses.organizations[USER] = None
    with pytest.raises(Forbidden):
        service.materialize(USER, sid, "submit", Changes())
    assert redis.sessions[sid]["state"] is State.OPEN


def test_redis_down_creates_in_the_database_under_a_fresh_id_and_misconfiguration_does_not(world):
    service, redis, database, _ = world
    redis.faults.next("create", StoreUnavailable("redis", applied=None, reason="timeout"))
    made = service.create(USER, {"topic": "offline"}).value
    assert made.storage is Storage.DATABASE and made.session_id in database.sessions
    assert made.session_id not in redis.sessions
    redis.faults.next("create", StoreUnavailable("redis", applied=False, reason="authentication_failed",
                                                 misconfigured=True))
    with pytest.raises(StoreUnavailable):
        service.create(USER, {})
    assert len(database.sessions) == 1


def test_a_session_missing_in_redis_is_looked_for_in_the_database(world):
    service, _, database, _ = world
    database.create(USER, uuid.uuid4(), ORG, {}, now_ms=0, ttl_ms=1, max_sessions=5, max_per_minute=5)
    sid = next(iter(database.sessions))
    assert service.get(USER, sid).storage is Storage.DATABASE
    with pytest.raises(NotFound):
        service.get(USER, uuid.uuid4())


def test_version_conflict_and_the_idempotent_replay(world):
    service, _, _, _ = world
    sid = opened(service)
    key = Idempotency("k1", "fp1")
    first = service.patch(USER, sid, Changes({"topic": "a"}), 1, key)
    again = service.patch(USER, sid, Changes({"topic": "a"}), 1, key)
    assert not first.replayed and again.replayed and again.value == first.value
    with pytest.raises(VersionConflict):
        service.patch(USER, sid, Changes({"topic": "b"}), 1)
