"""SnapStart: the first request after a restore works (functions/platform/snapstart.py).

A restore is simulated the way it looks from the process: the connections it opened before the
snapshot are still objects in its pools, but their sockets lead nowhere (the proxies freeze every
connection already open: nothing is answered on them), while new connections work. The control
shows the restore hook is what makes the difference: without it the first request meets the dead
sockets and is a 503 after the store timeout.
"""

from __future__ import annotations

import sys
import types

import pytest

from functions.draft_session.app import handler
from functions.platform import snapstart
from tests.conftest import call
from tests.hung_store import HungStore, bounded


@pytest.fixture
def proxies(redis_server, pg_server, settings_env):
    with HungStore(target=redis_server.port) as r, HungStore(target=pg_server.port) as p:
        settings_env(REDIS_URL=r.url("redis", "/0"), DATABASE_URL=p.url("postgresql", "/app?user=postgres"),
                     STORE_TIMEOUT_SECONDS="1")
        yield r, p


def _snapshot_then_restore(user, proxies) -> None:
    """Before the snapshot the container served (its pools hold connections); then they are gone."""
    first = call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "before"}})
    assert first.status == 201, first
    done = call(handler, "POST", f"/drafts/{first.json['sessionId']}/materialize", token=user.token,
                body={"reason": "submit"})
    assert done.status == 201, done
    for proxy in proxies:
        assert proxy.freeze() >= 1, "the process held no connection to freeze: the test would prove nothing"


def _serve(user):
    created = bounded(lambda: call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "after"}}))
    if created.status != 201:
        return created
    return bounded(lambda: call(handler, "POST", f"/drafts/{created.json['sessionId']}/materialize",
                                token=user.token, body={"reason": "submit"}))


def test_the_first_requests_after_a_restore_work(make_user, proxies):
    user = make_user()
    _snapshot_then_restore(user, proxies)
    snapstart.after_restore()
    reply = _serve(user)
    assert reply.status == 201, reply


def test_without_the_restore_hook_the_first_request_meets_the_dead_sockets(make_user, proxies):
    user = make_user()
    _snapshot_then_restore(user, proxies)
    reply = _serve(user)
    assert reply.status == 503, reply


def test_the_hooks_are_registered_with_the_runtimes_library(monkeypatch):
    registered: dict = {}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = lambda fn: registered.setdefault("before", fn)  # type: ignore[attr-defined]
    fake.register_after_restore = lambda fn: registered.setdefault("after", fn)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    assert snapstart.register() is True
    assert registered == {"before": snapstart.before_snapshot, "after": snapstart.after_restore}
    monkeypatch.delitem(sys.modules, "snapshot_restore_py")
    monkeypatch.setattr(sys, "path", [])  # nowhere to find it, as outside Lambda
    assert snapstart.register() is False


def test_the_snapshot_warms_the_store_clients_without_connecting(redis_server, settings_env):
    from functions import wiring

    settings_env(REDIS_URL="redis://127.0.0.1:1/0", DATABASE_URL="postgresql://127.0.0.1:1/app")
    wiring.reset()
    snapstart.before_snapshot()  # would raise if it tried to reach the stores above
    for name in snapstart.WARM_MODULES:
        assert name in sys.modules
    assert "postgres" not in wiring.process().__dict__ and "redis" not in wiring.process().__dict__
