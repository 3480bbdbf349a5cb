"""Hostile request bodies: whatever arrives, the answer is a documented 4xx in the contract's shape.

Never a 500, never a stack trace, and nothing a store cannot hold gets into a draft (a draft that
can be saved must also be materializable).
"""

from __future__ import annotations

import pytest

from functions.draft_session.app import handler
from tests.conftest import call


def assert_error(reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert set(reply.json) == {"error"}, reply
    assert reply.json["error"]["code"] == code, reply
    assert "Traceback" not in reply.text and "psycopg" not in reply.text


@pytest.fixture
def user_and_session(make_user):
    user = make_user()
    reply = call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "kept"}})
    assert reply.status == 201
    return user, reply.json["sessionId"]


UNPARSEABLE = {
    # json.loads raises RecursionError, not JSONDecodeError, on deep nesting
    "deeply nested array": "[" * 30000 + "]" * 30000,
    "deeply nested object in formData": '{"formData": ' + '{"a":' * 10000 + "1" + "}" * 10000 + "}",
    # and ValueError on an integer literal over Python's 4300-digit conversion limit
    "5000-digit integer": '{"formData": {"estimatedLessons": ' + "9" * 5000 + "}}",
    "byte order mark": '\ufeff{"formData": {}}',
    "whitespace only": "   ",
    "truncated": '{"formData": {"topic": "a"',
}


@pytest.mark.parametrize("name", list(UNPARSEABLE))
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_unparseable_bodies_are_400(user_and_session, name, method):
    user, sid = user_and_session
    path = "/drafts" if method == "POST" else f"/drafts/{sid}"
    assert_error(call(handler, method, path, token=user.token, raw_body=UNPARSEABLE[name]), 400, "bad_request")
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).json["formData"] == {"topic": "kept"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", "image/png", "application/xml"])
def test_a_body_that_is_not_json_is_400_in_the_contract_shape(user_and_session, content_type):
    # Powertools answers unknown content types with its own 415 body ({"statusCode", "detail"}).
    user, sid = user_and_session
    reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, raw_body='{"formData": {"topic": "x"}}',
                 content_type=content_type)
    assert_error(reply, 400, "bad_request")


@pytest.mark.parametrize("raw", [
    '{"formData": {"estimatedLessons": 1e400}}',
    '{"formData": {"estimatedLessons": NaN}}',
    '{"formData": {"estimatedLessons": -Infinity}}',
    '{"formData": {"estimatedLessons": true}}',
    '{"formData": {"estimatedLessons": 12.0}}',
    '{"formData": {"topic": Infinity}}',
    '{"formData": {"topic": ["a"]}}',
    '{"formData": {"formats": [["a"]]}}',
    '{"formData": {"formats": "a"}}',
    '{"formData": {"__proto__": {"x": 1}}}',
    '{"formData": {"topic": "a\\ud800b"}}',  # a lone surrogate: no UTF-8 form, Redis could not encode it
])
def test_values_of_the_wrong_kind_are_422_and_change_nothing(user_and_session, raw):
    user, sid = user_and_session
    assert_error(call(handler, "PATCH", f"/drafts/{sid}", token=user.token, raw_body=raw), 422, "validation_error")
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).json["formData"] == {"topic": "kept"}


@pytest.mark.parametrize("field, value", [
    ("topic", "a\u0000b"), ("description", "\u0000"), ("learningOutcomes", "x\u0000"),
    ("email", "a\u0000@b.cd"), ("formats", ["ok", "b\u0000"]),
])
def test_nul_characters_are_refused_at_save_time(user_and_session, db, field, value):
    # Postgres text and jsonb cannot hold NUL: such a draft was saved, then every materialize was a 500.
    user, sid = user_and_session
    for method, path in [("POST", "/drafts"), ("PATCH", f"/drafts/{sid}")]:
        reply = call(handler, method, path, token=user.token, body={"formData": {field: value}})
        assert_error(reply, 422, "validation_error")
        assert reply.json["error"]["details"][0]["field"].startswith(f"formData.{field}")
    done = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                body={"reason": "submit", "formData": {field: value}})
    assert_error(done, 422, "validation_error")
    assert call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"}).status == 201


def test_characters_postgres_can_hold_round_trip_to_the_course_row(user_and_session, db):
    user, sid = user_and_session
    text = "Курс 🐍 \u200b\u202e<script>'\"; DROP TABLE courses;-- \\x00 \t\n\r 𝕏 ﷽"
    saved = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": text}})
    assert saved.status == 200 and saved.json["formData"]["topic"] == text
    done = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
    assert done.status == 201, done
    title, form = db.execute("SELECT title, settings->'draftForm' FROM courses WHERE id = %s",
                             (done.json["courseId"],)).fetchone()
    assert form["topic"] == text and title == text.strip()


def test_duplicate_keys_take_the_last_value(user_and_session):
    # RFC 8259 leaves duplicates to the parser; Python keeps the last. Documented here, not a 500.
    user, sid = user_and_session
    reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                 raw_body='{"formData": {"topic": "first", "topic": "last"}}')
    assert reply.status == 200 and reply.json["formData"]["topic"] == "last"


def test_a_huge_unknown_query_string_is_a_400_not_a_crash(user_and_session):
    user, _ = user_and_session
    reply = call(handler, "GET", "/drafts", token=user.token, query={"x" * 100: "y" * 20000})
    assert reply.status == 400 and reply.json["error"]["details"][0]["field"] == "x" * 100


@pytest.mark.parametrize("content_type", ["multipart/form-data", "multipart/form-data; boundary=x",
                                          "application/x-www-form-urlencoded"])
@pytest.mark.parametrize("with_body", [True, False])
def test_form_content_types_are_400_not_500(user_and_session, content_type, with_body):
    # Powertools parses these itself: a multipart type without a boundary raised ValueError, a 500,
    # even on a POST with no body at all.
    user, sid = user_and_session
    raw = '{"formData": {"topic": "x"}}' if with_body else None
    for method, path in [("POST", "/drafts"), ("PATCH", f"/drafts/{sid}"),
                         ("POST", f"/drafts/{sid}/materialize")]:
        reply = call(handler, method, path, token=user.token, raw_body=raw, content_type=content_type)
        assert_error(reply, 400, "bad_request")
    assert call(handler, "GET", f"/drafts/{sid}", token=user.token).json["formData"] == {"topic": "kept"}
