"""draft_session under store faults: hung stores, stores that go silent mid-life, and real restarts.

Each test names the documented status, checks that nothing acknowledged was lost, and checks that
the same process recovers once the store is back (no client reset, no restart).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
import redis

from devtools.localstores import LocalRedis
from functions.adapters.redis_sessions import session_key
from functions.draft_session.app import handler
from tests.conftest import call
from tests.drafts_workload import Crowd, SimUser, handler_send, totals, verify, wait_until
from tests.hung_store import HungStore, bounded


def assert_unavailable(reply) -> None:
    assert reply.status == 503, reply
    assert reply.json["error"]["code"] == "unavailable", reply
    assert int(reply.headers["retry-after"]) >= 1


def open_session(user, form=None) -> str:
    reply = call(handler, "POST", "/drafts", token=user.token, body={"formData": form or {}})
    assert reply.status == 201, reply
    return reply.json["sessionId"]


def rows_of(db, sid: str) -> int:
    return db.execute("SELECT count(*) FROM courses WHERE draft_session_id = %s", (sid,)).fetchone()[0]


# --- a store that accepts and never answers ---

@pytest.fixture
def hung():
    with HungStore() as store:
        yield store


def test_hung_redis_is_503_without_fallback(make_user, hung, settings_env, db):
    user = make_user()
    settings_env(REDIS_URL=hung.url("redis", "/0"), DRAFT_DB_FALLBACK="false", STORE_TIMEOUT_SECONDS="1")
    sid = str(uuid.uuid4())
    for method, path, body in [("POST", "/drafts", {}), ("GET", "/drafts", None), ("GET", f"/drafts/{sid}", None),
                               ("PATCH", f"/drafts/{sid}", {"formData": {"topic": "x"}}),
                               ("DELETE", f"/drafts/{sid}", None),
                               ("POST", f"/drafts/{sid}/materialize", {"reason": "submit"})]:
        reply = bounded(lambda: call(handler, method, path, token=user.token, body=body))
        assert_unavailable(reply)
    # One connection (one timeout) per call: redis-py retries at the connect and the command level,
    # and retrying timeouts there made a hung Redis cost four timeouts before the 503.
    assert hung.accepted == 6
    assert db.execute("SELECT count(*) FROM courses").fetchone()[0] == 0


def test_hung_redis_with_fallback_creates_the_draft_in_the_database(make_user, hung, settings_env, db):
    user = make_user()
    settings_env(REDIS_URL=hung.url("redis", "/0"), STORE_TIMEOUT_SECONDS="1")
    reply = bounded(lambda: call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "t"}}))
    assert reply.status == 201, reply
    assert reply.json["storage"] == "database"
    assert rows_of(db, reply.json["sessionId"]) == 1
    saved = bounded(lambda: call(handler, "PATCH", f"/drafts/{reply.json['sessionId']}", token=user.token,
                                 body={"formData": {"language": "ru"}}))
    assert saved.status == 200 and saved.json["formData"] == {"topic": "t", "language": "ru"}


def test_hung_postgres_keeps_autosave_working_and_materialize_is_503(make_user, hung, settings_env, db, rds):
    user = make_user()
    settings_env(DATABASE_URL=hung.url("postgresql", "/app"), STORE_TIMEOUT_SECONDS="1")
    # Sessions do not depend on Postgres: opening and saving work while it hangs.
    created = bounded(lambda: call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "a"}}))
    assert created.status == 201 and created.json["storage"] == "redis", created
    sid = created.json["sessionId"]
    saved = bounded(lambda: call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                                 body={"formData": {"language": "ru"}}))
    assert saved.status == 200, saved
    reply = bounded(lambda: call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                                 body={"reason": "submit"}))
    assert_unavailable(reply)
    assert hung.accepted >= 1
    assert rds.exists(session_key(str(user.id), sid)), "the session must outlive a failed materialize"
    assert rows_of(db, sid) == 0


# --- a store that goes silent on the connections already open, then comes back ---

@pytest.fixture
def redis_proxy(redis_server, settings_env):
    with HungStore(target=redis_server.port) as proxy:
        settings_env(REDIS_URL=proxy.url("redis", "/0"), STORE_TIMEOUT_SECONDS="1")
        yield proxy


@pytest.fixture
def pg_proxy(pg_server, settings_env):
    with HungStore(target=pg_server.port) as proxy:
        settings_env(DATABASE_URL=proxy.url("postgresql", "/app?user=postgres"), STORE_TIMEOUT_SECONDS="1")
        yield proxy


def test_redis_going_silent_mid_life_is_503_then_recovers_in_process(make_user, redis_proxy, rds):
    user = make_user()
    sid = open_session(user, {"topic": "before"})
    redis_proxy.hang()
    reply = bounded(lambda: call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                                 body={"formData": {"topic": "during"}}))
    assert_unavailable(reply)
    redis_proxy.heal()
    # Same process, same client objects: the next call reconnects by itself.
    saved = bounded(lambda: call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                                 body={"formData": {"language": "ru"}}))
    assert saved.status == 200, saved
    assert saved.json["formData"]["language"] == "ru"
    assert saved.json["formData"]["topic"] in ("before", "during")  # the 503'd save may or may not have landed


def test_postgres_going_silent_mid_life_is_503_then_recovers_in_process(make_user, pg_proxy, db, rds):
    user = make_user()
    first = open_session(user, {"topic": "one"})
    done = call(handler, "POST", f"/drafts/{first}/materialize", token=user.token, body={"reason": "submit"})
    assert done.status == 201, done  # the pool now holds a connection through the proxy
    second = open_session(user, {"topic": "two"})
    pg_proxy.hang()
    reply = bounded(lambda: call(handler, "POST", f"/drafts/{second}/materialize", token=user.token,
                                 body={"reason": "submit"}))
    assert_unavailable(reply)
    assert rds.exists(session_key(str(user.id), second))
    pg_proxy.heal()
    again = bounded(lambda: call(handler, "POST", f"/drafts/{second}/materialize", token=user.token,
                                 body={"reason": "submit"}))
    assert again.status in (200, 201), again
    assert rows_of(db, first) == 1 and rows_of(db, second) == 1


# --- real servers stopped and restarted while users save and materialize ---

@pytest.fixture
def durable_redis(settings_env):
    """A Redis of this test that keeps what it acknowledged (AOF, fsync on every write), as a
    production Redis is configured to; the suite's own Redis keeps nothing across a restart."""
    state = Path(tempfile.mkdtemp(prefix="durable-redis-"))
    server = LocalRedis(state, durable=True).start()
    _fsync_always(server)
    settings_env(REDIS_URL=server.url, STORE_TIMEOUT_SECONDS="1")
    yield server
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


def _fsync_always(server: LocalRedis) -> None:
    with redis.Redis.from_url(server.url) as admin:
        admin.config_set("appendfsync", "always")


def crash(server: LocalRedis) -> None:
    """SIGKILL: no shutdown, no last flush."""
    server.proc.kill()
    server.proc.wait()
    server.proc = None


def people(make_user, n: int) -> list[SimUser]:
    return [SimUser(str(p.id), p.token, saves_per_draft=4) for p in (make_user() for _ in range(n))]


def recovered(crowd: Crowd, kind: str, more: int):
    """True once every user has `more` acknowledged `kind` replies beyond the current count."""
    floor = {id(u): u.statuses[kind] for u in crowd.users}
    return lambda: all(u.statuses[kind] >= floor[id(u)] + more for u in crowd.users)


def test_redis_crash_mid_run_loses_no_acknowledged_save(make_user, durable_redis, pg_server):
    users = people(make_user, 6)
    send = handler_send(handler)
    crowd = Crowd(users, send, pause=0.01, deadline_s=90).start()
    try:
        wait_until(lambda: all(u.acked_saves >= 3 for u in users), what="saves before the crash", crowd=crowd)
        crash(durable_redis)
        # Replies during the outage: 503s for the sessions open in Redis, or, when every user had just
        # submitted, new drafts in the database fallback, which users do not see fail at all.
        answered = sum(totals(users).values())
        wait_until(lambda: sum(totals(users).values()) >= answered + 12, what="the outage seen", crowd=crowd)
        durable_redis.start()
        _fsync_always(durable_redis)
        # The same process, the same clients: saves and materializations go through again.
        wait_until(recovered(crowd, "save 200", 4), what="saves after the restart", crowd=crowd)
        wait_until(lambda: crowd.count("materialize 201") >= len(users), what="materializations", crowd=crowd)
    finally:
        crowd.stop()
    with psycopg.connect(pg_server.url, autocommit=True) as db:
        result = verify(users, send, db)
    assert result["materialized"] >= len(users)


def test_postgres_restart_mid_run_keeps_autosave_up_and_loses_nothing(make_user, pg_server, db):
    users = people(make_user, 6)
    send = handler_send(handler)
    crowd = Crowd(users, send, pause=0.01, deadline_s=90).start()
    try:
        wait_until(lambda: all(u.statuses["materialize 201"] >= 1 for u in users), what="materializations", crowd=crowd)
        db.close()
        pg_server.stop("fast")  # every connection dropped mid-flight; committed rows kept
        down = crowd.count("save 200")
        wait_until(lambda: crowd.count("materialize 503") >= len(users), what="the outage seen", crowd=crowd)
        # Autosave needs no Postgres: users keep saving while it is down (each 503'd submit is followed
        # by a save, answered after the 503 was counted).
        wait_until(lambda: crowd.count("save 200") >= down + len(users), what="saves during the outage", crowd=crowd)
        pg_server.start()
        wait_until(recovered(crowd, "materialize 201", 1), what="materializations after the restart", crowd=crowd)
    finally:
        crowd.stop()
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        result = verify(users, send, conn)
    assert result["materialized"] >= 2 * len(users)
