"""draft_session end to end: real Redis, real Postgres, the real handler behind a Function URL event."""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from functions.adapters.redis_sessions import index_key, session_key
from functions.draft_session.app import handler, sessions
from functions.drafts.model import Changes
from tests.conftest import call


def course_count(db) -> int:
    return db.execute("SELECT count(*) FROM courses").fetchone()[0]


def open_session(user, form=None):
    reply = call(handler, "POST", "/drafts", token=user.token, body={"formData": form} if form else None)
    assert reply.status == 201, reply
    return reply.json


# --- the source spec's unit cases (5.1) ---

def test_create_returns_a_session_in_redis(make_user, rds):
    user = make_user()
    reply = call(handler, "POST", "/drafts", token=user.token)
    assert reply.status == 201
    sid = reply.json["sessionId"]
    assert uuid.UUID(sid)
    assert reply.headers["location"] == f"/drafts/{sid}"
    assert reply.json["storage"] == "redis" and reply.json["version"] == 1
    assert reply.json["organizationId"] == str(user.org_id)
    assert rds.exists(session_key(str(user.id), sid))
    assert 0 < rds.ttl(session_key(str(user.id), sid)) <= 86400


def test_update_merges_form_data(make_user):
    user = make_user()
    sid = open_session(user)["sessionId"]
    reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                 body={"formData": {"topic": "Test Course", "language": "ru"}})
    assert reply.status == 200 and reply.json["version"] == 2
    got = call(handler, "GET", f"/drafts/{sid}", token=user.token).json
    assert got["formData"] == {"topic": "Test Course", "language": "ru"}


def test_delete_removes_the_session(make_user, rds):
    user = make_user()
    sid = open_session(user)["sessionId"]
    assert call(handler, "DELETE", f"/drafts/{sid}", token=user.token).status == 204
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).status == 404
    assert not rds.exists(session_key(str(user.id), sid))
    assert rds.zscore(index_key(str(user.id)), sid) is None
    assert call(handler, "DELETE", f"/drafts/{sid}", token=user.token).status == 404


def test_update_of_a_missing_session_is_404(make_user):
    user = make_user()
    reply = call(handler, "PATCH", f"/drafts/{uuid.uuid4()}", token=user.token, body={"formData": {}})
    assert reply.status == 404
    assert reply.json["error"]["code"] == "not_found"


# --- patch semantics ---

def test_null_removes_a_field_and_unnamed_fields_stay(make_user):
    user = make_user()
    sid = open_session(user, {"topic": "A", "description": "B", "estimatedLessons": 5})["sessionId"]
    reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                 body={"formData": {"description": None, "formats": ["video", "text"]}})
    assert reply.json["formData"] == {"topic": "A", "estimatedLessons": 5, "formats": ["video", "text"]}


def test_version_check(make_user):
    user = make_user()
    sid = open_session(user)["sessionId"]
    ok = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": "x"}, "version": 1})
    assert ok.status == 200 and ok.json["version"] == 2
    stale = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": "y"}, "version": 1})
    assert stale.status == 409 and stale.json["error"]["code"] == "version_conflict"
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).json["formData"]["topic"] == "x"


def test_patch_renews_the_ttl(make_user, rds):
    user = make_user()
    sid = open_session(user)["sessionId"]
    key = session_key(str(user.id), sid)
    rds.pexpire(key, 5000)
    call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": "t"}})
    assert rds.pttl(key) > 86_000_000


def test_strings_are_stored_as_given(make_user):
    user = make_user()
    text = "  <b>Курс</b> \u00e9 😀 'quotes' \"dq\" \\ "
    sid = open_session(user, {"topic": text})["sessionId"]
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).json["formData"]["topic"] == text


def test_list_is_newest_first_and_only_the_callers(make_user):
    alice, bob = make_user(), make_user()
    first = open_session(alice, {"topic": "first"})["sessionId"]
    second = open_session(alice, {"topic": "second"})["sessionId"]
    open_session(bob, {"topic": "bob's"})
    call(handler, "PATCH", f"/drafts/{first}", token=alice.token, body={"formData": {"topic": "first, edited"}})
    listed = call(handler, "GET", "/drafts", token=alice.token).json["sessions"]
    assert [s["sessionId"] for s in listed] == [first, second]
    assert listed[0]["topic"] == "first, edited"
    assert set(listed[0]) == {"sessionId", "topic", "updatedAt", "expiresAt"}


# --- the functional success criteria (10.1) ---

def test_opening_the_page_adds_no_course_row(make_user, db):
    open_session(make_user())
    assert course_count(db) == 0


def test_a_reload_reads_the_same_session_and_adds_no_row(make_user, db):
    user = make_user()
    sid = open_session(user, {"topic": "kept"})["sessionId"]
    for _ in range(3):
        reply = call(handler, "GET", f"/drafts/{sid}", token=user.token)
        assert reply.status == 200 and reply.json["formData"] == {"topic": "kept"}
    assert course_count(db) == 0


def test_two_tabs_are_two_sessions_and_zero_rows(make_user, db):
    user = make_user()
    a, b = open_session(user)["sessionId"], open_session(user)["sessionId"]
    assert a != b
    assert course_count(db) == 0


@pytest.mark.parametrize("reason", ["submit", "file_upload"])
def test_materialize_adds_exactly_one_row(make_user, db, rds, reason):
    user = make_user()
    sid = open_session(user, {"topic": "Основы Python", "language": "ru"})["sessionId"]
    reply = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                 body={"reason": reason, "formData": {"estimatedLessons": 10}})
    assert reply.status == 201 and reply.json["created"] is True
    row = db.execute("""SELECT id, status, generation_status, title, slug, user_id, organization_id, language,
                               settings, draft_session_id FROM courses""").fetchall()
    assert len(row) == 1
    course_id, status, gen, title, slug, owner, org, language, settings, draft_sid = row[0]
    assert (str(course_id), slug) == (reply.json["courseId"], reply.json["slug"])
    assert (status, gen, title, owner, org, language) == ("draft", None, "Основы Python", user.id, user.org_id, "ru")
    assert slug.startswith("osnovy-python-")
    assert settings["draftForm"] == {"topic": "Основы Python", "language": "ru", "estimatedLessons": 10}
    assert settings["materializedBy"] == reason
    assert str(draft_sid) == sid
    # The session stays as a tombstone naming the course, closed to saves, out of the open drafts.
    assert rds.hget(session_key(str(user.id), sid), "_state") == "materialized"
    assert rds.hget(session_key(str(user.id), sid), "_course") == reply.json["courseId"]
    assert not rds.zscore(index_key(str(user.id)), sid)
    got = call(handler, "GET", f"/drafts/{sid}", token=user.token).json
    assert (got["state"], got["courseId"]) == ("materialized", reply.json["courseId"])
    assert call(handler, "GET", "/drafts", token=user.token).json["sessions"] == []


def test_materialize_without_topic_uses_the_default_title(make_user, db):
    user = make_user()
    sid = open_session(user)["sessionId"]
    call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
    assert db.execute("SELECT title FROM courses").fetchone()[0] == "Новый курс"


def test_a_repeat_of_materialize_answers_the_same_course(make_user, db):
    user = make_user()
    sid = open_session(user)["sessionId"]
    first = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "file_upload"})
    again = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
    assert first.status == 201 and again.status == 200
    assert again.json == {**first.json, "created": False}
    assert course_count(db) == 1


def test_twenty_concurrent_materializations_make_one_row(make_user, db):
    user = make_user()
    sid = uuid.UUID(open_session(user, {"topic": "race"})["sessionId"])
    service = sessions()
    barrier = threading.Barrier(20)

    def go(_):
        barrier.wait()
        return service.materialize(user.id, sid, "submit", Changes()).value

    with ThreadPoolExecutor(20) as pool:
        refs = list(pool.map(go, range(20)))
    assert course_count(db) == 1
    assert sum(r.created for r in refs) == 1
    assert len({r.course_id for r in refs}) == 1


def test_eight_concurrent_patches_of_different_fields_lose_nothing(make_user):
    user = make_user()
    sid = uuid.UUID(open_session(user)["sessionId"])
    service = sessions()
    fields = {"topic": "t", "description": "d", "writingStyle": "w", "language": "en",
              "targetAudience": "a", "contentStrategy": "c", "learningOutcomes": "o", "estimatedLessons": 7}
    barrier = threading.Barrier(len(fields))

    def save(item):
        barrier.wait()
        for i in range(20):  # many interleavings, not one
            service.patch(user.id, sid, Changes({item[0]: item[1]}), None)

    with ThreadPoolExecutor(len(fields)) as pool:
        list(pool.map(save, fields.items()))
    got = call(handler, "GET", f"/drafts/{sid}", token=user.token).json
    assert got["formData"] == fields
    assert got["version"] == 1 + 20 * len(fields)


# --- isolation ---

def test_another_users_session_is_a_404_on_every_endpoint(make_user, db):
    alice, mallory = make_user(), make_user()
    sid = open_session(alice, {"topic": "private"})["sessionId"]
    for method, path, body in [("GET", f"/drafts/{sid}", None),
                               ("PATCH", f"/drafts/{sid}", {"formData": {"topic": "owned"}}),
                               ("DELETE", f"/drafts/{sid}", None),
                               ("POST", f"/drafts/{sid}/materialize", {"reason": "submit"})]:
        reply = call(handler, method, path, token=mallory.token, body=body)
        assert reply.status == 404, (method, reply)
    assert call(handler, "GET", "/drafts", token=mallory.token).json["sessions"] == []
    assert call(handler, "GET", f"/drafts/{sid}", token=alice.token).json["formData"] == {"topic": "private"}
    assert course_count(db) == 0


def test_a_user_without_organization_cannot_open_drafts(make_user, db):
    from tests.conftest import user_token

    stranger = uuid.uuid4()  # a valid token, but no users row
    reply = call(handler, "POST", "/drafts", token=user_token(stranger))
    assert reply.status == 403 and reply.json["error"]["code"] == "forbidden"


def test_the_admin_token_owns_no_drafts():
    from tests.conftest import ADMIN_TOKEN

    assert call(handler, "GET", "/drafts", token=ADMIN_TOKEN).status == 403


# --- bad input: every row of API.md's error table ---

def assert_error(reply, status, code):
    assert reply.status == status, reply
    assert reply.headers["content-type"] == "application/json"
    assert reply.json["error"]["code"] == code
    assert isinstance(reply.json["error"]["message"], str) and reply.json["error"]["message"]
    text = reply.text.lower()
    assert "traceback" not in text and "select " not in text and "psycopg" not in text


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "\"text\"", "42", "null"])
def test_malformed_or_non_object_bodies_are_400(make_user, raw):
    user = make_user()
    sid = open_session(user)["sessionId"]
    assert_error(call(handler, "PATCH", f"/drafts/{sid}", token=user.token, raw_body=raw), 400, "bad_request")


@pytest.mark.parametrize("form, field", [
    ({"estimatedLessons": "5"}, "formData.estimatedLessons"),
    ({"estimatedLessons": 201}, "formData.estimatedLessons"),
    ({"estimatedSections": 0}, "formData.estimatedSections"),
    ({"lessonDuration": 601}, "formData.lessonDuration"),
    ({"topic": 123}, "formData.topic"),
    ({"topic": "x" * 501}, "formData.topic"),
    ({"description": "x" * 10001}, "formData.description"),
    ({"email": "not-an-address"}, "formData.email"),
    ({"language": "english-language"}, "formData.language"),
    ({"formats": ["a"] * 21}, "formData.formats"),
    ({"formats": "video"}, "formData.formats"),
    ({"estimatedLessons": True}, "formData.estimatedLessons"),
    ({"color": "red"}, "formData.color"),
])
def test_schema_violations_are_422_with_field_details(make_user, form, field):
    user = make_user()
    sid = open_session(user)["sessionId"]
    reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": form})
    assert_error(reply, 422, "validation_error")
    assert field in [d["field"] for d in reply.json["error"]["details"]]


def test_every_broken_field_is_listed(make_user):
    user = make_user()
    sid = open_session(user)["sessionId"]
    reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                 body={"formData": {"estimatedLessons": 0, "lessonDuration": 0, "bogus": 1}, "extra": True})
    fields = {d["field"] for d in reply.json["error"]["details"]}
    assert {"formData.estimatedLessons", "formData.lessonDuration", "formData.bogus", "extra"} <= fields


def test_materialize_needs_a_known_reason(make_user, db):
    user = make_user()
    sid = open_session(user)["sessionId"]
    assert_error(call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "visit"}),
                 422, "validation_error")
    assert_error(call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={}), 422, "validation_error")
    assert course_count(db) == 0


def test_an_oversized_body_is_413_and_changes_nothing(make_user):
    user = make_user()
    sid = open_session(user, {"topic": "before"})["sessionId"]
    huge = json.dumps({"formData": {"description": "x" * 70_000}})
    assert_error(call(handler, "PATCH", f"/drafts/{sid}", token=user.token, raw_body=huge), 413, "payload_too_large")
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).json["formData"] == {"topic": "before"}


@pytest.mark.parametrize("bad_id", ["*", "..%2Fx", "not-a-uuid", "1", "%2A"])
def test_ids_that_are_not_uuids_never_reach_redis(make_user, bad_id):
    user = make_user()
    reply = call(handler, "GET", f"/drafts/{bad_id}", token=user.token)
    assert_error(reply, 400, "bad_request")


def test_path_traversal_is_no_route(make_user):
    user = make_user()
    assert call(handler, "GET", "/drafts/../x", token=user.token).status in (404, 405)


def test_wrong_method_on_a_known_path_is_405(make_user):
    user = make_user()
    reply = call(handler, "PUT", "/drafts", token=user.token)
    assert_error(reply, 405, "method_not_allowed")
    assert "POST" in reply.headers["allow"]


def test_an_unknown_path_is_404(make_user):
    assert_error(call(handler, "GET", "/nowhere", token=make_user().token), 404, "not_found")


@pytest.mark.parametrize("kind", ["missing", "not_bearer", "garbage", "expired", "bad_signature", "wrong_aud", "alg_none", "no_sub"])
def test_bad_tokens_are_401(make_user, kind):
    import jwt as pyjwt

    from tests.conftest import user_token

    user = make_user()
    tokens = {
        "garbage": "abc.def.ghi",
        "expired": user_token(user.id, exp_in=-60),
        "bad_signature": user_token(user.id, secret="another-secret-of-sufficient-length-000"),
        "wrong_aud": user_token(user.id, aud="anon"),
        "alg_none": pyjwt.encode({"sub": str(user.id), "aud": "authenticated", "exp": 4_000_000_000}, None, algorithm="none"),
        "no_sub": user_token(user.id, sub=None),
    }
    if kind == "missing":
        reply = call(handler, "GET", "/drafts")
    elif kind == "not_bearer":
        reply = call(handler, "GET", "/drafts", headers={"authorization": f"Basic {user.token}"})
    else:
        reply = call(handler, "GET", "/drafts", token=tokens[kind])
    assert_error(reply, 401, "unauthorized")


# --- stores down ---

def test_redis_down_create_falls_back_to_the_database(make_user, db, redis_server):
    user = make_user()
    redis_server.stop()
    try:
        reply = call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "offline"}})
        assert reply.status == 201, reply
        assert reply.json["storage"] == "database"
        sid = reply.json["sessionId"]
        row = db.execute("SELECT id, title, status, draft_session_id FROM courses").fetchall()
        assert [(str(r[0]), r[1], r[2], str(r[3])) for r in row] == [(sid, "offline", "draft", sid)]
        saved = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"language": "ru"}})
        assert saved.status == 200 and saved.json["version"] == 2
        got = call(handler, "GET", f"/drafts/{sid}", token=user.token)
        assert got.json["formData"] == {"topic": "offline", "language": "ru"}
        listed = call(handler, "GET", "/drafts", token=user.token)
        assert listed.status == 503  # Redis holds most sessions: no list that silently misses them
        done = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
        assert done.status == 201 and done.json["courseId"] == sid and done.json["created"] is True
        # From now on it is a course, not a draft: no save rewrites it.
        late = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": "late"}})
        assert_error(late, 409, "already_materialized")
        assert late.json["error"]["details"][0]["courseId"] == sid
        again = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
        assert again.status == 200 and again.json["created"] is False
    finally:
        redis_server.start()
    # back in Redis: the database session is still found (materialized), not listed as open, and new
    # ones go to Redis again
    got = call(handler, "GET", f"/drafts/{sid}", token=user.token).json
    assert (got["storage"], got["state"], got["formData"]["topic"]) == ("database", "materialized", "offline")
    assert call(handler, "GET", "/drafts", token=user.token).json["sessions"] == []
    assert call(handler, "POST", "/drafts", token=user.token).json["storage"] == "redis"
    assert course_count(db) == 1


def test_redis_down_without_fallback_is_503_and_recovers(make_user, redis_server, settings_env):
    settings_env(DRAFT_DB_FALLBACK="false")
    user = make_user()
    sid = open_session(user, {"topic": "kept"})["sessionId"]
    redis_server.stop()
    try:
        create = call(handler, "POST", "/drafts", token=user.token)
        assert_error(create, 503, "unavailable")
        assert int(create.headers["retry-after"]) > 0
        save = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": "lost?"}})
        assert_error(save, 503, "unavailable")
    finally:
        redis_server.start()
    # the same process works again (the server came back empty: it keeps nothing on disk)
    assert call(handler, "POST", "/drafts", token=user.token).status == 201


def test_autosave_with_redis_down_is_503_with_retry_after(make_user, redis_server):
    user = make_user()
    sid = open_session(user)["sessionId"]
    redis_server.stop()
    try:
        reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": "x"}})
        assert_error(reply, 503, "unavailable")
        assert reply.headers["retry-after"]
    finally:
        redis_server.start()


def test_postgres_down_during_materialize_is_503_and_keeps_the_session(make_user, db, pg_server, rds):
    user = make_user()
    sid = open_session(user, {"topic": "survives"})["sessionId"]
    sessions().organization_of(user.id)  # cached, as in a warm container
    db.close()
    pg_server.stop()
    try:
        reply = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
        assert_error(reply, 503, "unavailable")
        assert rds.exists(session_key(str(user.id), sid)), "never delete the session before the row is committed"
    finally:
        pg_server.start()
    again = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
    assert again.status == 201, again


# --- limits ---

def test_too_many_sessions_is_429(make_user, settings_env):
    settings_env(DRAFT_MAX_SESSIONS_PER_USER="3")
    user = make_user()
    for _ in range(3):
        open_session(user)
    reply = call(handler, "POST", "/drafts", token=user.token)
    assert_error(reply, 429, "too_many_sessions")
    assert reply.headers["retry-after"]
    # deleting one frees a place
    sid = call(handler, "GET", "/drafts", token=user.token).json["sessions"][0]["sessionId"]
    call(handler, "DELETE", f"/drafts/{sid}", token=user.token)
    assert call(handler, "POST", "/drafts", token=user.token).status == 201


def test_base64_bodies_from_the_function_url_are_read(make_user):
    from devtools.events import function_url_event

    user = make_user()
    event = function_url_event("POST", "/drafts", headers={"authorization": f"Bearer {user.token}",
                                                          "content-type": "application/octet-stream"},
                               body=json.dumps({"formData": {"topic": "b64"}}).encode())
    assert event["isBase64Encoded"]
    event["headers"]["content-type"] = "application/json"
    reply = handler(event, None)
    assert reply["statusCode"] == 201, reply
    assert json.loads(reply["body"])["formData"] == {"topic": "b64"}


def test_the_course_takes_the_organization_the_user_has_when_it_is_created(make_user, db):
    user = make_user()
    sid = open_session(user, {"topic": "moved"})["sessionId"]
    assert sessions().organization_of(user.id) == user.org_id  # cached by this warm container
    new_org = db.execute("INSERT INTO organizations (name) VALUES ('New home') RETURNING id").fetchone()[0]
    db.execute("UPDATE users SET organization_id = %s WHERE id = %s", (new_org, user.id))
    done = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
    assert done.status == 201
    assert db.execute("SELECT organization_id FROM courses WHERE id = %s", (done.json["courseId"],)).fetchone()[0] == new_org
    # A user who left every organization gets no course, and keeps the draft, still editable.
    other = open_session(user, {"topic": "orphaned"})["sessionId"]
    db.execute("UPDATE users SET organization_id = NULL WHERE id = %s", (user.id,))
    refused = call(handler, "POST", f"/drafts/{other}/materialize", token=user.token, body={"reason": "submit"})
    assert refused.status == 403 and refused.json["error"]["code"] == "forbidden"
    assert call(handler, "PATCH", f"/drafts/{other}", token=user.token,
                body={"formData": {"description": "still mine"}}).status == 200
