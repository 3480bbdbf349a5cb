"""The draft cleanup row: expired drafts deleted among 0 and among many live rows.

Three ways delete the same rows from the same starting state (the table is emptied and the same
seed copied back, then vacuumed, before each):
- raw: the ids fetched beforehand, `DELETE FROM courses WHERE id = ANY(%s)`, 5,000 a batch,
  autocommit: the least a batched delete of these rows can cost;
- project: the cleanup_drafts handler's scheduled entry, its drain of the purge queue switched
  off (the queue drain has its own row), each of its batches timed;
- spec: the source spec's pg_cron job, one `DELETE ... WHERE status = 'draft' AND
  generation_status IS NULL AND created_at < NOW() - INTERVAL '24 hours'`.
All three fire the purge trigger alike. While the project's and the spec's run, a writer inserts
and updates drafts of its own (its p99 set against its idle p99 just before), and a user updates
the expiring drafts next in line for deletion (how long that update waits for the cleanup's locks).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid

from .common import ROOT, Row, apply_env, collect, handler_env, log, percentile, quiet_stdout

RAW_BATCH = 5000
SPEC_DELETE = """DELETE FROM courses
WHERE status = 'draft'
  AND generation_status IS NULL
  AND created_at < NOW() - INTERVAL '24 hours'"""
EXPIRED = "status = 'draft' AND generation_status IS NULL AND created_at < now() - interval '24 hours'"
COLUMNS = "id, organization_id, user_id, title, slug, status, generation_status, created_at"


def _connect(url: str):
    import psycopg

    return psycopg.connect(url, autocommit=True, prepare_threshold=None)


def seed_tables(url: str, org: uuid.UUID, expired: int, live: int) -> None:
    """bench_seed_live and bench_seed_expired: what every variant starts from.

    Live rows: 70% published courses of the past year, 20% drafts younger than the cutoff, 10% old
    drafts whose generation started (never eligible). Expired: unused drafts 1-8 days old.
    """
    with _connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_seed_live, bench_seed_expired")
        conn.execute("""CREATE UNLOGGED TABLE bench_seed_live AS
            SELECT gen_random_uuid() AS id, %s::uuid AS organization_id, gen_random_uuid() AS user_id,
                   'Course ' || g AS title, 'live-' || g AS slug,
                   CASE WHEN g %% 10 < 7 THEN 'published' ELSE 'draft' END AS status,
                   CASE WHEN g %% 10 < 7 THEN 'completed' WHEN g %% 10 = 9 THEN 'pending' END AS generation_status,
                   CASE WHEN g %% 10 IN (7, 8) THEN now() - random() * interval '20 hours'
                        ELSE now() - random() * interval '365 days' END AS created_at
            FROM generate_series(1, %s) g""", (org, live))
        conn.execute("""CREATE UNLOGGED TABLE bench_seed_expired AS
            SELECT gen_random_uuid() AS id, %s::uuid AS organization_id, gen_random_uuid() AS user_id,
                   'Новый курс' AS title, 'expired-' || g AS slug, 'draft' AS status,
                   NULL::text AS generation_status,
                   now() - interval '1 day' - random() * interval '7 days' AS created_at
            FROM generate_series(1, %s) g""", (org, expired))


def reseed(url: str) -> None:
    """A configuration's starting state: live and expired rows mixed in one random heap order."""
    with _connect(url) as conn:
        conn.execute("TRUNCATE courses, purge_queue, cleanup_runs CASCADE")
        conn.execute(f"""INSERT INTO courses ({COLUMNS})
            SELECT {COLUMNS} FROM (SELECT * FROM bench_seed_live UNION ALL SELECT * FROM bench_seed_expired) s
            ORDER BY hashtext(s.slug)""")
        conn.execute("VACUUM ANALYZE courses")
        conn.execute("VACUUM ANALYZE purge_queue")


def refill(url: str) -> None:
    """The same expired drafts back after a variant deleted them (the live rows never moved): they
    land in the space their predecessors left, scattered among the live rows as before."""
    with _connect(url) as conn:
        conn.execute("DELETE FROM courses WHERE slug LIKE 'writer-%%' OR slug LIKE 'expired-%%'")
        conn.execute("TRUNCATE purge_queue, cleanup_runs")
        conn.execute("VACUUM courses")
        conn.execute(f"INSERT INTO courses ({COLUMNS}) SELECT {COLUMNS} FROM bench_seed_expired ORDER BY hashtext(slug)")
        conn.execute("VACUUM ANALYZE courses")
        conn.execute("VACUUM ANALYZE purge_queue")


def _remaining(conn) -> int:
    return conn.execute(f"SELECT count(*) FROM courses WHERE {EXPIRED}").fetchone()[0]


# --- the three ways ---

def raw_delete(url: str, batch: int = RAW_BATCH) -> dict:
    with _connect(url) as conn:
        ids = [r[0] for r in conn.execute(f"SELECT id FROM courses WHERE {EXPIRED}").fetchall()]
        batches = []
        start = time.perf_counter()
        for i in range(0, len(ids), batch):
            t = time.perf_counter()
            conn.execute("DELETE FROM courses WHERE id = ANY(%s)", (ids[i:i + batch],))
            batches.append((time.perf_counter() - t) * 1000)
        elapsed = time.perf_counter() - start
        left = _remaining(conn)
    return {"deleted": len(ids), "seconds": elapsed, "batches": batches, "left": left, "batch_size": batch}


class _TimedStore:
    """The project's cleanup store, each delete_batch call timed (nothing else changed)."""

    def __init__(self, store):
        self._store = store
        self.batches: list[tuple[float, float, int]] = []  # (start, ms, rows)

    def delete_batch(self, *args, **kwargs):
        start = time.perf_counter()
        n = self._store.delete_batch(*args, **kwargs)
        self.batches.append((start, (time.perf_counter() - start) * 1000, n))
        return n

    def __getattr__(self, name):
        return getattr(self._store, name)


def project_cleanup() -> dict:
    import functions.cleanup_drafts.app as app
    from functions.adapters.draft_cleanup import PostgresDraftCleanup
    from functions.cleanup.service import DraftCleanup
    from functions.purge.worker import DrainReport
    from functions.wiring import process

    proc = process()
    store = _TimedStore(PostgresDraftCleanup(proc.postgres))

    def no_drain(**_):  # the queue drain has its own row; here only the deletion is timed
        return DrainReport()

    proc.draft_cleanup = DraftCleanup(store, proc.draft_sessions.sessions, no_drain, proc.settings)
    start = time.perf_counter()
    with quiet_stdout():
        result = app.handler({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}, None)
    elapsed = time.perf_counter() - start
    del proc.draft_cleanup  # the next run builds the container's own again
    if "deleted" not in result:
        raise RuntimeError(f"the cleanup answered {result}")
    first = store.batches[0][0] if store.batches else start
    last = store.batches[-1][0] + store.batches[-1][1] / 1000 if store.batches else start
    return {"deleted": result["deleted"], "seconds": elapsed, "delete_seconds": last - first,
            "batches": [ms for _, ms, n in store.batches if n], "result": result, "window": (first, last)}


LOCKING = "FOR UPDATE SKIP LOCKED"
DELETE_BY_ID = "WHERE c.id = ANY (ARRAY(SELECT doomed.id FROM doomed))"
RECHECK = (" AND c.status = 'draft' AND c.generation_status IS NULL AND c.created_at < p_cutoff")


def install_lockfree_batch(url: str) -> bool:
    """bench_lockfree_delete_expired_drafts_batch(): the project's batch function with its batch found
    without a lock (no FOR UPDATE SKIP LOCKED) and the predicate checked again by the DELETE, which
    re-reads a row changed meanwhile (a started generation is kept). False when the project's
    function no longer has that shape (nothing to compare)."""
    with _connect(url) as conn:
        source = conn.execute(
            "SELECT pg_get_functiondef('public.delete_expired_drafts_batch(timestamptz, integer)'::regprocedure)"
        ).fetchone()[0]
        if LOCKING not in source or DELETE_BY_ID not in source:
            return False
        variant = source.replace(LOCKING, "").replace(DELETE_BY_ID, DELETE_BY_ID + RECHECK).replace(
            "public.delete_expired_drafts_batch(", "public.bench_lockfree_delete_expired_drafts_batch(", 1)
        conn.execute(variant)
    return True


def looped_batches(url: str, batch_size: int, function: str = "bench_lockfree_delete_expired_drafts_batch") -> dict:
    """A batch function looped as the handler loops the project's (one transaction a batch, until a
    batch finds nothing: for the lock-free one a short batch no longer says the rest is locked by
    another run). With the project's own function: the same loop, so the two compare like for like."""
    with _connect(url) as conn:
        cutoff = conn.execute("SELECT now() - interval '24 hours'").fetchone()[0]
        batches, deleted = [], 0
        start = time.perf_counter()
        while True:
            t = time.perf_counter()
            with conn.transaction():
                n = conn.execute(f"SELECT count(*) FROM public.{function}(%s, %s)", (cutoff, batch_size)).fetchone()[0]
            if n:
                batches.append((time.perf_counter() - t) * 1000)
            deleted += n
            if n == 0:
                break
        elapsed = time.perf_counter() - start
    return {"deleted": deleted, "seconds": elapsed, "batches": batches, "batch_size": batch_size}


def spec_delete(url: str) -> dict:
    with _connect(url) as conn:
        start = time.perf_counter()
        deleted = conn.execute(SPEC_DELETE).rowcount
        elapsed = time.perf_counter() - start
    return {"deleted": deleted, "seconds": elapsed, "batches": [elapsed * 1000]}


def _with_neighbours(url: str, org: uuid.UUID, batch_window: int, work,
                     idle_seconds: float) -> tuple[dict, list[float], list[float], list[float]]:
    """Run `work()` with the writer and the expiring-draft user (bench.neighbours) beside it.
    Returns (work's result, writer idle ms, writer during ms, user waits ms)."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.neighbours", url, str(org), str(batch_window), str(idle_seconds)],
                            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("bench.neighbours did not start")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        result = work()
        proc.stdin.write("stop\n")
        proc.stdin.flush()
        data = json.loads(proc.stdout.readline())
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return result, data["idle"], data["during"], data["waits"]


def batch_plan(url: str, batch_size: int) -> str:
    """The plan one batch of the project's cleanup runs (auto_explain, nested statements), rolled back.
    The batch is a SQL function, planned generically: what it does is only seen this way."""
    lines: list[str] = []
    with _connect(url) as conn:
        # Only the batch's own DELETE (the cascades' and the trigger's plans are logged too).
        conn.add_notice_handler(lambda diag: lines.append(diag.message_primary)
                                if "Delete on courses" in (diag.message_primary or "") else None)
        try:
            conn.execute("LOAD 'auto_explain'")
        except Exception:  # noqa: BLE001 - the contrib module is missing: no plan, no harm
            return ""
        with conn.transaction(force_rollback=True):
            for setting in ("auto_explain.log_min_duration = 0", "auto_explain.log_nested_statements = on",
                            "client_min_messages = log"):
                conn.execute(f"SET LOCAL {setting}")
            conn.execute("SELECT count(*) FROM public.delete_expired_drafts_batch(now() - interval '24 hours', %s)",
                         (batch_size,))
    return lines[0] if lines else ""


def _plan_summary(plan: str) -> str:
    """The join the batch's DELETE uses to find the locked rows again, in a few words."""
    if not plan:
        return ""
    if "Seq Scan on courses" in plan:
        return "hash join over a sequential scan of the whole courses table"
    if "Index Scan using courses_pkey" in plan or "Index Only Scan using courses_pkey" in plan:
        return "primary-key lookups"
    if "Tid Scan" in plan:
        return "a TID scan"
    return "see the plan"


def _doomed_estimate(plan: str) -> str:
    found = re.search(r"CTE Scan on doomed\s+\(cost=[\d.]+ rows=(\d+)", plan)
    return f"{int(found.group(1)):,}" if found else "many"


def _rate(r: dict) -> float:
    return r["deleted"] / r["seconds"] if r["seconds"] else 0.0


def run(stores, *, expired: int, live: int, rounds: int = 2, idle_seconds: float = 1.5) -> list[Row]:
    from .common import make_users

    apply_env(handler_env(stores, CLEANUP_TIME_BUDGET_SECONDS="900"))
    from functions.platform.settings import get_settings

    batch_size = get_settings().cleanup_batch_size
    (user, org), = make_users(stores.pg_url, 1)
    url = stores.pg_url
    results: dict[int, dict] = {}
    plans: dict[int, str] = {}
    for n_live in (0, live):
        log(f"cleanup: seeding {expired:,} expired drafts and {n_live:,} live rows")
        seed_tables(url, org, expired, n_live)
        reseed(url)
        plans[n_live] = batch_plan(url, batch_size)
        fresh = True
        comparable = install_lockfree_batch(url)
        runs: dict[str, list[dict]] = {"raw": [], "project": [], "spec": [], "lockfree": [], "locking": [],
                                       "raw_small": []}
        neighbours: dict[str, tuple] = {}
        for rnd in range(rounds):
            extra = ("spec", "raw_small") if rnd == 0 else ()
            for way in ("raw", "project") + (("lockfree", "locking") if comparable else ()) + extra:
                if not fresh:
                    refill(url)
                fresh = False
                collect()
                log(f"cleanup: {way} (live {n_live:,}, round {rnd + 1})")
                if way == "raw":
                    runs[way].append(raw_delete(url))
                    continue
                if way == "raw_small":  # the raw delete at the project's batch size: what batch size alone costs
                    runs[way].append(raw_delete(url, batch_size))
                    continue
                work = {"project": project_cleanup, "lockfree": lambda: looped_batches(url, batch_size),
                        "locking": lambda: looped_batches(url, batch_size, "delete_expired_drafts_batch"),
                        "spec": lambda: spec_delete(url)}[way]
                result, idle, during, waits = _with_neighbours(url, org, max(batch_size // 2, 1), work, idle_seconds)
                runs[way].append(result)
                if rnd == 0:
                    neighbours[way] = (idle, during, waits)
                with _connect(url) as conn:
                    left = _remaining(conn)
                if left:
                    raise RuntimeError(f"{way} left {left} expired drafts")
        results[n_live] = {"runs": runs, "neighbours": neighbours}
        with _connect(url) as conn:
            conn.execute("TRUNCATE courses, purge_queue, cleanup_runs CASCADE")
            conn.execute("DROP TABLE IF EXISTS bench_seed_live, bench_seed_expired")
    return _rows(results, plans, expired, live, batch_size)


def _best(runs: list[dict]) -> dict:
    return max(runs, key=_rate)


def _rows(results: dict, plans: dict, expired: int, live: int, batch_size: int) -> list[Row]:
    rows = []
    zero, full = results[0], results[live]
    for n_live, res in ((0, zero), (live, full)):
        raw, proj, spec = (_best(res["runs"][w]) for w in ("raw", "project", "spec"))
        rate_ratio = _rate(proj) / _rate(raw)
        batches = proj["batches"]
        worst_batch = max(batches) if batches else 0.0
        idle, during, waits = res["neighbours"]["project"]
        s_idle, s_during, s_waits = res["neighbours"]["spec"]
        lockfree = _best(res["runs"]["lockfree"]) if res["runs"]["lockfree"] else None
        lf_waits = res["neighbours"].get("lockfree", ((), (), ()))[2]
        locking = _best(res["runs"]["locking"]) if res["runs"]["locking"] else None
        idle_p99 = percentile(idle, 99) if idle else float("nan")
        during_p99 = percentile(during, 99) if during else float("nan")
        writer_ratio = during_p99 / idle_p99 if idle and during else float("nan")
        max_wait = max(waits) if waits else 0.0
        # One batch, plus the update's own cost (the writer's idle p99 measures a statement's cost here).
        wait_bound = worst_batch + idle_p99
        if wait_bound != wait_bound:  # NaN: the writer made no statement before the run (a tiny run)
            wait_bound = worst_batch + 5
        writer_ok = writer_ratio <= 2 or writer_ratio != writer_ratio  # NaN: not measured (a tiny run)
        met = rate_ratio >= 0.8 and worst_batch <= 100 and writer_ok and max_wait <= wait_bound
        cause = []
        joined = _plan_summary(plans.get(n_live, ""))
        if rate_ratio < 0.8:
            small = _best(res["runs"]["raw_small"]) if res["runs"]["raw_small"] else None
            why = f"its rate is {rate_ratio:.2f}x the raw primary-key delete's"
            if small:
                why += (f". The raw delete itself, in batches of {batch_size} instead of {RAW_BATCH}, runs at "
                        f"{_rate(small):,.0f} rows/s ({_rate(small) / _rate(raw):.2f}x): that much is the price of "
                        "batches short enough to keep a user's wait to one batch")
                if _rate(proj) / _rate(small) < 0.95 and lockfree and locking:
                    why += (f"; the rest (the project runs at {_rate(proj) / _rate(small):.2f}x of that) is the "
                            "handler's loop around the batches (per batch: its own transaction, the run's progress "
                            "row, the Python between them; the same batches looped bare run at "
                            f"{_rate(locking):,.0f} rows/s) and finding each batch in created_at order, not the row "
                            f"locks: the lock-free variant below runs at {_rate(lockfree) / _rate(locking):.2f}x "
                            "the locking one")
                elif _rate(proj) / _rate(small) < 0.95:
                    why += (f"; the rest (the project runs at {_rate(proj) / _rate(small):.2f}x of that) is finding "
                            "and locking each batch's rows and the handler's loop around them")
                else:
                    why += "; at that batch size the project keeps up with the raw delete"
            if joined.startswith("hash join"):
                why += (f"; on top of that, its DELETE finds the locked rows again by a {joined} in every batch "
                        "(delete_expired_drafts_batch is a SQL function, planned generically: with the LIMIT "
                        f"unknown it expects {_doomed_estimate(plans.get(n_live, ''))} rows, and a hash join "
                        "looks cheaper), so each batch costs as much as the table is large")
            if lockfree and locking:
                gain = _rate(lockfree) / _rate(locking)
                why += (f". The lock-free variant (each batch found without FOR UPDATE SKIP LOCKED, the predicate "
                        f"checked again by the DELETE), timed in this run: {_rate(lockfree):,.0f} rows/s "
                        f"({_rate(lockfree) / _rate(raw):.2f}x raw; {gain:.2f}x the project's batch looped the same "
                        f"way, {_rate(locking):,.0f} rows/s), slowest batch "
                        f"{max(lockfree['batches']) if lockfree['batches'] else 0:.0f} ms, a user's update waited <= "
                        f"{max(lf_waits) if lf_waits else 0:.0f} ms. "
                        + ("It is not worth its price: " if gain < 1.1 else
                           "What it costs, and why the project keeps its locks: ")
                        + "a run no longer skips a row a user holds (it waits for that user, up to the batch's "
                        "lock_timeout) and two overlapping runs wait on each other's batch instead of splitting "
                        "the work, promises tests/test_cleanup_drafts.py holds the project to")
            if small and _rate(small) / _rate(raw) < 0.8:
                why += (f". So 0.8x of a {RAW_BATCH:,}-row batched delete is out of reach for {batch_size:,}-row "
                        "batches here, whatever the SQL; larger batches (CLEANUP_BATCH_SIZE) close part of it at the "
                        "cost of a longer wait for a user and batches nearer 100 ms")
            cause.append(why)
        if worst_batch > 100:
            cause.append(f"its slowest batch took {worst_batch:.0f} ms (over 100 ms; median "
                         f"{percentile(batches, 50):.0f} ms): a batch of {batch_size} on this shared machine takes "
                         "that long when the neighbours are busy; a smaller batch would keep under it, at a lower rate")
        if writer_ratio > 2:
            cause.append(f"the writer's p99 rose {writer_ratio:.1f}x during the run ({idle_p99:.1f} -> {during_p99:.1f} ms; "
                         f"during the spec's DELETE {percentile(s_during, 99) if s_during else float('nan'):.1f} ms): the "
                         "cleanup keeps a backend busy on one of the 2 cores and writes WAL all along. No lock is "
                         "involved (the writer's rows are not the cleanup's); what would fix it is a short pause "
                         "between batches, paid for in rate")
        if max_wait > wait_bound:
            cause.append(f"a user's update waited {max_wait:.0f} ms, longer than the slowest batch "
                         f"({worst_batch:.0f} ms) and its own statement ({idle_p99:.1f} ms)")
        rows.append(Row(
            name=f"cleanup, {n_live:,} live rows",
            how=f"cleanup_drafts scheduled entry: batches of {batch_size} (delete_expired_drafts_batch, "
                "FOR UPDATE SKIP LOCKED), each its own transaction",
            baseline=f"DELETE ... WHERE id = ANY(...), {RAW_BATCH} a batch, ids fetched beforehand",
            goal=">= 0.8x the raw rate; no batch over 100 ms; writer p99 <= 2x idle; a user's update waits <= one batch",
            base_p50=_rate(raw), p50=_rate(proj), unit="rows/s",
            ratio=f"rate {rate_ratio:.2f}x; slowest batch {worst_batch:.0f} ms; writer p99 {writer_ratio:.2f}x idle; "
                  f"user's update waited <= {max_wait:.0f} ms",
            met=met, size=f"{expired:,} expired drafts among {n_live:,} live rows; best of "
                          f"{len(res['runs']['raw'])} runs each",
            notes=[
                f"raw: {raw['deleted']:,} rows in {raw['seconds']:.2f} s ({_rate(raw):,.0f} rows/s), batches of "
                f"{RAW_BATCH}: median {percentile(raw['batches'], 50):.0f} ms, max {max(raw['batches']):.0f} ms",
                f"project: {proj['deleted']:,} rows in {proj['seconds']:.2f} s through the handler "
                f"({proj['delete_seconds']:.2f} s deleting), {len(batches)} batches: median "
                f"{percentile(batches, 50) if batches else 0:.1f} ms, p99 {percentile(batches, 99) if batches else 0:.1f} ms, "
                f"max {worst_batch:.1f} ms; all runs: "
                + ", ".join(f"{_rate(r):,.0f}" for r in res["runs"]["project"]) + " rows/s (raw: "
                + ", ".join(f"{_rate(r):,.0f}" for r in res["runs"]["raw"]) + ")",
                f"the batch's DELETE finds the locked rows again by {joined or 'a plan not captured'} "
                "(auto_explain of one batch, rolled back)",
                *([f"the raw delete in batches of {batch_size:,} (the project's size): "
                   f"{_rate(_best(res['runs']['raw_small'])):,.0f} rows/s"] if res["runs"]["raw_small"] else []),
                *([f"the lock-free variant (no row lock to find a batch, the predicate checked again by the "
                   f"DELETE): {lockfree['deleted']:,} rows in {lockfree['seconds']:.2f} s ({_rate(lockfree):,.0f} "
                   f"rows/s), {len(lockfree['batches'])} batches: median {percentile(lockfree['batches'], 50):.1f} ms, "
                   f"max {max(lockfree['batches']):.1f} ms; a user's update of a draft next in line waited max "
                   f"{max(lf_waits) if lf_waits else 0:.1f} ms ({len(lf_waits)} updates)"
                   + (f"; the project's batch looped the same way (no handler, no run bookkeeping): "
                      f"{_rate(locking):,.0f} rows/s, max batch {max(locking['batches']):.1f} ms" if locking else "")]
                  if lockfree and lockfree["batches"] else []),
                f"the spec's single DELETE: {spec['deleted']:,} rows in {spec['seconds']:.2f} s "
                f"({_rate(spec):,.0f} rows/s) in one transaction",
                f"writer (inserts and updates of its own drafts): idle p99 {idle_p99:.2f} ms ({len(idle)} statements), "
                f"during the project's cleanup p99 {during_p99:.2f} ms ({len(during)}); during the spec's DELETE p99 "
                f"{percentile(s_during, 99) if s_during else float('nan'):.2f} ms ({len(s_during)})",
                f"a user's update of an expiring draft next in line: project max wait {max_wait:.1f} ms "
                f"(p50 {percentile(waits, 50) if waits else 0:.1f} ms, {len(waits)} updates); the spec's DELETE: max "
                f"{max(s_waits) if s_waits else 0:.0f} ms ({len(s_waits)} updates)",
            ],
            cause="; ".join(cause)))
    p0, p1 = _best(zero["runs"]["project"]), _best(full["runs"]["project"])
    growth = p1["delete_seconds"] / p0["delete_seconds"] if p0["delete_seconds"] else float("inf")
    r0, r1 = _best(zero["runs"]["raw"]), _best(full["runs"]["raw"])
    rows.append(Row(
        name="cleanup, cost as live rows grow",
        how=f"the project's deletion time with {live:,} live rows over its time with none",
        baseline="the same ratio for the raw primary-key delete",
        goal="1M-live / 0-live time <= 1.3",
        base_p50=r1["seconds"] / r0["seconds"] if r0["seconds"] else None, p50=growth, unit="x",
        ratio=f"{growth:.2f}x (raw {r1['seconds'] / r0['seconds']:.2f}x)",
        met=growth <= 1.3, size=f"{expired:,} expired drafts; 0 and {live:,} live rows",
        notes=[f"the batch's DELETE plan: with 0 live rows {_plan_summary(plans.get(0, '')) or '?'}; with "
               f"{live:,} {_plan_summary(plans.get(live, '')) or '?'}"
               + (" (the plan changes with the table's size, so this ratio compares two different plans)"
                  if _plan_summary(plans.get(0, '')) != _plan_summary(plans.get(live, '')) else "")]
              + ([f"the lock-free variant: {_best(full['runs']['lockfree'])['seconds'] / _best(zero['runs']['lockfree'])['seconds']:.2f}x"]
                 if zero["runs"]["lockfree"] and full["runs"]["lockfree"] else []),
        cause="" if growth <= 1.3 else (
            f"deleting among {live:,} live rows took {growth:.2f}x as long (the raw delete grew "
            f"{r1['seconds'] / r0['seconds']:.2f}x)"
            + ("; every batch scans the whole table (see the plan above)"
               if _plan_summary(plans.get(live, "")).startswith("hash join") else ""))))
    return rows
