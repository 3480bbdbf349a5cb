"""The shortcuts the benchmark put on the request path keep their guarantees.

Verified tokens are kept per container (functions.platform.auth): a kept token must still expire,
and one user's token must never answer for another's.
"""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

import pytest

from functions.platform import auth
from functions.platform.errors import Unauthorized
from functions.platform.settings import load_settings
from tests.wired import course_keys

from .conftest import JWT_SECRET, user_token


def _authenticator() -> auth.Authenticator:
    return auth.Authenticator(load_settings(supabase_jwt_secret=JWT_SECRET))


def _headers(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


def test_a_kept_token_is_refused_once_it_has_expired(monkeypatch):
    authenticator = _authenticator()
    user = uuid.uuid4()
    token = user_token(user, exp_in=60)
    assert authenticator.authenticate(_headers(token)).user_id == user  # verified, and kept

    later = time.time() + 60 + auth.LEEWAY_SECONDS + 1
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: later))
    with pytest.raises(Unauthorized, match="expired"):
        authenticator.authenticate(_headers(token))


def test_a_kept_token_answers_for_its_own_user_only():
    authenticator = _authenticator()
    alice, bob = uuid.uuid4(), uuid.uuid4()
    alice_token, bob_token = user_token(alice), user_token(bob)
    for _ in range(2):  # the second round is served from what was kept
        assert authenticator.authenticate(_headers(alice_token)).user_id == alice
        assert authenticator.authenticate(_headers(bob_token)).user_id == bob


def test_a_rejected_token_is_not_kept():
    authenticator = _authenticator()
    forged = user_token(uuid.uuid4(), secret="another-secret-of-enough-length-0123456789")
    for _ in range(2):
        with pytest.raises(Unauthorized):
            authenticator.authenticate(_headers(forged))


def test_a_one_course_purge_has_redis_filter_by_its_id(rds):
    """Purging one course must not pull every course's pattern keys into the function (a 1M-key
    keyspace cost ~1.8 s of its CPU that way): Redis filters by the id, the exact check stays."""
    from tests.wired import process

    course, other = str(uuid.uuid4()), str(uuid.uuid4())
    mine = [f"rag:{course}:q1", f"bull:course-generation:{course}:7", f"idempotency:generation-{course}-a"]
    theirs = [f"rag:{other}:q1", f"rag:{course}x:q1", f"bull:course-generation:{other}:1"]
    for key in mine + theirs:
        rds.set(key, "x")
    matches: list = []
    client = process().redis_bytes
    original = client.scan

    def recording_scan(cursor=0, match=None, count=None, **kwargs):
        matches.append(match)
        return original(cursor, match=match, count=count, **kwargs)

    client.scan = recording_scan
    try:
        removed = course_keys().purge({course: []})
    finally:
        client.scan = original
    assert removed == {course: len(mine)}
    assert matches and all(course in m for m in matches)
    assert sorted(k for k in theirs if rds.exists(k)) == sorted(theirs)
