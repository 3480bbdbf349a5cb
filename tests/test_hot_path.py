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


# --- issue 18: what the cold start and the request path leave out, and what they keep ---



def _child(env_extra: dict, code: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    from tests.dev_server import ROOT

    env = {k: v for k, v in os.environ.items() if k != "SUPABASE_JWKS_URL"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


_VERIFY = f"""
import json, sys, time, uuid
import functions.draft_session.app  # the function's own import, as a container's init runs it
from functions.platform import auth
from functions.platform.settings import load_settings
import jwt
loaded = "cryptography" in sys.modules
token = jwt.encode({{"sub": str(uuid.uuid4()), "aud": "authenticated", "role": "authenticated",
                    "exp": int(time.time()) + 60}}, {JWT_SECRET!r}, algorithm="HS256")
who = auth.Authenticator(load_settings(supabase_jwt_secret={JWT_SECRET!r})).authenticate(
    {{"authorization": "Bearer " + token}})
print(json.dumps({{"cryptography": loaded, "user": str(who.user_id), "has_crypto": jwt.algorithms.has_crypto}}))
"""


def test_without_a_jwks_url_the_draft_function_verifies_hs256_without_importing_cryptography():
    found = _child({}, _VERIFY)
    assert found["cryptography"] is False and found["has_crypto"] is False
    assert uuid.UUID(found["user"])  # the token still verifies: HS256 needs hmac only


def test_with_a_jwks_url_cryptography_is_imported_for_the_asymmetric_keys():
    found = _child({"SUPABASE_JWKS_URL": "https://example.invalid/auth/v1/.well-known/jwks.json"}, _VERIFY)
    assert found["cryptography"] is True and found["has_crypto"] is True


def test_a_connection_returned_moments_ago_is_not_checked_again_one_idle_is(monkeypatch):
    from psycopg_pool import ConnectionPool

    from functions.adapters import postgres
    from tests.wired import pg

    checks = []
    real = ConnectionPool.check_connection
    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(lambda conn: (checks.append(1), real(conn))))
    monkeypatch.setattr(postgres, "CHECK_AFTER_IDLE_SECONDS", 0.3)
    # A pool of its own: one left by earlier tests hands out connections idle for long (checked).
    from functions import wiring

    wiring.reset()
    pg().fetch_one("SELECT 1")  # a new connection: as fresh as one returned just now
    first = len(checks)
    for _ in range(5):
        pg().fetch_one("SELECT 1")  # returned moments ago (or made since): not checked
    assert len(checks) == first == 0
    time.sleep(0.4)
    pg().fetch_one("SELECT 1")  # idle past the bound: checked before use
    assert len(checks) == first + 1


def test_a_server_restarted_between_two_quick_calls_costs_no_503(pg_server):
    # The pooled connections, returned moments ago, are not checked before use: each dead one fails
    # its BEGIN and is replaced there, before anything of the unit is sent.
    import threading

    from functions.platform.errors import StoreUnavailable
    from tests.wired import pg

    barrier = threading.Barrier(3)
    def hold() -> None:  # three connections in the pool, all returned moments ago
        with pg().connection() as conn:
            conn.execute("SELECT 1")
            barrier.wait(timeout=10)
    threads = [threading.Thread(target=hold) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pg_server.stop()
    pg_server.start()
    answers = []
    for _ in range(3):
        try:
            answers.append(pg().fetch_one("SELECT 1")[0])
        except StoreUnavailable as exc:
            assert exc.applied is False  # nothing of the unit reached the server
            answers.append("503")
    print("after a restart:", answers)
    assert answers == [1, 1, 1]


def test_a_units_errors_reach_its_caller_whether_or_not_a_statement_was_sent():
    # The unit opens its connection with its first statement; an error before that one must not be
    # swallowed by the context that has nothing to close yet.
    import pytest

    from tests.wired import pg

    with pytest.raises(ValueError, match="before"):
        with pg().connection():
            raise ValueError("before any statement")
    with pytest.raises(ValueError, match="after"):
        with pg().connection() as conn:
            conn.execute("SELECT 1")
            raise ValueError("after one")
    assert pg().fetch_one("SELECT 1")[0] == 1
