"""What every benchmark row shares: throwaway stores, the handler's environment, timing and stats.

Timing is always interleaved: the raw store operation and the project's operation alternate call
by call (in a rotating order), so a neighbour's burst on this shared machine slows both alike and
the ratio between them stays meaningful even when the absolute figures move.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
JWT_SECRET = "bench-jwt-secret-with-enough-length-0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"


def log(*parts) -> None:
    """Progress goes to stderr: stdout belongs to the handlers' JSON log lines (silenced while timing)."""
    print("[bench]", *parts, file=sys.stderr, flush=True)


# --- stats ---

def percentile(samples: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    data = sorted(samples)
    if len(data) == 1:
        return data[0]
    pos = (len(data) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass
class Dist:
    """A latency distribution in milliseconds."""

    samples: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)

    @property
    def n(self) -> int:
        return len(self.samples)


Op = Callable[[], object]


def interleaved(ops: dict[str, Op | tuple[Op, Op]], n: int, *, warmup: int = 20,
                prepare: Optional[Callable[[int], None]] = None) -> dict[str, Dist]:
    """Run every op n times, alternating them call by call in a rotating order; times in ms.

    `prepare(i)` runs before round i, untimed (e.g. to build the next request's event). An op may
    be a pair (setup, op): the setup runs untimed right before it (e.g. to point at a server).
    """
    names = list(ops)
    pairs = {name: op if isinstance(op, tuple) else (None, op) for name, op in ops.items()}
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(-warmup, n):
        if prepare:
            prepare(i)
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            setup, op = pairs[name]
            if setup:
                setup()
            start = time.perf_counter_ns()
            op()
            elapsed = (time.perf_counter_ns() - start) / 1e6
            if i >= 0:
                times[name].append(elapsed)
    return {name: Dist(t) for name, t in times.items()}


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send fd 1 to /dev/null: the handlers still format and write their log line (as in Lambda,
    where stdout goes to CloudWatch), but the terminal is not flooded."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


# --- results ---

@dataclass
class Row:
    """One line of docs/BENCHMARKS.md's table, with the detail that explains it."""

    name: str
    how: str
    baseline: str  # what the raw baseline is
    goal: str
    base_p50: Optional[float] = None
    base_p99: Optional[float] = None
    p50: Optional[float] = None
    p99: Optional[float] = None
    unit: str = "ms"
    ratio: str = ""  # e.g. "p50 1.8x, p99 2.4x"
    met: Optional[bool] = None  # None: not measured (the code under test is missing)
    size: str = ""
    cause: str = ""  # for a missed goal: why, and what would fix it
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("inf")


# --- the machine ---

def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib, "python": sys.version.split()[0],
            "platform": platform.platform(), "load_avg": _loadavg()}


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def server_versions(pg_url: str, redis_url: str) -> dict:
    import psycopg
    import redis

    with psycopg.connect(pg_url, autocommit=True) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        cron = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'").fetchone()[0]
    rv = redis.Redis.from_url(redis_url).info("server")["redis_version"]
    return {"postgres": pg + (" (pg_cron)" if cron else ""), "redis": rv}


# --- throwaway stores ---

class Stores:
    """A throwaway Postgres (pg_cron preloaded, migrated) and Redis servers on free ports.

    `redis_servers` > 1 starts more, so that a row can set an empty store beside a full one and
    interleave calls between them.
    """

    def __init__(self, redis_servers: int = 2):
        from devtools import localstores

        self.tmp = Path(tempfile.mkdtemp(prefix="course-drafts-bench-"))
        os.chmod(self.tmp, 0o755)  # the postgres user (when we are root) must reach its data directory
        self.pg = localstores.LocalPostgres(self.tmp / "pg")
        self.redis = [localstores.LocalRedis(self.tmp / f"redis{i}") for i in range(redis_servers)]

    def __enter__(self) -> Stores:
        from devtools import migrate

        self.pg.start()
        for server in self.redis:
            server.start()
        migrate.apply(self.pg.url, with_baseline=True, log=lambda *_: None)
        with self._pg() as conn:
            # The bench runs the cleanup itself: pg_cron's top-of-the-hour run must not cut in.
            if conn.execute("SELECT to_regclass('cron.job')").fetchone()[0]:
                conn.execute("SELECT cron.alter_job(jobid, active := false) FROM cron.job")
        try:
            with self._pg() as conn:  # a little more room for the bulk loads than the defaults give
                conn.execute("ALTER SYSTEM SET maintenance_work_mem = '256MB'")
                conn.execute("ALTER SYSTEM SET max_wal_size = '4GB'")
                conn.execute("SELECT pg_reload_conf()")
        except Exception:  # noqa: BLE001 - a tuning hint only
            pass
        return self

    def _pg(self):
        import psycopg

        return psycopg.connect(self.pg.url, autocommit=True)

    def __exit__(self, *exc) -> None:
        import shutil

        for server in self.redis:
            server.stop()
        self.pg.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def pg_url(self) -> str:
        return self.pg.url

    def redis_url(self, i: int = 0) -> str:
        return self.redis[i].url


def handler_env(stores: Stores, **extra: str) -> dict[str, str]:
    """The functions' environment for a bench run (limits raised so the bench measures work, not 429s)."""
    env = {
        "DATABASE_URL": stores.pg_url,
        "REDIS_URL": stores.redis_url(0),
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "DRAFT_MAX_SESSIONS_PER_USER": "10000",
        "DRAFT_MAX_CREATES_PER_MINUTE": "100000",
        "POWERTOOLS_DEV": "false",
    }
    env.update(extra)
    return env


def apply_env(env: dict[str, str]) -> None:
    """Point this process's functions at `env` (a fresh container: settings, pools, clients forgotten)."""
    os.environ.update(env)
    reset_clients()


def reset_clients() -> None:
    """A new container: settings, clients, stores and services forgotten (functions/wiring.py)."""
    from functions import wiring

    wiring.reset()


def user_token(user_id: uuid.UUID) -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": str(user_id), "aud": "authenticated", "role": "authenticated", "iat": now,
                       "exp": now + 6 * 3600}, JWT_SECRET, algorithm="HS256")


def make_users(pg_url: str, n: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """n users of one organization: [(user_id, org_id)]."""
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        org = conn.execute("INSERT INTO organizations (name) VALUES ('Bench') RETURNING id").fetchone()[0]
        rows = conn.execute(
            "INSERT INTO users (organization_id, email, role) SELECT %s, 'bench' || g || '@example.com', 'user'"
            " FROM generate_series(1, %s) g RETURNING id", (org, n)).fetchall()
    return [(r[0], org) for r in rows]


def event(method: str, path: str, token: str, body=None, query: str = "") -> dict:
    from devtools.events import function_url_event

    data = json.dumps(body).encode() if body is not None else None
    return function_url_event(method, path, query=query, body=data, headers={
        "authorization": f"Bearer {token}", "content-type": "application/json"})


def function_exists(name: str) -> bool:
    return (ROOT / "functions" / name / "app.py").exists()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "functions", "sql"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + (" (with uncommitted changes in functions/ or sql/)" if dirty else "")
    except OSError:
        return "?"


def collect() -> None:
    """A full collection before a timed section, so one row's garbage is not charged to the next."""
    gc.collect()


def network_hop_probe() -> str:
    """Whether this machine can put a 0.5 ms delay between the functions and the stores (a network
    namespace joined by a veth pair with `tc netem` on it), said in a line for the report. The
    bench's rows run on loopback either way; the mode that reruns them across the delay is not
    built, since no machine it ran on could delay a packet (see the line this returns)."""
    import shutil

    if os.geteuid() != 0:
        return "not measured: a network namespace and tc need root"
    if not (shutil.which("ip") and shutil.which("tc")):
        return "not measured: iproute2 (ip, tc) is not installed"
    name = f"bh{os.getpid() % 100000}"  # an interface name has at most 15 characters
    try:
        made = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"],
                              capture_output=True, text=True)
        if made.returncode:
            return f"not measured: a veth pair cannot be made here ({made.stderr.strip()})"
        netem = subprocess.run(["tc", "qdisc", "add", "dev", name, "root", "netem", "delay", "0.5ms"],
                               capture_output=True, text=True)
        if netem.returncode:
            return (f"not measured: this machine's kernel has no netem qdisc (`tc qdisc add ... netem delay 0.5ms`: "
                    f"{netem.stderr.strip()}), so no delay can be put on a path to the stores; the rows' causes "
                    "give the arithmetic for a 0.5 ms hop instead")
        return "not measured: netem works on this machine, but the mode that reruns the rows across it is not built"
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)
