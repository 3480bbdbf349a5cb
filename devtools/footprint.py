"""What one function costs at cold start: import time (wall and CPU), and peak memory of one invocation.

template.yaml sizes MemorySize and Timeout from these numbers (its comments quote them):

    python -m devtools.footprint            # every function that exists, over throwaway local stores

Each function runs in a fresh interpreter (a cold container): import `functions.<name>.app`, then one
representative invocation against real Postgres and Redis (and Qdrant local mode / a file store for
the functions that use them). Peak memory is the child's VmHWM. On Lambda, CPU is proportional
to memory (one full vCPU at 1769 MB), so the import's CPU seconds predict the cold start at a size:
about cpu_s * 1769 / MemorySize.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ("draft_session", "purge_course", "cleanup_drafts")
ADMIN_TOKEN = "footprint-admin-token-0123456789abcdef"
JWT_SECRET = "footprint-jwt-secret-0123456789abcdef0123"
USER = uuid.UUID("00000000-0000-4000-8000-0000000f0001")
ORG = uuid.UUID("00000000-0000-4000-8000-0000000f000a")
EXPIRED_DRAFTS = 2000  # what one hourly run may meet after a quiet day of the old front end


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that across exec,
    so a child would report its parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _child(name: str) -> dict:
    """Runs inside the fresh interpreter: import, then the scenario; returns the measurements."""
    from devtools.events import function_url_event

    wall0, cpu0 = time.perf_counter(), _cpu()
    module = __import__(f"functions.{name}.app", fromlist=["handler"])
    imported = {"import_wall_s": round(time.perf_counter() - wall0, 3), "import_cpu_s": round(_cpu() - cpu0, 3),
                "rss_after_import_mb": _peak_rss_mb()}

    def http(method, path, token, body=None, query=""):
        data = json.dumps(body).encode() if body is not None else None
        event = function_url_event(method, path, query=query, body=data, headers={
            "authorization": f"Bearer {token}", "content-type": "application/json"})
        return module.handler(event, None)

    calls = []
    t0 = time.perf_counter()
    for label, call in _scenario(name, http, module.handler):
        start = time.perf_counter()
        result = call()
        status = result.get("statusCode") if isinstance(result, dict) and "statusCode" in result else "event"
        body = result.get("body") if status != "event" else json.dumps(result)
        calls.append({"call": label, "status": status, "ms": round((time.perf_counter() - start) * 1000, 1),
                      "answer": (body or "")[:300]})
    return {**imported, "calls": calls, "scenario_s": round(time.perf_counter() - t0, 3),
            "peak_rss_mb": _peak_rss_mb()}


def _user_token() -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": str(USER), "aud": "authenticated", "role": "authenticated", "iat": now,
                       "exp": now + 3600}, JWT_SECRET, algorithm="HS256")


def _scenario(name: str, http, handler):
    token = _user_token()
    if name == "draft_session":
        state: dict = {}

        def create():
            result = http("POST", "/drafts", token, {"formData": {"topic": "Python для начинающих"}})
            state["sid"] = json.loads(result["body"])["sessionId"]
            return result

        yield "POST /drafts", create
        yield "PATCH /drafts/{id}", lambda: http("PATCH", f"/drafts/{state['sid']}", token,
                                                 {"formData": {"language": "ru", "estimatedLessons": 12}})
        yield "GET /drafts", lambda: http("GET", "/drafts", token)
        yield "POST /drafts/{id}/materialize", lambda: http("POST", f"/drafts/{state['sid']}/materialize", token,
                                                            {"reason": "submit"})
    elif name == "purge_course":
        course = os.environ["FOOTPRINT_COURSE_ID"]
        yield "DELETE /courses/{id}?dryRun=true", lambda: http("DELETE", f"/courses/{course}", ADMIN_TOKEN,
                                                               query="dryRun=true")
        yield "DELETE /courses/{id}", lambda: http("DELETE", f"/courses/{course}", ADMIN_TOKEN)
    elif name == "cleanup_drafts":
        yield f"scheduled event ({EXPIRED_DRAFTS} expired drafts)", lambda: handler(
            {"source": "aws.scheduler", "action": "cleanup"}, None)
        yield "GET /health", lambda: http("GET", "/health", ADMIN_TOKEN)


VECTORS_PER_COURSE = 500  # a course of a few documents, chunked


def _seed(name: str, env: dict) -> dict:
    """What the function's scenario works on: a generated course with vectors, keys and files for the
    purge; a day's worth of expired drafts for the cleanup."""
    import psycopg

    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("INSERT INTO organizations (id, name) VALUES (%s, 'Footprint') ON CONFLICT DO NOTHING", (ORG,))
        conn.execute("INSERT INTO users (id, organization_id, email, role) VALUES (%s, %s, 'f@example.com', 'admin')"
                     " ON CONFLICT DO NOTHING", (USER, ORG))
        if name == "cleanup_drafts":
            conn.execute(
                "INSERT INTO courses (organization_id, user_id, title, slug, created_at)"
                " SELECT %s, %s, 'Old draft', 'old-' || gen_random_uuid(), now() - interval '3 days'"
                " FROM generate_series(1, %s)", (ORG, USER, EXPIRED_DRAFTS))
            return {}
        if name != "purge_course":
            return {}
        course = conn.execute(
            "INSERT INTO courses (organization_id, user_id, title, slug, status, generation_status)"
            " VALUES (%s, %s, 'Footprint', 'footprint-' || gen_random_uuid(), 'published', 'completed')"
            " RETURNING id", (ORG, USER)).fetchone()[0]
    _seed_course_content(str(course), env)
    return {"FOOTPRINT_COURSE_ID": str(course)}


def _seed_course_content(course: str, env: dict) -> None:
    import redis
    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=env["QDRANT_PATH"])
    collection = env.get("QDRANT_COLLECTION", "course_chunks")
    if not client.collection_exists(collection):
        client.create_collection(collection, vectors_config=models.VectorParams(size=64, distance=models.Distance.COSINE))
    client.upsert(collection, points=[models.PointStruct(
        id=str(uuid.uuid4()), vector=[(i % 7) / 7.0 + 0.01] * 64,
        payload={"course_id": course, "organization_id": str(ORG)}) for i in range(VECTORS_PER_COURSE)])
    client.close()  # local mode holds a lock on its directory; the child opens it next
    r = redis.Redis.from_url(env["REDIS_URL"])
    r.set(f"course:{course}", "x")
    r.mset({f"rag:{course}:{i}": "x" for i in range(50)})
    r.close()
    files = Path(env["STORAGE_URL"][len("file://"):]) / "uploads" / str(ORG) / course
    files.mkdir(parents=True, exist_ok=True)
    for i in range(5):
        (files / f"material-{i}.pdf").write_bytes(b"%PDF" + bytes(200_000))


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2])))
        return 0
    from devtools import localstores, migrate

    present = [n for n in FUNCTIONS if (ROOT / "functions" / n / "app.py").exists()]
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        tmp_path = Path(tmp)
        os.chmod(tmp, 0o755)  # the postgres user (when we are root) must reach its data directory
        pg = localstores.LocalPostgres(tmp_path / "pg").start()
        rd = localstores.LocalRedis(tmp_path / "redis").start()
        try:
            migrate.apply(pg.url, with_baseline=True, log=lambda *_: None)
            env = {**os.environ, "DATABASE_URL": pg.url, "REDIS_URL": rd.url, "SUPABASE_JWT_SECRET": JWT_SECRET,
                   "ADMIN_TOKEN": ADMIN_TOKEN, "QDRANT_PATH": str(tmp_path / "qdrant"),
                   "STORAGE_URL": f"file://{tmp_path / 'uploads'}", "PYTHONDONTWRITEBYTECODE": "1"}
            report = {"python": sys.version.split()[0], "functions": {}}
            for name in present:
                env.update(_seed(name, env))
                out = subprocess.run([sys.executable, "-m", "devtools.footprint", "--child", name], cwd=ROOT,
                                     env=env, capture_output=True, text=True)
                if out.returncode != 0:
                    report["functions"][name] = {"error": out.stderr.strip()[-2000:]}
                    continue
                report["functions"][name] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            rd.stop()
            pg.stop("immediate")
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
