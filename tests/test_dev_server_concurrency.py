"""`make dev` runs a function's requests side by side, as Lambda runs containers (DEV_CONCURRENCY):
a request that waits does not hold up the others, so races that production meets are met locally."""

from __future__ import annotations

import json
import threading
import time

import psycopg
import pytest

from tests.conftest import ADMIN_TOKEN, JWT_SECRET
from tests.dev_server import DevServer, HttpClient, wait_ready


@pytest.fixture
def dev_server(pg_server, redis_server):
    server = DevServer({"DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url,
                        "SUPABASE_JWT_SECRET": JWT_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN, "DEV_CONCURRENCY": "2"})
    yield server
    server.stop()


def test_a_request_waiting_on_a_lock_does_not_hold_up_the_next_one(dev_server, make_user, pg_server):
    user = make_user()
    wait_ready(dev_server, user.token)
    tab = HttpClient(dev_server)
    status, session, _ = tab.send("POST", "/drafts", user.token, {"formData": {"topic": "waits"}})
    assert status == 201
    box: dict = {}
    with psycopg.connect(pg_server.url, autocommit=True) as blocker:
        with blocker.transaction():
            blocker.execute("LOCK TABLE courses IN EXCLUSIVE MODE")  # no insert gets through until we let go
            submit = threading.Thread(target=lambda: box.update(reply=HttpClient(dev_server).send(
                "POST", f"/drafts/{session['sessionId']}/materialize", user.token, {"reason": "submit"})), daemon=True)
            submit.start()
            with psycopg.connect(pg_server.url, autocommit=True) as watcher:
                deadline = time.monotonic() + 30
                while not watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE '%%INSERT INTO courses%%'").fetchone()[0]:
                    assert time.monotonic() < deadline and submit.is_alive(), "the materialize never met the lock"
                    time.sleep(0.05)
            status, listed, _ = HttpClient(dev_server).send("GET", "/drafts", user.token, None)
            assert status == 200
            assert submit.is_alive(), "the list was answered only after the materialize: one request at a time"
    submit.join(30)
    assert box["reply"][0] == 201, box
    assert "4 requests at once" not in dev_server.output() and "2 requests at once" in dev_server.output()


def test_a_malformed_concurrency_stops_the_dev_server_with_one_line(pg_server, redis_server):
    server = DevServer({"DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url, "DEV_CONCURRENCY": "many"},
                       wait=False)
    try:
        assert server.proc.wait(60) == 1
        out = server.output().strip().splitlines()
        assert out == ["cannot start: DEV_CONCURRENCY must be a whole number from 1 to 64, not 'many'"], out
        assert "Traceback" not in json.dumps(out)
    finally:
        server.stop()
