"""Draft writes whose store hangs and comes back, loses a reply, or is full (API.md: "no
acknowledged write is ever lost"; a 503 never claims "nothing changed" when the write may land).

- Redis paused with SIGSTOP past the store timeout, then resumed: the write the function gave up
  on reaches Redis late and is refused there by its deadline (server TIME), so nothing surfaces
  later; a retry with the same Idempotency-Key gets the first answer.
- A reply lost on the way (the write was applied): a retry with the key gets the same 200.
- Redis at maxmemory with noeviction: every write is a 503 (or the database fallback), never a 500;
  everything works again once memory is freed.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from devtools.localstores import LocalRedis
from functions.adapters import redis_sessions as draft_sessions
from functions.adapters.redis_sessions import index_key, session_key
from functions.draft_session.app import handler
from tests.conftest import call
from tests.hung_store import HungStore, bounded


def keyed(user, method, path, key=None, body=None):
    headers = {"Idempotency-Key": key} if key else None
    return call(handler, method, path, token=user.token, body=body, headers=headers)


def evalsha_calls(rds) -> tuple[int, int]:
    stats = rds.info("commandstats").get("cmdstat_evalsha", {})
    return int(stats.get("calls", 0)), int(stats.get("failed_calls", 0))


@contextmanager
def paused(server: LocalRedis, rds):
    """Redis frozen (SIGSTOP) for the block, then resumed; on leaving, waits until Redis has run the
    scripts that were sent to it meanwhile (they sit in its sockets while it is stopped)."""
    for source in (draft_sessions._CREATE, draft_sessions._PATCH, draft_sessions._DELETE, draft_sessions._BEGIN):
        rds.script_load(source)  # so that a late EVALSHA really runs its script (no NOSCRIPT)
    before, failed = evalsha_calls(rds)
    os.kill(server.proc.pid, signal.SIGSTOP)
    resumed = False
    try:
        yield
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        resumed = True
    assert resumed
    deadline = time.monotonic() + 10
    while evalsha_calls(rds)[0] <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    calls, failures = evalsha_calls(rds)
    assert calls > before and failures == failed, "the late script never ran in Redis: this test proves nothing"


def assert_unknown_outcome(reply) -> None:
    assert reply.status == 503 and reply.json["error"]["code"] == "unavailable", reply
    assert "not known whether the change was applied" in reply.json["error"]["message"], reply
    assert int(reply.headers["retry-after"]) >= 1


@pytest.fixture
def quick(settings_env):
    settings_env(STORE_TIMEOUT_SECONDS="1")


def redis_sessions(rds, user) -> list[str]:
    return list(rds.scan_iter(match=f"draft:session:{{{user.id}}}:*", count=1000))


# --- SIGSTOP past the timeout, then SIGCONT ---

def test_a_create_that_timed_out_never_surfaces_later_and_its_retry_is_the_first_answer(
        quick, make_user, redis_server, rds, db):
    user = make_user()
    assert call(handler, "GET", "/drafts", token=user.token).status == 200  # a warm container: connected
    with paused(redis_server, rds):
        first = bounded(lambda: keyed(user, "POST", "/drafts", "open-1", {"formData": {"topic": "t"}}))
        assert first.status == 201 and first.json["storage"] == "database", first  # the fallback
    assert redis_sessions(rds, user) == [], "the create the function gave up on landed late"
    listed = call(handler, "GET", "/drafts", token=user.token).json["sessions"]
    assert [s["sessionId"] for s in listed] == [first.json["sessionId"]]
    again = keyed(user, "POST", "/drafts", "open-1", {"formData": {"topic": "t"}})
    assert again.status == 201 and again.json == first.json and again.headers["idempotent-replayed"] == "true"
    assert db.execute("SELECT count(*) FROM courses WHERE user_id = %s", (user.id,)).fetchone()[0] == 1


def test_without_the_fallback_a_timed_out_create_is_an_unknown_outcome_and_its_retry_makes_one(
        quick, settings_env, make_user, redis_server, rds):
    settings_env(STORE_TIMEOUT_SECONDS="1", DRAFT_DB_FALLBACK="false")
    user = make_user()
    assert call(handler, "GET", "/drafts", token=user.token).status == 200  # a warm container: connected
    with paused(redis_server, rds):
        assert_unknown_outcome(bounded(lambda: keyed(user, "POST", "/drafts", "open-2", {})))
    assert redis_sessions(rds, user) == []
    retried = keyed(user, "POST", "/drafts", "open-2", {})
    assert retried.status == 201 and "idempotent-replayed" not in retried.headers
    assert keyed(user, "POST", "/drafts", "open-2", {}).json == retried.json
    assert len(redis_sessions(rds, user)) == 1


def test_a_save_that_timed_out_does_not_land_later_and_its_retry_applies_once(quick, make_user, redis_server, rds):
    user = make_user()
    sid = keyed(user, "POST", "/drafts", None, {"formData": {"topic": "before"}}).json["sessionId"]
    body = {"formData": {"topic": "after"}, "version": 1}
    with paused(redis_server, rds):
        assert_unknown_outcome(bounded(lambda: keyed(user, "PATCH", f"/drafts/{sid}", "save-1", body)))
    assert rds.hget(session_key(str(user.id), sid), "_version") == "1", "the save landed after its 503"
    retried = keyed(user, "PATCH", f"/drafts/{sid}", "save-1", body)
    assert retried.status == 200 and retried.json["version"] == 2 and retried.json["formData"]["topic"] == "after"
    assert keyed(user, "PATCH", f"/drafts/{sid}", "save-1", body).json == retried.json


def test_a_discard_that_timed_out_does_not_land_later_and_its_retry_is_a_204(quick, make_user, redis_server, rds):
    user = make_user()
    sid = keyed(user, "POST", "/drafts", None, {}).json["sessionId"]
    with paused(redis_server, rds):
        assert_unknown_outcome(bounded(lambda: keyed(user, "DELETE", f"/drafts/{sid}", "drop-1")))
    assert rds.exists(session_key(str(user.id), sid)), "the discard landed after its 503"
    assert keyed(user, "DELETE", f"/drafts/{sid}", "drop-1").status == 204
    replay = keyed(user, "DELETE", f"/drafts/{sid}", "drop-1")
    assert replay.status == 204 and replay.headers["idempotent-replayed"] == "true"
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).status == 404


def test_a_materialize_that_timed_out_does_not_close_the_session_later_and_its_retry_creates_once(
        quick, make_user, redis_server, rds, db):
    user = make_user()
    sid = keyed(user, "POST", "/drafts", None, {"formData": {"topic": "t"}}).json["sessionId"]
    submit = {"reason": "submit", "formData": {"estimatedLessons": 3}}
    with paused(redis_server, rds):
        assert_unknown_outcome(bounded(lambda: keyed(user, "POST", f"/drafts/{sid}/materialize", "go-1", submit)))
    assert rds.hget(session_key(str(user.id), sid), "_state") == "open", "the materialize landed after its 503"
    assert call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                body={"formData": {"description": "still editable"}}).status == 200
    done = keyed(user, "POST", f"/drafts/{sid}/materialize", "go-1", submit)
    assert done.status == 201 and keyed(user, "POST", f"/drafts/{sid}/materialize", "go-1", submit).json == done.json
    forms = db.execute("SELECT settings->'draftForm' FROM courses WHERE draft_session_id = %s", (sid,)).fetchall()
    assert forms == [({"topic": "t", "description": "still editable", "estimatedLessons": 3},)]


# --- the write is applied, its reply lost ---

@pytest.fixture
def lossy_redis(redis_server, settings_env):
    with HungStore(target=redis_server.port) as proxy:
        settings_env(REDIS_URL=proxy.url("redis", "/0"), STORE_TIMEOUT_SECONDS="1")
        yield proxy


def test_a_versioned_save_whose_reply_was_lost_is_retried_with_its_key_to_the_same_200(lossy_redis, make_user, rds):
    user = make_user()
    sid = keyed(user, "POST", "/drafts", None, {"formData": {"topic": "v1"}}).json["sessionId"]
    body = {"formData": {"topic": "v2"}, "version": 1}
    lossy_redis.drop_replies()
    assert_unknown_outcome(bounded(lambda: keyed(user, "PATCH", f"/drafts/{sid}", "lost-1", body)))
    lossy_redis.heal()
    assert rds.hget(session_key(str(user.id), sid), "_version") == "2"  # it was applied
    retried = keyed(user, "PATCH", f"/drafts/{sid}", "lost-1", body)
    assert retried.status == 200 and retried.headers["idempotent-replayed"] == "true"
    assert (retried.json["version"], retried.json["formData"]) == (2, {"topic": "v2"})
    # The same retry without its key cannot know: against version 1 it is a conflict.
    plain = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body=body)
    assert plain.status == 409 and plain.json["error"]["code"] == "version_conflict"


# --- Redis full ---

@pytest.fixture
def full_redis(settings_env):
    """A Redis of this test at maxmemory with noeviction, filled until it refuses writes."""
    state = Path(tempfile.mkdtemp(prefix="full-redis-"))
    server = LocalRedis(state).start()
    admin = redis.Redis.from_url(server.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", str(admin.info("memory")["used_memory"] + 2 * 1024 * 1024))
    settings_env(REDIS_URL=server.url, STORE_TIMEOUT_SECONDS="1")

    def fill() -> None:
        # Redis counts a command's own size against the limit: fill with ever smaller values until
        # even a tiny write is refused.
        i = 0
        for size in (65536, 4096, 256, 16, 1):
            while True:
                try:
                    admin.set(f"junk:{i}", "x" * size)
                except redis.exceptions.OutOfMemoryError:
                    break
                i += 1

    def free() -> None:
        for key in admin.scan_iter(match="junk:*", count=1000):
            admin.unlink(key)

    yield fill, free
    admin.close()
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


@pytest.mark.parametrize("fallback", ["true", "false"])
def test_a_full_redis_answers_every_write_with_a_503_or_the_fallback_then_recovers(
        full_redis, settings_env, make_user, db, fallback):
    fill, free = full_redis
    settings_env(DRAFT_DB_FALLBACK=fallback)
    user = make_user()
    sid = keyed(user, "POST", "/drafts", None, {"formData": {"topic": "kept"}}).json["sessionId"]
    spare = keyed(user, "POST", "/drafts", None, {}).json["sessionId"]
    fill()
    create = keyed(user, "POST", "/drafts", None, {"formData": {"topic": "new"}})
    if fallback == "true":
        assert create.status == 201 and create.json["storage"] == "database", create
    else:
        assert create.status == 503 and "nothing was changed" in create.json["error"]["message"], create
    for method, path, body in (("PATCH", f"/drafts/{sid}", {"formData": {"topic": "refused"}}),
                               ("POST", f"/drafts/{sid}/materialize", {"reason": "submit"}),
                               ("POST", f"/drafts/{sid}/materialize", {"reason": "submit", "formData": {"estimatedLessons": 2}})):
        reply = keyed(user, method, path, None, body)
        assert reply.status == 503 and "nothing was changed" in reply.json["error"]["message"], (method, reply)
    got = call(handler, "GET", f"/drafts/{sid}", token=user.token).json
    assert (got["formData"], got["state"], got["version"]) == ({"topic": "kept"}, "open", 1)
    # A discard needs no memory (Redis lets deletes through when full): it works, and frees some.
    assert keyed(user, "DELETE", f"/drafts/{spare}").status == 204
    free()
    assert keyed(user, "PATCH", f"/drafts/{sid}", None, {"formData": {"language": "ru"}}).status == 200
    done = keyed(user, "POST", f"/drafts/{sid}/materialize", None, {"reason": "submit"})
    assert done.status == 201, done


# --- the per-user index heals itself ---

def test_sessions_that_vanished_neither_count_nor_list(settings_env, make_user, rds):
    settings_env(DRAFT_MAX_SESSIONS_PER_USER="3")
    user = make_user()
    sids = [keyed(user, "POST", "/drafts", None, {}).json["sessionId"] for _ in range(3)]
    assert keyed(user, "POST", "/drafts", None, {}).status == 429
    rds.delete(session_key(str(user.id), sids[0]), session_key(str(user.id), sids[1]))  # evicted, say
    listed = [s["sessionId"] for s in call(handler, "GET", "/drafts", token=user.token).json["sessions"]]
    assert listed == [sids[2]]
    assert keyed(user, "POST", "/drafts", None, {}).status == 201
    assert rds.zcard(index_key(str(user.id))) == 2


def test_materializing_a_database_session_with_redis_hung_asks_redis_once(make_user, redis_server, settings_env, db):
    user = make_user()
    redis_server.stop()
    try:
        sid = keyed(user, "POST", "/drafts", None, {"formData": {"topic": "offline"}}).json["sessionId"]
    finally:
        redis_server.start()
    with HungStore() as hung:
        settings_env(REDIS_URL=hung.url("redis", "/0"), STORE_TIMEOUT_SECONDS="1")
        done = bounded(lambda: keyed(user, "POST", f"/drafts/{sid}/materialize", None, {"reason": "submit"}))
        assert done.status == 201 and done.json["courseId"] == sid, done
        assert hung.accepted == 1, f"Redis was tried {hung.accepted} times for one materialize"
