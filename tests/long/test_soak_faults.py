"""Soak under faults: 60 users autosave and materialize against the dev server over loopback HTTP
for about 60 seconds while the stores fail in turn: Redis killed (SIGKILL) and restarted, Postgres
stopped and restarted, Redis hung (accepts, never answers) and healed. The server process is never
restarted. Every reply is a documented one (a 503 always with Retry-After), nothing acknowledged is
lost, every materialized draft is exactly one row; the 503s per phase are recorded."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

import psycopg
import pytest

from devtools.localstores import LocalRedis
from tests.conftest import ADMIN_TOKEN, JWT_SECRET
from tests.dev_server import DevServer, HttpClient, wait_ready
from tests.drafts_workload import Crowd, SimUser, percentiles, totals, verify, wait_until
from tests.hung_store import HungStore
from tests.test_faults_draft_session import _fsync_always, crash

USERS = 60
PHASE_S = 8  # each fault lasts this long, then as long again to recover


@pytest.fixture
def durable_redis():
    state = Path(tempfile.mkdtemp(prefix="soak-redis-"))
    server = LocalRedis(state, durable=True).start()
    _fsync_always(server)
    yield server
    server.stop()
    shutil.rmtree(state, ignore_errors=True)


def test_soak_with_stores_failing_in_turn(durable_redis, pg_server, make_user, figures):
    proxy = HungStore(target=durable_redis.port)
    server = DevServer({"DATABASE_URL": pg_server.url, "REDIS_URL": proxy.url("redis", "/0"),
                        "SUPABASE_JWT_SECRET": JWT_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN,
                        "STORE_TIMEOUT_SECONDS": "1"})
    clients: list[HttpClient] = []
    try:
        org = make_user().org_id
        people = [make_user(org_id=org) for _ in range(USERS)]
        wait_ready(server, people[0].token)
        users = [SimUser(str(p.id), p.token, saves_per_draft=6) for p in people]

        local = threading.local()

        def send(method, path, token, body):
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = HttpClient(server)
                clients.append(client)
            return client.send(method, path, token, body)

        crowd = Crowd(users, send, pause=0.5, deadline_s=240)
        phases: dict[str, dict] = {}

        def phase(name: str, fault, heal, seen: str):
            """Inject a fault, hold it, heal it, and wait until every user gets through again."""
            before = dict(totals(users))
            fault()
            time.sleep(PHASE_S)
            healed_at = time.monotonic()
            heal()
            mark = {id(u): u.acked_saves for u in users}
            wait_until(lambda: all(u.acked_saves > mark[id(u)] for u in users), timeout=60,
                       what=f"recovery after {name}", crowd=crowd)
            after = dict(totals(users))
            phases[name] = {"repliesDuringFault": {k: after.get(k, 0) - before.get(k, 0)
                                                   for k in after if after.get(k, 0) != before.get(k, 0)},
                            "secondsToRecoverAllUsers": round(time.monotonic() - healed_at, 1)}
            outage = sum(v for k, v in after.items() if k.endswith(" 503")) - sum(
                v for k, v in before.items() if k.endswith(" 503"))
            assert outage > 0, f"{name}: the fault was never seen ({seen})"

        def restart_redis():
            durable_redis.start()
            _fsync_always(durable_redis)

        def stop_pg():
            pg_server.stop("fast")

        crowd.start()
        try:
            time.sleep(PHASE_S)
            phase("redis killed", lambda: crash(durable_redis), restart_redis, "saves and submits 503")
            time.sleep(PHASE_S)
            phase("postgres stopped", stop_pg, pg_server.start, "submits 503, saves go on")
            time.sleep(PHASE_S)
            phase("redis hung", proxy.hang, proxy.heal, "saves and submits 503 after the timeout")
            time.sleep(PHASE_S)
        finally:
            crowd.stop()

        verifier = HttpClient(server)
        with psycopg.connect(pg_server.url, autocommit=True) as db:
            result = verify(users, verifier.send, db)
        verifier.close()
        replies = totals(users)
        unexpected = {k: v for k, v in replies.items() if k.split()[1] not in ("200", "201", "503")}
        assert unexpected == {}, unexpected
        figures.record(
            "soak: 60 users over HTTP while Redis is killed, Postgres stopped, Redis hung, in turn",
            replies=dict(replies), lost=0, duplicates=0, acknowledgedSaves=result["acked_saves"],
            materialized=result["materialized"], drafts=result["drafts"], phases=phases,
            databaseFallbackDrafts=sum(1 for u in users for d in u.drafts if d.storage == "database"),
            save=percentiles(users, "save"), serverRestarts=0,
        )
    finally:
        for client in clients:
            client.close()
        server.stop()
        proxy.close()
