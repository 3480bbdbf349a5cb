"""How long a caller waits for the 503 when a store hangs, at the production default
STORE_TIMEOUT_SECONDS (3): recorded as figures; the suite's fault tests prove the 503 itself."""

from __future__ import annotations

import time

import pytest

from functions.draft_session.app import handler
from tests.conftest import call
from tests.hung_store import HungStore
from tests.test_faults_draft_session import bounded


def timed(fn):
    start = time.perf_counter()
    reply = bounded(fn)
    return reply, round((time.perf_counter() - start) * 1000)


@pytest.fixture
def default_timeout(settings_env):
    settings_env(STORE_TIMEOUT_SECONDS="3")


def test_time_to_503_for_each_hung_store(default_timeout, make_user, settings_env, redis_server, pg_server, figures):
    user = make_user()
    found: dict[str, dict] = {}

    def one(name: str, fn, expect: int = 503):
        reply, ms = timed(fn)
        assert reply.status == expect, reply
        found[name] = {"status": reply.status, "ms": ms}

    with HungStore() as hung:
        settings_env(REDIS_URL=hung.url("redis", "/0"), STORE_TIMEOUT_SECONDS="3", DRAFT_DB_FALLBACK="false")
        one("redis hung, new connection: PATCH", lambda: call(
            handler, "PATCH", "/drafts/00000000-0000-4000-8000-000000000001", token=user.token,
            body={"formData": {"topic": "x"}}))
        settings_env(REDIS_URL=hung.url("redis", "/0"), STORE_TIMEOUT_SECONDS="3", DRAFT_DB_FALLBACK="true")
        one("redis hung, database fallback: POST", lambda: call(
            handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "x"}}), expect=201)

    with HungStore(target=redis_server.port) as proxy:
        settings_env(REDIS_URL=proxy.url("redis", "/0"), STORE_TIMEOUT_SECONDS="3", DRAFT_DB_FALLBACK="false")
        sid = call(handler, "POST", "/drafts", token=user.token, body={}).json["sessionId"]
        proxy.hang()
        one("redis silent on an open connection: PATCH", lambda: call(
            handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"topic": "x"}}))

    with HungStore() as hung:
        settings_env(DATABASE_URL=hung.url("postgresql", "/app"), STORE_TIMEOUT_SECONDS="3",
                     REDIS_URL=redis_server.url)
        sid = call(handler, "POST", "/drafts", token=user.token, body={}).json["sessionId"]
        one("postgres hung, new connection: materialize", lambda: call(
            handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"}))

    with HungStore(target=pg_server.port) as proxy:
        settings_env(DATABASE_URL=proxy.url("postgresql", "/app?user=postgres"), STORE_TIMEOUT_SECONDS="3",
                     REDIS_URL=redis_server.url)
        warm = call(handler, "POST", "/drafts", token=user.token, body={}).json["sessionId"]
        assert call(handler, "POST", f"/drafts/{warm}/materialize", token=user.token,
                    body={"reason": "submit"}).status == 201
        sid = call(handler, "POST", "/drafts", token=user.token, body={}).json["sessionId"]
        proxy.hang()
        one("postgres silent on a pooled connection: materialize", lambda: call(
            handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"}))

    figures.record("time to the answer when a store hangs (STORE_TIMEOUT_SECONDS=3)", **found)
