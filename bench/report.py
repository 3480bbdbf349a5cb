"""docs/BENCHMARKS.md, written from one run's rows (and a JSON copy of the same figures)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .common import Row

HEADER = """# Benchmarks

Written by `make bench` (bench/, issue 6); do not edit by hand. Every figure below comes from the one
run described under "The run". Each row sets the project's operation beside a raw store operation
(or the source spec's design) timed in the same run, interleaved call by call where calls are
short, so that the ratio holds on a shared, noisy machine even when the milliseconds move.
Latencies are milliseconds, "p50 / p99" over the calls counted in "size"; rows measured once (a
whole cleanup, a purge, a drain, a cold start) show one figure with its unit.
"""


def _fmt(value, unit: str = "ms") -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def _pair(p50, p99, unit: str) -> str:
    """'p50 / p99' for latencies; a single figure (with its unit) for rates, totals and ratios."""
    if p50 is None and p99 is None:
        return "-"
    if p99 is None:
        return f"{_fmt(p50, unit)} {unit}"
    return f"{_fmt(p50, unit)} / {_fmt(p99, unit)}" + (f" {unit}" if unit != "ms" else "")


def _met(row: Row) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[row.met]


def render(rows: list[Row], meta: dict) -> str:
    out = [HEADER, "## Summary", "",
           "| row | raw baseline p50 / p99 | project p50 / p99 | ratio | goal | result |",
           "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        base, proj = _pair(r.base_p50, r.base_p99, r.unit), _pair(r.p50, r.p99, r.unit)
        out.append(f"| {r.name} | {base} | {proj} | {r.ratio or '-'} | {r.goal} | {_met(r)} |")
    met = sum(1 for r in rows if r.met)
    missed = [r for r in rows if r.met is False]
    skipped = [r for r in rows if r.met is None]
    out += ["", f"{met} of {len(rows)} goals met, {len(missed)} missed, {len(skipped)} not measured.", ""]
    if missed:
        out += ["## Missed goals: cause and fix", ""]
        for r in missed:
            out.append(f"- **{r.name}** ({r.ratio}; goal {r.goal}): {r.cause or 'cause not established in this run.'}")
        out.append("")
    out += ["## Rows in detail", ""]
    for r in rows:
        out += [f"### {r.name}", "",
                f"- how: {r.how}",
                f"- raw baseline: {r.baseline}",
                f"- size: {r.size or '-'}",
                f"- goal: {r.goal}: {_met(r)}"]
        out += [f"- {note}" for note in r.notes]
        if r.cause:
            out.append(f"- cause{' and fix' if r.met is False else ''}: {r.cause}")
        out.append("")
    m = meta["machine"]
    out += ["## The run", "",
            f"- command: `{meta['command']}`",
            f"- sizes: {meta['sizes']}",
            f"- date: {meta['date']}; duration {meta['duration_s']:.0f} s; commit {meta['commit']}",
            f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['platform']}; "
            f"Python {m['python']}",
            f"- servers: Postgres {meta['servers'].get('postgres', '?')}, Redis {meta['servers'].get('redis', '?')} "
            "(throwaway, on loopback; Postgres with fsync off, as in the tests)",
            f"- load average (1, 5, 15 min) at the start: {meta['load_start']}; at the end: {meta['load_end']} "
            "(the machine is shared: other engineers' test runs share its 2 cores)",
            ""]
    if meta.get("notes"):
        out += ["## Notes", ""] + [f"- {n}" for n in meta["notes"]] + [""]
    return "\n".join(out)


def write(rows: list[Row], meta: dict, path: Path, json_path: Path | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(rows, meta), encoding="utf-8")
    if json_path:
        json_path.write_text(json.dumps({"meta": meta, "rows": [r.as_dict() for r in rows]}, indent=2,
                                        ensure_ascii=False, default=str), encoding="utf-8")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
