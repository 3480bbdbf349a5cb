"""Property: any sequence of autosaves leaves the draft equal to a plain dict model of it.

Hypothesis generates the sequences: fields set, fields removed (null), stale and future versions
(409, nothing changes), invalid values (422, nothing changes), then a materialize whose row must
hold exactly the model. Run for a session in Redis and for one kept in its database row (the
DRAFT_DB_FALLBACK path), since the two merge with different code (a Lua script, a jsonb UPDATE).
"""

from __future__ import annotations

import re
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localstores import free_port
from functions.draft_session.app import handler
from tests.conftest import call

TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
EMAIL = re.compile(r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")


def text(max_size: int):
    return st.text(TEXT, max_size=max_size)


VALID = {
    "topic": text(60) | st.just("т" * 500),
    "description": text(200),
    "email": st.emails().filter(lambda e: len(e) <= 254 and EMAIL.match(e)),
    "writingStyle": text(30),
    "language": st.from_regex(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,3})?", fullmatch=True),
    "targetAudience": text(100),
    "estimatedLessons": st.integers(1, 200),
    "estimatedSections": st.integers(1, 50),
    "contentStrategy": text(30),
    "lessonDuration": st.integers(1, 600),
    "learningOutcomes": text(100),
    "formats": st.lists(text(20), max_size=20),
}
INVALID = st.sampled_from([
    {"topic": "x" * 501},
    {"estimatedLessons": 0},
    {"estimatedSections": 51},
    {"lessonDuration": "60"},
    {"language": "english!"},
    {"email": "not-an-address"},
    {"formats": ["a"] * 21},
    {"unknownField": 1},
    {"topic": "fine", "estimatedLessons": 201},  # one bad field spoils the whole save
])

@st.composite
def form_change(draw) -> dict:
    names = draw(st.lists(st.sampled_from(sorted(VALID)), unique=True, max_size=5))
    return {name: (None if draw(st.integers(0, 3)) == 0 else draw(VALID[name])) for name in names}


@st.composite
def autosave(draw) -> dict:
    kind = draw(st.sampled_from(["save", "save", "save", "versioned", "stale", "invalid"]))
    if kind == "invalid":
        return {"kind": kind, "formData": draw(INVALID)}
    return {"kind": kind, "formData": draw(form_change()), "skew": draw(st.sampled_from([-1, 1, 5]))}


def apply(model: dict, change: dict) -> dict:
    """The contract's merge: named fields set, null removes, fields not named stay."""
    merged = dict(model)
    for name, value in change.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def check_sequence(user, initial: dict, saves: list[dict], final: Optional[dict], db, expect_storage: str):
    created = call(handler, "POST", "/drafts", token=user.token,
                   body={"formData": {k: v for k, v in initial.items() if v is not None}})
    assert created.status == 201, created
    assert created.json["storage"] == expect_storage
    sid = created.json["sessionId"]
    model = apply({}, initial)
    version = created.json["version"]
    assert created.json["formData"] == model
    for save in saves:
        body: dict[str, Any] = {"formData": save["formData"]}
        if save["kind"] == "versioned":
            body["version"] = version
        elif save["kind"] == "stale":
            body["version"] = version + save["skew"] if version + save["skew"] >= 1 else version + 1
        reply = call(handler, "PATCH", f"/drafts/{sid}", token=user.token, body=body)
        if save["kind"] == "invalid":
            assert reply.status == 422, reply
        elif save["kind"] == "stale":
            assert reply.status == 409, reply
            assert reply.json["error"]["details"] == [{"field": "version", "message": f"current version is {version}"}]
        else:
            assert reply.status == 200, reply
            model = apply(model, save["formData"])
            version += 1
            assert reply.json["version"] == version
            assert reply.json["formData"] == model
    got = call(handler, "GET", f"/drafts/{sid}", token=user.token)
    assert got.status == 200 and got.json["formData"] == model and got.json["version"] == version
    # The submit: the row holds exactly the model (with the submit's final values merged first).
    body = {"reason": "submit", **({"formData": final} if final is not None else {})}
    done = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body=body)
    assert done.status in (200, 201), done
    model = apply(model, final or {})
    row = db.execute("SELECT settings->'draftForm', title FROM courses WHERE draft_session_id = %s", (sid,)).fetchall()
    assert len(row) == 1
    assert row[0][0] == model
    assert row[0][1] == ((model.get("topic") or "").strip() or "Новый курс")


SEQUENCES = dict(
    initial=form_change(),
    saves=st.lists(autosave(), max_size=10),
    final=st.none() | form_change(),
)
PROPERTY = settings(max_examples=40, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@PROPERTY
@given(**SEQUENCES)
def test_any_autosave_sequence_matches_the_model_in_redis(make_user, db, initial, saves, final):
    check_sequence(make_user(), initial, saves, final, db, "redis")


@pytest.fixture
def redis_away(settings_env):
    """Redis refuses connections (nothing listens on its port): drafts live in their rows."""
    settings_env(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", STORE_TIMEOUT_SECONDS="1")


@settings(PROPERTY, max_examples=20)  # each call first finds Redis refusing: slower per example
@given(**SEQUENCES)
def test_any_autosave_sequence_matches_the_model_in_the_database_fallback(redis_away, make_user, db, initial,
                                                                         saves, final):
    check_sequence(make_user(), initial, saves, final, db, "database")
