"""Idempotency-Key on every draft write (API.md): a repeat gets the first answer and applies nothing
twice; the same key with another request is a 422; keys are the caller's own."""

from __future__ import annotations

import pytest

from functions.draft_session.app import handler
from tests.conftest import call


def keyed(user, method: str, path: str, key: str, body=None, token=None):
    return call(handler, method, path, token=token or user.token, body=body, headers={"Idempotency-Key": key})


def assert_error(reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.json["error"]["code"] == code, reply


def sessions_of(user) -> list[str]:
    return [s["sessionId"] for s in call(handler, "GET", "/drafts", token=user.token).json["sessions"]]


def test_a_repeated_create_with_one_key_makes_one_session(make_user):
    user = make_user()
    first = keyed(user, "POST", "/drafts", "create-1", {"formData": {"topic": "t"}})
    again = keyed(user, "POST", "/drafts", "create-1", {"formData": {"topic": "t"}})
    assert first.status == again.status == 201
    assert again.json == first.json and again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers
    assert sessions_of(user) == [first.json["sessionId"]]
    other = keyed(user, "POST", "/drafts", "create-2", {"formData": {"topic": "t"}})
    assert other.status == 201 and other.json["sessionId"] != first.json["sessionId"]


def test_a_patch_repeated_with_its_key_gets_the_first_answer_and_applies_once(make_user):
    user = make_user()
    sid = keyed(user, "POST", "/drafts", "c", {}).json["sessionId"]
    body = {"formData": {"topic": "once"}, "version": 1}
    first = keyed(user, "PATCH", f"/drafts/{sid}", "save-1", body)
    again = keyed(user, "PATCH", f"/drafts/{sid}", "save-1", body)
    assert first.status == again.status == 200 and first.json["version"] == 2
    assert again.json == first.json and again.headers["idempotent-replayed"] == "true"
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).json["version"] == 2
    # Without the key the same request is a new save: against version 1 it now conflicts.
    assert_error(call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body=body), 409, "version_conflict")


def test_the_same_key_with_another_request_is_a_422_and_changes_nothing(make_user):
    user = make_user()
    sid = keyed(user, "POST", "/drafts", "c", {}).json["sessionId"]
    assert keyed(user, "PATCH", f"/drafts/{sid}", "k", {"formData": {"topic": "a"}}).status == 200
    for method, path, body in (("PATCH", f"/drafts/{sid}", {"formData": {"topic": "b"}}),
                               ("DELETE", f"/drafts/{sid}", None),
                               ("POST", f"/drafts/{sid}/materialize", {"reason": "submit"})):
        reply = keyed(user, method, path, "k", body)
        assert_error(reply, 422, "validation_error")
        assert reply.json["error"]["details"][0]["field"] == "Idempotency-Key"
    got = call(handler, "GET", f"/drafts/{sid}", token=user.token).json
    assert (got["formData"], got["version"], got["state"]) == ({"topic": "a"}, 2, "open")


def test_a_discard_and_a_materialize_repeated_with_their_keys_answer_as_the_first_time(make_user, db):
    user = make_user()
    gone = keyed(user, "POST", "/drafts", "c1", {}).json["sessionId"]
    assert keyed(user, "DELETE", f"/drafts/{gone}", "d", None).status == 204
    again = keyed(user, "DELETE", f"/drafts/{gone}", "d", None)
    assert again.status == 204 and again.headers["idempotent-replayed"] == "true"
    assert_error(call(handler, "DELETE", f"/drafts/{gone}", token=user.token), 404, "not_found")

    sid = keyed(user, "POST", "/drafts", "c2", {}).json["sessionId"]
    first = keyed(user, "POST", f"/drafts/{sid}/materialize", "m", {"reason": "submit"})
    repeat = keyed(user, "POST", f"/drafts/{sid}/materialize", "m", {"reason": "submit"})
    plain = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
    assert first.status == 201 and repeat.status == 201 and repeat.json == first.json
    assert plain.status == 200 and plain.json["created"] is False
    assert db.execute("SELECT count(*) FROM courses WHERE draft_session_id = %s", (sid,)).fetchone()[0] == 1


def test_a_refusal_is_the_first_answer_too(make_user):
    user = make_user()
    sid = keyed(user, "POST", "/drafts", "c", {}).json["sessionId"]
    assert keyed(user, "POST", f"/drafts/{sid}/materialize", "m", {"reason": "submit"}).status == 201
    late = keyed(user, "PATCH", f"/drafts/{sid}", "late", {"formData": {"topic": "x"}})
    again = keyed(user, "PATCH", f"/drafts/{sid}", "late", {"formData": {"topic": "x"}})
    assert_error(late, 409, "already_materialized")
    assert again.json == late.json and again.headers["idempotent-replayed"] == "true"


def test_keys_are_scoped_to_the_caller(make_user):
    alice, bob = make_user(), make_user()
    a = keyed(alice, "POST", "/drafts", "shared-key", {"formData": {"topic": "alice"}})
    b = keyed(bob, "POST", "/drafts", "shared-key", {"formData": {"topic": "bob"}})
    assert a.status == b.status == 201 and a.json["sessionId"] != b.json["sessionId"]
    assert "idempotent-replayed" not in b.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve", "tab\tkey"])
def test_a_malformed_key_is_a_400_naming_the_header_and_nothing_is_created(make_user, key):
    user = make_user()
    reply = keyed(user, "POST", "/drafts", key, {})
    assert_error(reply, 400, "bad_request")
    assert reply.json["error"]["details"][0]["field"] == "Idempotency-Key"
    assert sessions_of(user) == []


def test_the_database_store_keeps_keys_too(make_user, redis_server, db):
    user = make_user()
    redis_server.stop()
    try:
        first = keyed(user, "POST", "/drafts", "offline", {"formData": {"topic": "t"}})
        again = keyed(user, "POST", "/drafts", "offline", {"formData": {"topic": "t"}})
        assert first.status == again.status == 201 and first.json["storage"] == "database"
        assert again.json == first.json and again.headers["idempotent-replayed"] == "true"
        sid = first.json["sessionId"]
        save = {"formData": {"language": "ru"}, "version": 1}
        assert keyed(user, "PATCH", f"/drafts/{sid}", "s", save).json["version"] == 2
        assert keyed(user, "PATCH", f"/drafts/{sid}", "s", save).json["version"] == 2
        done = keyed(user, "POST", f"/drafts/{sid}/materialize", "m", {"reason": "submit"})
        assert done.status == 201
        assert keyed(user, "POST", f"/drafts/{sid}/materialize", "m", {"reason": "submit"}).json == done.json
    finally:
        redis_server.start()
    # Redis is back: the create retried with its key answers the database session, not a new one.
    retried = keyed(user, "POST", "/drafts", "offline", {"formData": {"topic": "t"}})
    assert retried.status == 201 and retried.json["sessionId"] == first.json["sessionId"]
    assert db.execute("SELECT count(*) FROM courses WHERE user_id = %s", (user.id,)).fetchone()[0] == 1


def test_answers_older_than_24_hours_are_not_replayed_and_the_hourly_cleanup_forgets_them(make_user, redis_server, db):
    from functions.cleanup_drafts.app import handler as cleanup
    from tests.conftest import ADMIN_TOKEN

    user = make_user()
    redis_server.stop()
    try:
        old = keyed(user, "POST", "/drafts", "yesterday", {}).json["sessionId"]
        keyed(user, "POST", "/drafts", "today", {})
    finally:
        redis_server.start()
    db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE scope = %s AND "
               "created_at = (SELECT min(created_at) FROM idempotency_keys WHERE scope = %s)", (str(user.id), str(user.id)))
    again = keyed(user, "POST", "/drafts", "yesterday", {})
    assert again.status == 201 and again.json["sessionId"] != old and "idempotent-replayed" not in again.headers
    db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE scope = %s AND answer IS NOT NULL "
               "AND created_at < now() - interval '1 hour'", (str(user.id),))
    assert call(cleanup, "POST", "/cleanup", token=ADMIN_TOKEN, body={}).status == 200
    left = db.execute("SELECT count(*) FROM idempotency_keys WHERE scope = %s", (str(user.id),)).fetchone()[0]
    assert left == 1  # "today" stays for its 24 hours


def test_a_database_sessions_refusal_is_kept_as_the_keys_first_answer(make_user, redis_server):
    user = make_user()
    redis_server.stop()
    try:
        sid = keyed(user, "POST", "/drafts", "c", {"formData": {"topic": "t"}}).json["sessionId"]
        assert keyed(user, "PATCH", f"/drafts/{sid}", "s1", {"formData": {"topic": "u"}}).status == 200
        stale = {"formData": {"topic": "v"}, "version": 1}
        first = keyed(user, "PATCH", f"/drafts/{sid}", "stale", stale)
        again = keyed(user, "PATCH", f"/drafts/{sid}", "stale", stale)
        assert first.status == again.status == 409 and again.json == first.json
        assert again.headers["idempotent-replayed"] == "true"
    finally:
        redis_server.start()
