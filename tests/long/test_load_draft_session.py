"""Load, bounded: 200 simulated users autosave every 3 seconds for 60 seconds against the dev server
over loopback HTTP, materializing as they go, with one cleanup run in the middle. Zero errors, nothing
lost; p50/p99 latency and Redis memory per session are recorded (figures, not assertions)."""

from __future__ import annotations

import importlib.util
import json
import threading
import time

import pytest

from functions.adapters.redis_sessions import index_key, session_key
from tests.conftest import ADMIN_TOKEN, JWT_SECRET
from tests.dev_server import DevServer, HttpClient, wait_ready
from tests.drafts_workload import Crowd, SimUser, percentiles, totals, verify

USERS = 200
DURATION_S = 60
AUTOSAVE_EVERY_S = 3.0
OLD_DRAFTS = 300  # expired unused drafts for the mid-run cleanup to delete

# What a filled-in form weighs: the fields the front end autosaves, at typical lengths.
TYPICAL_FORM = {
    "language": "ru",
    "targetAudience": "Начинающие разработчики, которые знают основы синтаксиса и хотят писать веб-сервисы. " * 2,
    "learningOutcomes": "Понимать HTTP; писать обработчики; работать с базой данных; тестировать код. " * 3,
    "estimatedLessons": 12,
    "estimatedSections": 4,
    "lessonDuration": 45,
    "writingStyle": "conversational",
    "contentStrategy": "project-based",
    "formats": ["video", "text", "quiz"],
}


@pytest.fixture
def dev_server(pg_server, redis_server):
    server = DevServer({"DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url,
                        "SUPABASE_JWT_SECRET": JWT_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield server
    server.stop()


def seed_old_drafts(db, org_id, user_id, n: int) -> None:
    db.execute(
        """INSERT INTO courses (organization_id, user_id, title, slug, status, created_at)
           SELECT %s, %s, 'old draft', 'old-draft-' || g || '-' || substr(md5(random()::text), 1, 8), 'draft',
                  now() - interval '3 days'
           FROM generate_series(1, %s) g""", (org_id, user_id, n))


def cleanup_built() -> bool:
    return importlib.util.find_spec("functions.cleanup_drafts.app") is not None


def test_200_users_autosaving_for_60_seconds(dev_server, make_user, db, rds, figures):
    org = make_user().org_id
    people = [make_user(org_id=org) for _ in range(USERS)]
    seeder = make_user(org_id=org)
    seed_old_drafts(db, org, seeder.id, OLD_DRAFTS)
    wait_ready(dev_server, people[0].token)
    memory_before = rds.info("memory")["used_memory"]

    # 12 saves (36 s) per draft: each user submits its first draft mid-run and ends with one open.
    users = [SimUser(str(p.id), p.token, saves_per_draft=12, extra_form=TYPICAL_FORM) for p in people]
    local = threading.local()
    clients: list[HttpClient] = []

    def send(method, path, token, body):
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = HttpClient(dev_server)
            clients.append(client)
        return client.send(method, path, token, body)

    crowd = Crowd(users, send, pause=AUTOSAVE_EVERY_S, deadline_s=DURATION_S + 30)
    started = time.monotonic()
    crowd.start()
    cleanup = None
    try:
        time.sleep(DURATION_S / 2)
        if cleanup_built():
            admin = HttpClient(dev_server, prefix="/cleanup_drafts")
            t0 = time.perf_counter()
            status, cleanup, _ = admin.send("POST", "/cleanup", ADMIN_TOKEN, {})
            cleanup_ms = round((time.perf_counter() - t0) * 1000, 1)
            admin.close()
            assert status == 200, cleanup
        time.sleep(max(0.0, DURATION_S - (time.monotonic() - started)))
    finally:
        crowd.stop()
    elapsed = time.monotonic() - started

    # Redis memory per live session (session hash + index entry + the per-minute counters).
    live = sum(rds.zcard(index_key(u.user_id)) for u in users)
    memory_after = rds.info("memory")["used_memory"]
    open_draft = next(((u.user_id, d.sid) for u in users for d in u.drafts
                       if d.course_id is None and d.storage == "redis"), None)
    one_key = rds.memory_usage(session_key(*open_draft), samples=0) if open_draft else None

    verifier = HttpClient(dev_server)
    result = verify(users, verifier.send, db)
    verifier.close()
    replies = totals(users)
    non_2xx = {k: v for k, v in replies.items() if not k.split()[1].startswith("2")}
    assert non_2xx == {}, non_2xx  # zero errors: no 4xx, no 5xx, no 503 under load

    if cleanup_built():
        left = db.execute("SELECT count(*) FROM courses WHERE user_id = %s", (seeder.id,)).fetchone()[0]
        assert left == 0 and cleanup["deleted"] == OLD_DRAFTS, cleanup

    requests = sum(replies.values())
    figures.record(
        "load: 200 users autosaving every 3 s for 60 s (dev server, loopback HTTP)",
        users=USERS, seconds=round(elapsed, 1), requests=requests, requestsPerSecond=round(requests / elapsed, 1),
        errors=0, acknowledgedSaves=result["acked_saves"], materialized=result["materialized"],
        draftsOpened=result["drafts"], reconnects=sum(c.reconnects for c in clients),
        all=percentiles(users), save=percentiles(users, "save"), create=percentiles(users, "create"),
        materialize=percentiles(users, "materialize"),
        cleanup=({"deleted": cleanup["deleted"], "purgesProcessed": cleanup.get("purgesProcessed"),
                  "httpMs": cleanup_ms} if cleanup else "not built"),
    )
    figures.record(
        "redis memory per open draft at the end of the load run",
        liveSessions=live, usedMemoryDeltaBytes=memory_after - memory_before,
        bytesPerSessionAllIn=round((memory_after - memory_before) / max(live, 1)),
        memoryUsageOfOneSessionHash=one_key, formFields=len(TYPICAL_FORM) + 2,
    )
    for client in clients:
        client.close()


def test_redis_memory_per_session(make_user, rds, figures):
    """1000 open drafts (200 users x 5) with a typical form: used_memory grown, per draft."""
    from functions.draft_session.app import handler
    from tests.conftest import call

    org = make_user().org_id
    people = [make_user(org_id=org) for _ in range(200)]
    call(handler, "GET", "/drafts", token=people[0].token)  # scripts loaded, client connected
    before = rds.info("memory")["used_memory"]
    form = {**TYPICAL_FORM, "topic": "Python для начинающих: веб-сервисы", "description": "Курс о том, как " * 20}
    sids = []
    for person in people:
        for _ in range(5):
            reply = call(handler, "POST", "/drafts", token=person.token, body={"formData": form})
            assert reply.status == 201, reply
            sids.append((str(person.id), reply.json["sessionId"]))
    after = rds.info("memory")["used_memory"]
    body_bytes = len(json.dumps(form, ensure_ascii=False).encode())
    figures.record(
        "redis memory per open draft (1000 drafts, typical form)",
        drafts=len(sids), formJsonBytes=body_bytes, usedMemoryDeltaBytes=after - before,
        bytesPerDraftAllIn=round((after - before) / len(sids)),
        memoryUsageOfOneSessionHash=rds.memory_usage(session_key(*sids[0]), samples=0),
        memoryUsageOfOneUserIndex=rds.memory_usage(index_key(sids[0][0]), samples=0),
    )
