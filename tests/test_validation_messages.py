"""Messages a person can act on (and a front end can translate): every validation detail has a
stable code, a plain message of what is allowed, and the limit where one applies."""

from __future__ import annotations

import pytest

from functions.cleanup_drafts.app import handler as cleanup
from functions.draft_session.app import handler
from tests.conftest import ADMIN_TOKEN, call

BROKEN = {  # field: (value, code, message, limit)
    "topic": ("x" * 501, "too_long", "at most 500 characters", 500),
    "description": ("a\x00b", "nul_character", "must not contain the NUL character", None),
    "email": ("not-an-address", "not_email", "must be an email address", None),
    "language": ("english!", "not_language_tag", "must be a language tag such as ru or en-US", None),
    "estimatedLessons": (0, "too_small", "must be at least 1", 1),
    "estimatedSections": (51, "too_large", "must be at most 50", 50),
    "lessonDuration": ("60", "not_integer", "must be a whole number", None),
    "formats": (["a"] * 21, "too_many_items", "at most 20 items", 20),
    "writingStyle": (5, "not_string", "must be text", None),
    "colour": ("red", "unknown_field", "is not a field of this request", None),
}


def test_every_broken_field_has_a_code_a_plain_message_and_its_limit(make_user):
    user = make_user()
    sid = call(handler, "POST", "/drafts", token=user.token).json["sessionId"]
    reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token,
                 body={"formData": {k: v[0] for k, v in BROKEN.items()}})
    assert reply.status == 422 and reply.json["error"]["code"] == "validation_error"
    got = {d["field"]: d for d in reply.json["error"]["details"]}
    for field, (_value, code, message, limit) in BROKEN.items():
        detail = got[f"formData.{field}"]
        assert (detail["code"], detail["message"], detail.get("limit")) == (code, message, limit), detail
    assert "should" not in reply.text and "pattern" not in reply.text  # not pydantic's wording


@pytest.mark.parametrize("body,field,code", [
    ({"reason": "later"}, "reason", "invalid_choice"),
    ({}, "reason", "required"),
    ({"reason": "submit", "formData": []}, "formData", "not_object"),
])
def test_materialize_details(make_user, body, field, code):
    user = make_user()
    sid = call(handler, "POST", "/drafts", token=user.token).json["sessionId"]
    reply = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body=body)
    assert reply.status == 422
    [detail] = reply.json["error"]["details"]
    assert (detail["field"], detail["code"]) == (field, code)


def test_admin_bodies_speak_the_same_codes():
    reply = call(cleanup, "POST", "/cleanup", token=ADMIN_TOKEN, body={"dryRun": "yes", "maxAgeHours": 0})
    got = {d["field"]: (d["code"], d.get("limit")) for d in reply.json["error"]["details"]}
    assert got == {"dryRun": ("not_boolean", None), "maxAgeHours": ("too_small", 1)}


def test_a_path_id_that_is_not_a_uuid_names_the_parameter_and_says_what_it_must_be(make_user):
    user = make_user()
    reply = call(handler, "GET", "/drafts/not-a-uuid", token=user.token)
    assert reply.status == 400
    [detail] = reply.json["error"]["details"]
    assert (detail["field"], detail["code"], detail["message"]) == ("session_id", "not_uuid", "must be a UUID")
