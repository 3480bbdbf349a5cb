"""Real stores for the whole run: a throwaway Postgres (pg_cron preloaded) and a throwaway Redis,
started on free ports, migrated once, emptied between tests, stopped at the end.

The topology the functions see is chosen per run (`make test` runs the suite once as it is, then the
store suites again under the other topology):

    --postgres=direct   the functions connect to Postgres itself (the default)
    --postgres=pooled   through PgBouncer in transaction mode with its stock startup-parameter
                        setting, as Supabase's pooler (migrations and the `db` fixture stay direct)
    --redis=single      one redis-server (the default)
    --redis=cluster     a 3-primary Redis Cluster, REDIS_CLUSTER=true; `redis_server` and `rds` are
                        then the cluster and a cluster client
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import jwt
import psycopg
import pytest
import redis

from devtools import localstores, migrate
from devtools.events import function_url_event

JWT_SECRET = "test-jwt-secret-with-enough-length-0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
STATE = Path(tempfile.mkdtemp(prefix="course-drafts-test-"))
os.chmod(STATE, 0o755)  # the postgres user (when we are root) must reach its data directory


def pytest_addoption(parser):
    group = parser.getgroup("stores", "the topology of the stores the functions are pointed at")
    group.addoption("--postgres", choices=("direct", "pooled"), default="direct",
                    help="direct: the functions connect to Postgres; pooled: through PgBouncer in transaction mode")
    group.addoption("--redis", choices=("single", "cluster"), default="single",
                    help="single: one redis-server; cluster: a 3-primary Redis Cluster (REDIS_CLUSTER=true)")


def pytest_report_header(config):
    return f"stores: postgres {config.getoption('--postgres')}, redis {config.getoption('--redis')}"


@pytest.fixture(scope="session")
def pooled(request) -> bool:
    """The functions reach Postgres through the pooler in this run."""
    return request.config.getoption("--postgres") == "pooled"


@pytest.fixture(scope="session")
def clustered(request) -> bool:
    """The functions' Redis is a Redis Cluster in this run."""
    return request.config.getoption("--redis") == "cluster"


@pytest.fixture(scope="session")
def pg_server():
    server = localstores.LocalPostgres(STATE / "pg").start()
    migrate.apply(server.url, with_baseline=True, log=lambda *_: None)
    # Tests run the cleanup jobs' commands themselves: a real top-of-the-hour run would delete
    # other tests' old drafts mid-test.
    with psycopg.connect(server.url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('cron.job')").fetchone()[0]:
            conn.execute("SELECT cron.alter_job(jobid, active := false) FROM cron.job WHERE jobname IN "
                         "('cleanup-old-drafts-hourly', 'prune-cleanup-history-daily')")
    yield server
    server.stop("immediate")


@pytest.fixture(scope="session")
def pg_bouncer(pg_server):
    """PgBouncer in transaction mode in front of pg_server (started by the runs and tests that use it)."""
    server = localstores.LocalPgBouncer(STATE / "pgbouncer", pg_server).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def functions_database_url(request, pooled, pg_server) -> str:
    """Where the functions' DATABASE_URL points in this run."""
    return request.getfixturevalue("pg_bouncer").url if pooled else pg_server.url


@pytest.fixture(scope="session")
def redis_cluster():
    """A 3-primary Redis Cluster (the functions' Redis under --redis=cluster; cluster tests use it anyway)."""
    server = localstores.LocalRedisCluster(STATE / "redis-cluster").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(request, clustered):
    """The functions' Redis: one server, or the cluster (same url/start/stop/running)."""
    if clustered:
        yield request.getfixturevalue("redis_cluster")
        return
    server = localstores.LocalRedis(STATE / "redis").start()
    yield server
    server.stop()


def redis_client(server, **options):
    """A client of a test Redis, a cluster client for a cluster."""
    if isinstance(server, localstores.LocalRedisCluster):
        return redis.RedisCluster.from_url(server.url, **options)
    return redis.Redis.from_url(server.url, **options)


@pytest.fixture(scope="session", autouse=True)
def _environment(request):
    if all(item.get_closest_marker("unit") for item in request.session.items):
        yield  # only the domains' unit tests: no server
        return
    functions_database_url = request.getfixturevalue("functions_database_url")
    redis_server = request.getfixturevalue("redis_server")
    clustered = request.getfixturevalue("clustered")
    os.environ.update({
        "DATABASE_URL": functions_database_url,
        "REDIS_URL": redis_server.url,
        "REDIS_CLUSTER": "true" if clustered else "false",
        "SUPABASE_JWT_SECRET": JWT_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "STORE_TIMEOUT_SECONDS": "2",
    })
    reset_clients()
    yield
    reset_clients()
    shutil.rmtree(STATE, ignore_errors=True)


def reset_clients() -> None:
    """Forget settings, clients, stores and services (as a new Lambda container would start)."""
    from functions import wiring

    wiring.reset()


TABLES = ("audit_log", "rag_context_cache", "materials", "file_catalog", "assets", "lessons", "sections",
          "courses", "users", "organizations")


def pytest_collection_modifyitems(items):
    # tests/unit: the domains over in-memory fakes, no server started for them.
    for item in items:
        if "/tests/unit/" in str(item.fspath):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(autouse=True)
def clean_stores(request):
    """Every test starts from empty stores (servers restarted by a fault test come back first)."""
    if request.node.get_closest_marker("unit"):
        yield
        return
    pg_server, redis_server = request.getfixturevalue("pg_server"), request.getfixturevalue("redis_server")
    functions_database_url = request.getfixturevalue("functions_database_url")
    if not redis_server.running():
        redis_server.start()
    if not pg_server.running():
        pg_server.start()
        _wait_connectable(functions_database_url)  # the pooler, if any, reconnects to it
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        existing = {r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()}
        extra = [t for t in ("purge_queue", "cleanup_runs", "orphan_candidates", "orphan_sweeps", "orphan_findings")
                 if t in existing]
        conn.execute(f"TRUNCATE {', '.join(list(TABLES) + extra)} CASCADE")
    with redis_client(redis_server) as admin:
        admin.flushall()  # every primary of a cluster
    yield


def wait_until(predicate, what: str, limit: float = 20.0) -> None:
    """Poll `predicate` until it holds (a state another process reaches), failing after `limit` seconds."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {limit}s")
        time.sleep(0.02)


def _wait_connectable(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def settings_env(monkeypatch):
    """Change settings for one test: settings_env(DRAFT_DB_FALLBACK='false')."""

    def apply(**env):
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        reset_clients()

    yield apply
    monkeypatch.undo()
    reset_clients()


@pytest.fixture
def db(pg_server):
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def rds(redis_server):
    client = redis_client(redis_server, decode_responses=True)
    yield client
    client.close()


# --- people and tokens ---

def user_token(user_id, *, exp_in: int = 3600, secret: str = JWT_SECRET, **claims) -> str:
    now = int(time.time())
    payload = {"sub": str(user_id), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + exp_in}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm="HS256")


class Person:
    def __init__(self, user_id: uuid.UUID, org_id: uuid.UUID, role: str):
        self.id, self.org_id, self.role = user_id, org_id, role

    @property
    def token(self) -> str:
        return user_token(self.id)


@pytest.fixture
def make_user(db):
    def make(org_id=None, role="user") -> Person:
        org_id = org_id or db.execute("INSERT INTO organizations (name) VALUES ('Org') RETURNING id").fetchone()[0]
        user_id = db.execute("INSERT INTO users (organization_id, email, role) VALUES (%s, %s, %s) RETURNING id",
                             (org_id, f"{uuid.uuid4().hex[:8]}@example.com", role)).fetchone()[0]
        return Person(user_id, org_id, role)

    return make


# --- Function URL events ---

def url_event(method: str, path: str, *, token=None, body=None, raw_body=None, headers=None, query=None,
              content_type="application/json") -> dict:
    hdrs = {"content-type": content_type, **(headers or {})} if content_type else dict(headers or {})
    if token is not None:
        hdrs["authorization"] = f"Bearer {token}"
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    data = text.encode() if isinstance(text, str) else text
    return function_url_event(method, path, query=urlencode(query or {}), headers=hdrs, body=data)


class Reply:
    def __init__(self, raw: dict):
        self.status = raw["statusCode"]
        self.headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        self.text = raw.get("body") or ""
        self.json = json.loads(self.text) if self.text else None

    def __repr__(self):
        return f"<Reply {self.status} {self.text[:300]}>"


def call(handler, method: str, path: str, **kwargs) -> Reply:
    return Reply(handler(url_event(method, path, **kwargs), None))
