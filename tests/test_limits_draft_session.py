"""Abuse limits: sessions per user (429 too_many_sessions) and creations per user per minute
(429 rate_limited with Retry-After). Both are settable, and both hold under real concurrency:
parallel creates from many connections, and from many processes (Lambda containers)."""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections import Counter

import pytest
import redis

from functions.adapters.redis_sessions import RedisSessionStore, index_key, session_key
from functions.draft_session.app import handler
from functions.drafts.model import CreatesRateLimited, TooManySessions
from tests.conftest import call
from tests.drafts_workload import create_burst


def create(user):
    return call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "t"}})


def assert_429(reply, code: str) -> int:
    assert reply.status == 429, reply
    assert reply.json["error"]["code"] == code, reply
    retry = int(reply.headers["retry-after"])
    assert retry >= 1
    return retry


def test_the_session_limit_is_settable_and_per_user(make_user, settings_env):
    settings_env(DRAFT_MAX_SESSIONS_PER_USER="3")
    user, other = make_user(), make_user()
    for _ in range(3):
        assert create(user).status == 201
    assert_429(create(user), "too_many_sessions")
    assert create(other).status == 201  # one user's limit is not another's


def test_the_creation_rate_is_settable_and_answers_retry_after(make_user, settings_env, rds):
    settings_env(DRAFT_MAX_CREATES_PER_MINUTE="4", DRAFT_MAX_SESSIONS_PER_USER="100")
    user = make_user()
    sids = [create(user).json["sessionId"] for _ in range(4)]
    retry = assert_429(create(user), "rate_limited")
    assert retry <= 61  # the rest of the current minute, never more
    # Deleting drafts does not give creations back: the rate counts creations, not open drafts.
    for sid in sids:
        assert call(handler, "DELETE", f"/drafts/{sid}", token=user.token).status == 204
    assert_429(create(user), "rate_limited")


def test_refused_creates_leave_nothing_behind(make_user, settings_env, rds):
    settings_env(DRAFT_MAX_SESSIONS_PER_USER="2")
    user = make_user()
    for _ in range(2):
        create(user)
    for _ in range(5):
        assert_429(create(user), "too_many_sessions")
    assert rds.zcard(index_key(str(user.id))) == 2
    assert len(list(rds.scan_iter(match=f"draft:session:{{{user.id}}}:*", count=1000))) == 2


def test_expired_sessions_free_their_place(make_user, settings_env, rds):
    settings_env(DRAFT_MAX_SESSIONS_PER_USER="2")
    user = make_user()
    first = create(user).json["sessionId"]
    create(user)
    assert_429(create(user), "too_many_sessions")
    # Let the first one expire as Redis would: its key gone, its index entry in the past.
    rds.delete(session_key(str(user.id), first))
    rds.zadd(index_key(str(user.id)), {first: int(time.time() * 1000) - 1})
    assert create(user).status == 201


def test_materialize_and_delete_free_their_place(make_user, settings_env):
    settings_env(DRAFT_MAX_SESSIONS_PER_USER="2")
    user = make_user()
    a, b = create(user).json["sessionId"], create(user).json["sessionId"]
    assert call(handler, "POST", f"/drafts/{a}/materialize", token=user.token, body={"reason": "submit"}).status == 201
    assert call(handler, "DELETE", f"/drafts/{b}", token=user.token).status == 204
    assert create(user).status == 201 and create(user).status == 201


# --- atomic under concurrency ---

def parallel_store_creates(url: str, user_id: str, n: int, **limits) -> Counter:
    """n threads, each on its own Redis connection, released together by a barrier."""
    barrier = threading.Barrier(n)
    outcomes: Counter = Counter()
    lock = threading.Lock()

    def one():
        client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=30)
        store = RedisSessionStore(client, timeout_s=30)
        try:
            barrier.wait(30)
            store.create(uuid.UUID(user_id), uuid.uuid4(), None, {"topic": "t"}, now_ms=int(time.time() * 1000),
                         ttl_ms=3_600_000, **limits)
            outcome = "created"
        except TooManySessions:
            outcome = "too_many_sessions"
        except CreatesRateLimited:
            outcome = "rate_limited"
        finally:
            client.close()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def test_100_parallel_creates_never_exceed_the_session_limit(redis_server, rds):
    user_id = str(uuid.uuid4())
    outcomes = parallel_store_creates(redis_server.url, user_id, 100, max_sessions=10, max_per_minute=1000)
    assert outcomes == Counter({"created": 10, "too_many_sessions": 90})
    assert rds.zcard(index_key(user_id)) == 10
    assert len(list(rds.scan_iter(match=f"draft:session:{{{user_id}}}:*", count=1000))) == 10


def test_100_parallel_creates_never_exceed_the_rate_limit(redis_server, rds):
    user_id = str(uuid.uuid4())
    outcomes = parallel_store_creates(redis_server.url, user_id, 100, max_sessions=1000, max_per_minute=7)
    # All 100 land in one minute unless the run straddles a minute boundary: then two windows.
    assert outcomes["created"] in (7, 14) and outcomes["created"] + outcomes["rate_limited"] == 100
    assert rds.zcard(index_key(user_id)) == outcomes["created"]


@pytest.mark.parametrize("limit_env, code", [
    ({"DRAFT_MAX_SESSIONS_PER_USER": "10", "DRAFT_MAX_CREATES_PER_MINUTE": "1000"}, "too_many_sessions"),
    ({"DRAFT_MAX_SESSIONS_PER_USER": "1000", "DRAFT_MAX_CREATES_PER_MINUTE": "10"}, "rate_limited"),
])
def test_parallel_creates_from_many_containers_never_exceed_a_limit(make_user, settings_env, rds, limit_env, code):
    """8 processes (8 warm Lambda containers, each with its own clients) x 13 creates, released together."""
    settings_env(**limit_env)
    user = make_user()
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=create_burst, args=(barrier, user.token, 13, results), daemon=True) for _ in range(8)]
    for p in procs:
        p.start()
    replies = [r for _ in procs for r in results.get(timeout=120)]
    for p in procs:
        p.join(30)
    statuses = Counter((status, err) for status, err, _ in replies)
    assert len(replies) == 104
    created = statuses[(201, None)]
    assert created in ((10,) if code == "too_many_sessions" else (10, 20)), statuses
    assert statuses[(429, code)] == 104 - created, statuses
    assert all(retry for status, _, retry in replies if status == 429)
    assert rds.zcard(index_key(str(user.id))) == created


# --- the database fallback (Redis down) keeps the session limit ---

@pytest.fixture
def redis_away(settings_env):
    from devtools.localstores import free_port

    settings_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", STORE_TIMEOUT_SECONDS="1",
                 DRAFT_MAX_SESSIONS_PER_USER="3")


def test_the_database_fallback_keeps_the_session_limit(redis_away, make_user, db):
    # With Redis down every create writes a courses row: without the limit, a loop of POSTs during
    # an outage fills the production table.
    user, other = make_user(), make_user()
    for _ in range(3):
        reply = create(user)
        assert reply.status == 201 and reply.json["storage"] == "database"
    assert_429(create(user), "too_many_sessions")
    assert create(other).status == 201
    assert db.execute("SELECT count(*) FROM courses WHERE user_id = %s", (user.id,)).fetchone()[0] == 3


def test_parallel_fallback_creates_never_exceed_the_session_limit(redis_away, make_user, db):
    user = make_user()
    from functions.draft_session.app import sessions

    service = sessions()
    barrier = threading.Barrier(20)
    outcomes: Counter = Counter()

    def one():
        barrier.wait(30)
        try:
            service.fallback.create(user.id, uuid.uuid4(), None, {"topic": "t"}, now_ms=int(time.time() * 1000),
                                    ttl_ms=3_600_000, max_sessions=3, max_per_minute=60)
            outcomes["created"] += 1
        except TooManySessions:
            outcomes["too_many_sessions"] += 1

    threads = [threading.Thread(target=one, daemon=True) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert outcomes == Counter({"created": 3, "too_many_sessions": 17})
    assert db.execute("SELECT count(*) FROM courses WHERE user_id = %s", (user.id,)).fetchone()[0] == 3
