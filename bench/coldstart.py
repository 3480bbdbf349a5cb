"""Cold start: what a new container pays before its first answer.

For each function: the median wall time of fresh interpreters that import `functions.<name>.app`,
minus the median of bare interpreters (the same Python, `pass`), started alternately; then one
more fresh process that imports, serves one representative invocation against the throwaway
stores, and reports its peak RSS, the first invocation's latency, and whether qdrant_client or
boto3 were loaded by the import or only by the invocation. `python -X importtime` names the
heaviest imports, which is where a missed goal's cause is read.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Optional

from .common import ADMIN_TOKEN, ROOT, Row, function_exists, log

GOALS_MS = {"draft_session": 250, "cleanup_drafts": 300, "purge_course": 300}
HEAVY = ("qdrant_client", "boto3", "botocore", "psycopg", "psycopg_pool", "redis", "jwt", "pydantic",
         "aws_lambda_powertools", "numpy", "grpc", "httpx")

_CHILD = r"""
import json, sys, time

def peak_rss_mb():
    # VmHWM: this process image's peak resident set. (ru_maxrss would also count the parent's pages
    # the child carried until its exec, so a big parent would inflate it.)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

t0 = time.perf_counter()
import importlib
module = importlib.import_module(sys.argv[1])
imported_ms = (time.perf_counter() - t0) * 1000
heavy = sys.argv[2].split(",")
loaded_by_import = [m for m in heavy if m in sys.modules]
rss_import = peak_rss_mb()
event = json.loads(sys.stdin.read())
t1 = time.perf_counter()
result = module.handler(event, None)
first_ms = (time.perf_counter() - t1) * 1000
t2 = time.perf_counter()
module.handler(event, None)
second_ms = (time.perf_counter() - t2) * 1000
status = result.get("statusCode") if isinstance(result, dict) else None
print("BENCH-RESULT " + json.dumps({
    "import_ms": imported_ms, "first_ms": first_ms, "second_ms": second_ms, "status": status,
    "rss_import_mb": rss_import, "peak_rss_mb": peak_rss_mb(),
    "loaded_by_import": loaded_by_import,
    "loaded_after_call": [m for m in heavy if m in sys.modules and m not in loaded_by_import]}))
"""


def _spawn(args: list[str], env: dict) -> tuple[float, float]:
    """(wall ms, CPU ms) of one fresh interpreter. The CPU time (user + system) is what Lambda's
    share of a core would have to deliver; it moves less than the wall time when neighbours are busy."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu


def import_cost(name: str, env: dict, runs: int) -> dict:
    """Median (fresh process importing the app) - median (bare interpreter), alternated."""
    bare, full = [], []
    _spawn(["-c", "pass"], env)  # the first spawns warm the page cache for both
    _spawn(["-c", f"import functions.{name}.app"], env)
    for _ in range(runs):
        bare.append(_spawn(["-c", "pass"], env))
        full.append(_spawn(["-c", f"import functions.{name}.app"], env))
    med = lambda xs, i: statistics.median(x[i] for x in xs)  # noqa: E731
    return {"bare_ms": med(bare, 0), "with_app_ms": med(full, 0), "import_ms": med(full, 0) - med(bare, 0),
            "import_cpu_ms": med(full, 1) - med(bare, 1), "runs": runs}


def heaviest_imports(name: str, env: dict, top: int = 6) -> list[tuple[str, float]]:
    """Packages by import time (python -X importtime): for each top-level package, the cumulative
    time of its outermost imports (the least nested lines that name it)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import functions.{name}.app"], cwd=ROOT,
                         env=env, capture_output=True, text=True)
    best: dict[str, tuple[int, float]] = {}  # package -> (depth, cumulative ms at that depth)
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, module = line[len("import time:"):].split("|")
        try:
            cumulative_ms = float(cumulative) / 1000
        except ValueError:
            continue  # the header line
        depth = (len(module) - len(module.lstrip(" ")) - 1) // 2
        package = module.strip().split(".")[0]
        if package in ("functions", "encodings", "site"):
            continue
        seen = best.get(package)
        if seen is None or depth < seen[0]:
            best[package] = (depth, cumulative_ms)
        elif depth == seen[0]:
            best[package] = (depth, seen[1] + cumulative_ms)
    return sorted(((p, ms) for p, (_, ms) in best.items()), key=lambda kv: -kv[1])[:top]


def first_invocation(name: str, env: dict, event: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, f"functions.{name}.app", ",".join(HEAVY)], cwd=ROOT,
                         env=env, input=json.dumps(event), capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT "):])
    raise RuntimeError(f"cold start child for {name} failed: {out.stderr[-2000:]}")


def run(env: dict, events: dict[str, dict], *, runs: int = 5) -> list[Row]:
    rows = []
    child_env = {**os.environ, **env, "PYTHONDONTWRITEBYTECODE": "1"}
    for name, goal in GOALS_MS.items():
        if not function_exists(name):
            rows.append(Row(name=f"cold start {name}", how=f"import functions.{name}.app", baseline="bare interpreter",
                            goal=f"<= {goal} ms", met=None, notes=["functions/{name}/app.py does not exist yet"]))
            continue
        log(f"cold start: {name} ({runs} fresh processes + 1 invocation)")
        cost = import_cost(name, child_env, runs)
        first = first_invocation(name, child_env, events[name])
        heavy = heaviest_imports(name, child_env)
        met = cost["import_ms"] <= goal
        notes = [
            f"bare interpreter {cost['bare_ms']:.0f} ms, interpreter + import {cost['with_app_ms']:.0f} ms "
            f"(medians of {runs}); CPU time of the import {cost['import_cpu_ms']:.0f} ms",
            f"first invocation {first['first_ms']:.1f} ms (status {first['status']}), the next "
            f"{first['second_ms']:.1f} ms; peak RSS {first['peak_rss_mb']:.0f} MB "
            f"({first['rss_import_mb']:.0f} MB after the import)",
            "loaded by the import: " + (", ".join(first["loaded_by_import"]) or "-")
            + "; loaded by the first invocation: " + (", ".join(first["loaded_after_call"]) or "-"),
            "heaviest imports (-X importtime, cumulative): "
            + ", ".join(f"{m} {ms:.0f} ms" for m, ms in heavy),
        ]
        if name == "purge_course":
            lazy = "qdrant_client" not in first["loaded_by_import"]
            met = met and lazy
            notes.append("qdrant_client imported only when first used: " + ("yes" if lazy else "NO"))
        rows.append(Row(
            name=f"cold start {name}", how=f"fresh process: import functions.{name}.app, minus a bare interpreter",
            baseline="bare interpreter", goal=f"<= {goal} ms" + (", qdrant-client lazy" if name == "purge_course" else ""),
            base_p50=cost["bare_ms"], p50=cost["import_ms"], unit="ms",
            ratio=f"{cost['import_ms']:.0f} ms; peak RSS {first['peak_rss_mb']:.0f} MB; first call {first['first_ms']:.0f} ms",
            met=met, size=f"median of {runs}", notes=notes,
            cause="" if met else _cause(name, cost, heavy, first)))
    return rows


def _cause(name: str, cost: dict, heavy: list[tuple[str, float]], first: dict) -> str:
    top = ", ".join(f"{m} {ms:.0f} ms" for m, ms in heavy[:5])
    lazy_missed = [m for m in ("qdrant_client", "boto3") if m in first["loaded_by_import"]]
    text = (f"the import takes {cost['import_ms']:.0f} ms ({cost['import_cpu_ms']:.0f} ms of CPU); by -X importtime the "
            f"biggest parts are {top}. ")
    if lazy_missed:
        text += (f"{', '.join(lazy_missed)} are imported by the module itself though only some requests use them: "
                 "import them inside the adapter that does. ")
    else:
        text += ("What is left is what the first request needs: Powertools' route decorators and Logger with "
                 "pydantic (the wire models and their validation), redis-py (whose package imports asyncio), PyJWT "
                 "(cryptography only with SUPABASE_JWKS_URL), pydantic-settings; qdrant-client and boto3 load only "
                 "when used. ")
    text += ("What would close the rest: replacing Powertools' decorators, Logger and pydantic-settings with "
             "hand-written code, which this project does not do for a few tens of ms; at deployment, SnapStart "
             "(template.yaml's SnapStart parameter, restore hooks in functions/platform/snapstart.py) or "
             "provisioned concurrency start from an initialised container (README: Cold starts)")
    if cost["import_cpu_ms"] < 0.8 * cost["import_ms"]:
        text += (f". Busy neighbours stretched this run's wall time: the import's own CPU time was "
                 f"{cost['import_cpu_ms']:.0f} ms")
    return text


def run_all(stores, *, runs: int) -> list[Row]:
    """Cold start of every function, each with a representative first request on the bench stores."""
    import psycopg

    from .common import handler_env, make_users, user_token

    (user, org), = make_users(stores.pg_url, 1)
    with psycopg.connect(stores.pg_url, autocommit=True) as conn:
        course = conn.execute(
            "INSERT INTO courses (organization_id, user_id, title, slug, status, generation_status)"
            " VALUES (%s, %s, 'Cold start', 'cold-start-' || gen_random_uuid(), 'published', 'completed')"
            " RETURNING id", (org, user)).fetchone()[0]
    tmp = stores.tmp
    env = handler_env(stores, QDRANT_PATH=str(tmp / "coldstart-qdrant"), STORAGE_URL=f"file://{tmp / 'coldstart-files'}")
    events = {name: default_event(name, user_token(user), str(course)) for name in GOALS_MS}
    return run(env, events, runs=runs)


def default_event(name: str, token: str, course_id: Optional[str] = None) -> dict:
    """What a new container typically serves first: a new draft, the hourly run, a dry-run purge."""
    from .common import event

    if name == "draft_session":
        return event("POST", "/drafts", token, {"formData": {"topic": "Cold start"}})
    if name == "cleanup_drafts":
        return {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
    return event("DELETE", f"/courses/{course_id}", ADMIN_TOKEN, query="dryRun=true")
