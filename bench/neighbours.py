"""What runs beside a cleanup, in a process of its own (so that the bench's own Python, running the
cleanup, cannot delay these timings through the GIL):

- a writer: inserts drafts of its own and updates them, back to back, timing each statement;
- a user: updates the expiring drafts next in line for deletion, timing how long each waits.

    python -m bench.neighbours DATABASE_URL ORG_ID WINDOW [IDLE_SECONDS]

It starts the writer at once and prints `ready` after an idle period; on `go` (stdin) it starts
the user and marks the start of the measured window; on `stop` it prints one JSON line:
{"idle": [ms...], "during": [ms...], "waits": [ms...]} and exits.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
import uuid

EXPIRED = "status = 'draft' AND generation_status IS NULL AND created_at < now() - interval '24 hours'"


def _connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, prepare_threshold=None)


def writer(url: str, org: uuid.UUID, samples: list, stop: threading.Event) -> None:
    mine: list[uuid.UUID] = []
    with _connect(url) as conn:
        i = 0
        while not stop.is_set():
            i += 1
            start = time.perf_counter()
            if i % 2 or not mine:
                cid = uuid.uuid4()
                conn.execute(
                    "INSERT INTO courses (id, organization_id, user_id, title, slug, status, created_at)"
                    " VALUES (%s, %s, %s, 'Writer', %s, 'draft', now())", (cid, org, uuid.uuid4(), f"writer-{cid.hex}"))
                mine.append(cid)
            else:
                conn.execute("UPDATE courses SET title = %s, updated_at = now() WHERE id = %s",
                             (f"Writer {i}", random.choice(mine)))
            samples.append((start, (time.perf_counter() - start) * 1000))
            time.sleep(0.002)  # a busy user, not a flood: the writer must not be the load itself


def user(url: str, window: int, waits: list, stop: threading.Event) -> None:
    with _connect(url) as conn:
        while not stop.is_set():
            row = conn.execute(f"SELECT id FROM courses WHERE {EXPIRED} ORDER BY created_at LIMIT 1 OFFSET %s",
                               (random.randrange(max(window, 1)),)).fetchone()
            if row is None:
                time.sleep(0.01)
                continue
            start = time.perf_counter()
            conn.execute("UPDATE courses SET title = 'Мой курс', updated_at = now() WHERE id = %s", (row[0],))
            waits.append((time.perf_counter() - start) * 1000)
            time.sleep(0.01)


def main() -> int:
    url, org, window = sys.argv[1], uuid.UUID(sys.argv[2]), int(sys.argv[3])
    idle = float(sys.argv[4]) if len(sys.argv) > 4 else 1.5
    samples: list = []
    waits: list = []
    stop = threading.Event()
    w = threading.Thread(target=writer, args=(url, org, samples, stop), daemon=True)
    w.start()
    time.sleep(idle)  # the writer alone first: its idle figures
    print("ready", flush=True)
    line = sys.stdin.readline().strip()
    t0 = time.perf_counter()
    u = threading.Thread(target=user, args=(url, window, waits, stop), daemon=True)
    if line == "go":
        u.start()
        sys.stdin.readline()  # stop
    t1 = time.perf_counter()
    stop.set()
    w.join(10)
    if u.is_alive() or line == "go":
        u.join(10)
    print(json.dumps({"idle": [ms for s, ms in samples if s < t0],
                      "during": [ms for s, ms in samples if t0 <= s < t1], "waits": waits}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
