"""The queue drain row: how fast the purge worker empties the queue the hourly cleanup fills.

First `plain` deleted drafts with nothing in the other stores (what a cleanup mostly queues),
then `with_data` courses that each have keys, vectors and files. Both are deleted by one
set-based DELETE (the trigger queues them) and drained by the purge worker the hourly cleanup runs (`process().purge_worker().drain`),
the call the cleanup makes, with `other_keys` keys of other courses in Redis (left from the purge
row when it ran first). Keyspace scans are counted as SCAN traversals that start at cursor 0 on
the purge's Redis client, so that each is one pass over the whole keyspace, however many calls.
"""

from __future__ import annotations

import time
import uuid

from .common import Row, apply_env, collect, handler_env, log, make_users

KEYS_EACH, VECTORS_EACH, FILES_EACH = 3, 4, 2


class ScanCounter:
    """Counts keyspace traversals (SCAN calls with cursor 0) and SCAN calls on one client."""

    def __init__(self, client):
        self.client = client
        self.original = client.scan
        self.traversals = 0
        self.calls = 0

        def scan(cursor=0, *args, **kwargs):
            self.calls += 1
            if int(cursor) == 0:
                self.traversals += 1
            return self.original(cursor, *args, **kwargs)

        client.scan = scan

    def close(self) -> None:
        self.client.scan = self.original


def _seed(stores, env: dict, org: uuid.UUID, owner: uuid.UUID, n: int, with_data: bool) -> list[uuid.UUID]:
    import psycopg
    import redis

    ids = [uuid.uuid4() for _ in range(n)]
    with psycopg.connect(stores.pg_url, autocommit=True) as conn:
        conn.execute("""INSERT INTO courses (id, organization_id, user_id, title, slug)
                        SELECT id, %s, %s, 'Новый курс', 'drain-' || id FROM unnest(%s::uuid[]) AS id""",
                     (org, owner, ids))
    if with_data:
        from qdrant_client import models

        from functions.wiring import process

        from .purge import VECTOR_SIZE, _seed_files

        store = process().vectors()
        if not store.client.collection_exists(store.collection):
            store.client.create_collection(store.collection, vectors_config=models.VectorParams(
                size=VECTOR_SIZE, distance=models.Distance.COSINE))
        points = [models.PointStruct(id=str(uuid.uuid4()), vector=[0.5] * VECTOR_SIZE,
                                     payload={"course_id": str(cid), "organization_id": str(org)})
                  for cid in ids for _ in range(VECTORS_EACH)]
        for start in range(0, len(points), 1000):
            store.client.upsert(store.collection, points[start:start + 1000], wait=True)
        client = redis.Redis.from_url(env["REDIS_URL"])
        pipe = client.pipeline(transaction=False)
        for cid in ids:
            pipe.set(f"course:{cid}", "x")
            pipe.set(f"rag:{cid}:1", "x")
            pipe.set(f"idempotency:generation-{cid}-1", "x")
        pipe.execute()
        client.close()

        class _Files:  # the purge row's file seeding, two files a course
            def __init__(self, cid):
                self.id, self.org = cid, org

            def file_names(self, k):
                return [f"uploads/{org}/{self.id}/a.bin", f"materials/{self.id}/m/b.bin"][:k]

        for cid in ids:
            _seed_files(env["STORAGE_URL"], None, _Files(cid), FILES_EACH)
    return ids


def _drain(stores, ids: list[uuid.UUID]) -> dict:
    import psycopg

    from functions.platform.settings import get_settings
    from functions.wiring import process

    with psycopg.connect(stores.pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM courses WHERE id = ANY(%s)", (ids,))  # one set-based delete, as the cleanup's
    counter = ScanCounter(process().redis_bytes)
    collect()
    start = time.perf_counter()
    try:
        report = process().purge_worker().drain(  # as the cleanup calls it
            time_budget_s=900, batch_size=get_settings().purge_batch_size).as_dict()
    finally:
        counter.close()
    elapsed = time.perf_counter() - start
    with psycopg.connect(stores.pg_url, autocommit=True) as conn:
        purged = conn.execute("SELECT count(*) FROM purge_queue WHERE status = 'purged' AND course_id = ANY(%s)",
                              (ids,)).fetchone()[0]
    return {"seconds": elapsed, "report": report, "traversals": counter.traversals, "scan_calls": counter.calls,
            "purged": purged}


def run(stores, *, plain: int, with_data: int, other_keys: int) -> list[Row]:
    import psycopg
    import redis

    from .purge import load_other_keys

    env = handler_env(stores, REDIS_URL=stores.redis_url(1), QDRANT_URL=":memory:",
                      STORAGE_URL=f"file://{stores.tmp / 'drain-files'}")
    apply_env(env)
    from functions.platform.settings import get_settings

    batch = get_settings().purge_batch_size
    client = redis.Redis.from_url(env["REDIS_URL"])
    if abs(client.dbsize() - other_keys) > other_keys // 100:  # the purge row's keyspace, when it ran
        log(f"drain: loading {other_keys:,} other keys")
        client.flushall()
        load_other_keys(env["REDIS_URL"], other_keys)
    other_keys = client.dbsize()
    client.close()
    (owner, org), = make_users(stores.pg_url, 1)
    with psycopg.connect(stores.pg_url, autocommit=True) as conn:
        conn.execute("TRUNCATE purge_queue")
    rows = []
    for label, n, data in (("without files or vectors", plain, False), ("with keys, vectors and files", with_data, True)):
        log(f"drain: {n:,} deleted drafts {label}")
        ids = _seed(stores, env, org, owner, n, data)
        d = _drain(stores, ids)
        rate = d["purged"] / d["seconds"] if d["seconds"] else 0.0
        per_1000 = d["traversals"] * 1000 / n if n else 0.0
        met = per_1000 <= 1 and d["purged"] == n
        cause = ""
        if per_1000 > 1:
            cause = (f"{d['traversals']} traversals for {n:,} courses: the worker makes one per batch and claims "
                     f"{batch} entries a batch (PURGE_BATCH_SIZE){' and the run was smaller than 1,000' if n < 1000 else ''}; "
                     "claiming 1,000 or more a batch makes it 1 per 1,000 courses")
        if d["purged"] != n:
            cause = (cause + "; " if cause else "") + f"only {d['purged']:,} of {n:,} were purged within the budget"
        rows.append(Row(
            name=f"queue drain, {label}",
            how="the purge worker's drain (what the hourly cleanup calls) after one set-based DELETE",
            baseline="-",
            goal="courses purged per second (reported); keyspace scans per 1,000 courses: 1",
            p50=rate, unit="courses/s",
            ratio=f"{rate:,.0f} courses/s; {per_1000:.1f} keyspace scans per 1,000 courses",
            met=met, size=f"{n:,} courses; {other_keys:,} other keys in Redis; batches of {batch}",
            notes=[f"{d['purged']:,} purged in {d['seconds']:.2f} s; {d['traversals']} keyspace "
                   f"traversal{'s' if d['traversals'] != 1 else ''} in "
                   f"{d['scan_calls']:,} SCAN calls; worker report: {d['report']}",
                   "the rate is bound by the keyspace: each batch makes one SCAN traversal of all the "
                   f"{other_keys:,} keys, whatever its size"]
                  + ([f"each course: {KEYS_EACH} keys, {VECTORS_EACH} vectors (qdrant-client local mode), "
                      f"{FILES_EACH} files on disk"] if data else []),
            cause=cause))
    apply_env(handler_env(stores))
    return rows
