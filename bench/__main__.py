"""Run the benchmark suite against throwaway servers and write docs/BENCHMARKS.md.

    python -m bench                       # the issue's sizes (what `make bench` runs)
    python -m bench --size smoke          # tiny: checks the suite end to end (tests/test_bench_smoke.py)
    python -m bench --rows sessions,coldstart --out /some/where.md

Rows: sessions (create/get/patch, materialize), spec (the source spec's design), scale (1M other
sessions), cleanup, purge, drain, coldstart. Rows whose function is not in the tree yet are
reported as not measured.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path

from . import report
from .common import (
    ROOT,
    Row,
    Stores,
    apply_env,
    git_commit,
    handler_env,
    log,
    machine,
    network_hop_probe,
    server_versions,
)

SIZES = {
    "full": {"calls": 2000, "other_sessions": 1_000_000, "expired_drafts": 200_000, "live_rows": 1_000_000,
             "vectors": 10_000, "files": 2_000, "course_keys": 5_000, "other_keys": 1_000_000,
             "drain_plain": 10_000, "drain_with_data": 1_000, "coldstart_runs": 5, "saves_each": 100,
             "cleanup_rounds": 2},
    "smoke": {"calls": 30, "other_sessions": 2_000, "expired_drafts": 2_000, "live_rows": 5_000,
              "vectors": 50, "files": 20, "course_keys": 50, "other_keys": 2_000,
              "drain_plain": 50, "drain_with_data": 10, "coldstart_runs": 1, "saves_each": 10,
              "cleanup_rounds": 1},
}
ROWS = ("sessions", "spec", "scale", "cleanup", "purge", "drain", "coldstart", "metrics")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset of " + ",".join(ROWS))
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    parser.add_argument("--json", default=None, help="also write the figures as JSON here")
    for key in SIZES["full"]:
        parser.add_argument("--" + key.replace("_", "-"), type=int, default=None, help="override the size's figure")
    args = parser.parse_args(argv)
    sizes = dict(SIZES[args.size])
    for key in sizes:
        override = getattr(args, key)
        if override is not None:
            sizes[key] = override
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = set(wanted) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows: {', '.join(sorted(unknown))}")

    # A stopped run (SIGTERM) still stops its servers: SystemExit unwinds through Stores.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    command = os.environ.get("BENCH_COMMAND") or "python -m bench " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    started = time.time()
    meta = {"command": command.strip(), "date": report.now_iso(), "machine": machine(), "commit": git_commit(),
            "load_start": machine()["load_avg"], "size": args.size, "notes": [],
            "sizes": ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in sizes.items())}
    meta["notes"].append("network-hop mode (Redis and Postgres across a 0.5 ms delay): " + network_hop_probe())
    rows: list[Row] = []
    with Stores(redis_servers=2) as stores:
        meta["servers"] = server_versions(stores.pg_url, stores.redis_url(0))
        apply_env(handler_env(stores))
        for name in wanted:
            t0 = time.time()
            rows += _run_row(name, stores, sizes, meta)
            log(f"{name}: {time.time() - t0:.1f} s")
    meta["duration_s"] = time.time() - started
    meta["load_end"] = machine()["load_avg"]
    out = Path(args.out)
    report.write(rows, meta, out, Path(args.json) if args.json else None)
    log(f"wrote {out} ({meta['duration_s']:.0f} s)")
    for r in rows:
        log(f"  {r.name}: {r.ratio} -> {'met' if r.met else 'missed' if r.met is False else 'not measured'}")
    return 0


NEEDS = {  # what a row measures must be in the tree; otherwise the row says so instead of failing
    "cleanup": ("functions/cleanup_drafts/app.py", "functions/adapters/draft_cleanup.py"),
    "purge": ("functions/purge_course/app.py", "functions/purge/__init__.py"),
    "drain": ("functions/purge/__init__.py",),
}


def _missing(name: str) -> list[str]:
    return [path for path in NEEDS.get(name, ()) if not (ROOT / path).exists()]


def _run_row(name: str, stores: Stores, sizes: dict, meta: dict) -> list[Row]:
    from . import coldstart, sessions, spec_design

    missing = _missing(name)
    if missing:
        return [Row(name=name, how="-", baseline="-", goal="see issue 6", met=None,
                    notes=[f"not in this tree yet: {', '.join(missing)}"])]
    apply_env(handler_env(stores))
    if name == "sessions":
        return sessions.run(stores, n=sizes["calls"])
    if name == "spec":
        return spec_design.run(stores.redis_url(0), n=sizes["calls"], saves_each=sizes["saves_each"])
    if name == "scale":
        return sessions.run_at_scale(stores, n=max(sizes["calls"] // 2, 20), others=sizes["other_sessions"])
    if name == "cleanup":
        from . import cleanup

        return cleanup.run(stores, expired=sizes["expired_drafts"], live=sizes["live_rows"],
                           rounds=sizes["cleanup_rounds"], idle_seconds=1.5 if sizes["cleanup_rounds"] > 1 else 0.3)
    if name == "purge":
        from . import purge

        return purge.run(stores, vectors=sizes["vectors"], files=sizes["files"], keys=sizes["course_keys"],
                         other_keys=sizes["other_keys"])
    if name == "drain":
        from . import drain

        return drain.run(stores, plain=sizes["drain_plain"], with_data=sizes["drain_with_data"],
                         other_keys=sizes["other_keys"])
    if name == "coldstart":
        return coldstart.run_all(stores, runs=sizes["coldstart_runs"])
    if name == "metrics":
        from . import metrics

        return metrics.run(stores, n=sizes["calls"], runs=max(sizes["coldstart_runs"], 3))
    raise ValueError(name)


if __name__ == "__main__":
    sys.exit(main())
