"""The draft's life cycle raced across containers (separate processes, tests/containers.py).

The promise (API.md): a 2xx answer to a save means its values are in the session or, if the session
was materialized meanwhile, in the course row; a discard and a materialize never both succeed.
Every race is run hundreds of times, in both orders and at random offsets; the counts are printed
and the losses asserted zero.
"""

from __future__ import annotations

import json
import random

import pytest

from functions.draft_session.app import handler
from tests.conftest import call, url_event
from tests.containers import Fleet


def _json(reply: dict):
    return json.loads(reply["body"]) if reply.get("body") else None


@pytest.fixture
def roomy(settings_env):
    """Limits out of the way: hundreds of drafts a minute for one user."""
    settings_env(DRAFT_MAX_CREATES_PER_MINUTE="100000", DRAFT_MAX_SESSIONS_PER_USER="10000")


def _open(user, form: dict) -> str:
    reply = call(handler, "POST", "/drafts", token=user.token, body={"formData": form})
    assert reply.status == 201, reply
    return reply.json["sessionId"]


def _row_form(db, sid: str):
    rows = db.execute("SELECT settings->'draftForm' FROM courses WHERE draft_session_id = %s", (sid,)).fetchall()
    return [r[0] for r in rows]


def test_a_save_racing_a_submit_on_another_container_is_never_acknowledged_and_lost(roomy, make_user, db):
    user = make_user()
    tries, counts = 200, {"acknowledged": 0, "refused": 0, "lost": 0, "refused_but_applied": 0}
    rng = random.Random(12)
    with Fleet(2) as fleet:
        for i in range(tries):
            sid = _open(user, {"topic": "race"})
            save = url_event("PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"description": f"s{i}"}})
            submit = url_event("POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
            swap = rng.random() < 0.5
            replies = fleet.race([submit, save] if swap else [save, submit], jitter_ms=4, seed=i)
            submitted, saved = (replies[0], replies[1]) if swap else (replies[1], replies[0])
            assert submitted["statusCode"] == 201, submitted
            forms = _row_form(db, sid)
            assert len(forms) == 1, forms
            kept = forms[0].get("description") == f"s{i}"
            if saved["statusCode"] == 200:
                counts["acknowledged"] += 1
                counts["lost"] += not kept
            else:
                assert saved["statusCode"] == 409 and _json(saved)["error"]["code"] == "already_materialized", saved
                assert _json(saved)["error"]["details"][0]["courseId"] == _json(submitted)["courseId"]
                counts["refused"] += 1
                counts["refused_but_applied"] += kept
    print(f"\nsave vs submit, {tries} tries over two containers: {counts}")
    assert counts["lost"] == 0 and counts["refused_but_applied"] == 0
    assert counts["acknowledged"] and counts["refused"], "both orders must have been met"


def test_six_saves_racing_one_submit_lose_no_acknowledged_field(roomy, make_user, db):
    user = make_user()
    tries, savers = 100, 6
    counts = {"acknowledged": 0, "refused": 0, "lost": 0, "refused_but_applied": 0}
    with Fleet(savers + 1) as fleet:
        for i in range(tries):
            sid = _open(user, {"topic": "race"})
            fields = [("description", "targetAudience", "writingStyle", "contentStrategy", "learningOutcomes",
                       "topic")[k] for k in range(savers)]
            events = [url_event("PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {f: f"{f}-{i}"}})
                      for f in fields]
            at = i % (savers + 1)  # the submit takes every container's place in turn
            events.insert(at, url_event("POST", f"/drafts/{sid}/materialize", token=user.token,
                                        body={"reason": "submit"}))
            replies = fleet.race(events, jitter_ms=6, seed=i)
            submitted = replies.pop(at)
            assert submitted["statusCode"] == 201, submitted
            forms = _row_form(db, sid)
            assert len(forms) == 1, forms
            for field, reply in zip(fields, replies):
                kept = forms[0].get(field) == f"{field}-{i}"
                if reply["statusCode"] == 200:
                    counts["acknowledged"] += 1
                    counts["lost"] += not kept
                else:
                    assert reply["statusCode"] == 409, reply
                    counts["refused"] += 1
                    counts["refused_but_applied"] += kept
    print(f"\nsix saves vs one submit, {tries} tries over seven containers: {counts}")
    assert counts["lost"] == 0 and counts["refused_but_applied"] == 0
    assert counts["acknowledged"] and counts["refused"]


def test_a_discard_racing_a_submit_is_one_or_the_other_never_both(roomy, make_user, db):
    user = make_user()
    tries = 150
    outcomes: dict[str, int] = {}
    with Fleet(2) as fleet:
        for i in range(tries):
            sid = _open(user, {"topic": "race"})
            discard = url_event("DELETE", f"/drafts/{sid}", token=user.token)
            submit = url_event("POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
            gone, submitted = fleet.race([discard, submit], jitter_ms=4, seed=i)
            rows = len(_row_form(db, sid))
            key = f"discard {gone['statusCode']}, submit {submitted['statusCode']}, rows {rows}"
            outcomes[key] = outcomes.get(key, 0) + 1
    print(f"\ndiscard vs submit, {tries} tries over two containers: {outcomes}")
    assert set(outcomes) <= {"discard 204, submit 404, rows 0", "discard 409, submit 201, rows 1"}, outcomes
    assert len(outcomes) == 2, "both orders must have been met"


def test_a_second_tabs_submit_with_other_values_is_refused_and_an_identical_one_answers_the_course(
        roomy, make_user, db):
    user = make_user()
    sid = _open(user, {"topic": "first"})
    first = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                 body={"reason": "submit", "formData": {"estimatedLessons": 5}})
    assert first.status == 201
    other = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                 body={"reason": "submit", "formData": {"estimatedLessons": 7}})
    assert other.status == 409 and other.json["error"]["code"] == "already_materialized", other
    assert other.json["error"]["details"][0]["courseId"] == first.json["courseId"]
    same = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                body={"reason": "submit", "formData": {"estimatedLessons": 5}})
    assert same.status == 200 and same.json == {**first.json, "created": False}
    assert _row_form(db, sid) == [{"topic": "first", "estimatedLessons": 5}]


def test_twenty_containers_submitting_one_draft_make_one_course(roomy, make_user, db):
    user = make_user()
    with Fleet(20) as fleet:
        for i in range(20):
            sid = _open(user, {"topic": f"twenty {i}"})
            replies = fleet.race([url_event("POST", f"/drafts/{sid}/materialize", token=user.token,
                                            body={"reason": "submit"}) for _ in range(20)], jitter_ms=3, seed=i)
            statuses = sorted(r["statusCode"] for r in replies)
            assert statuses == [200] * 19 + [201], statuses
            assert len({_json(r)["courseId"] for r in replies}) == 1
            assert len(_row_form(db, sid)) == 1
