"""Documents generated from the code and committed (docs/openapi.json, docs/grafana-dashboard.json):
one way to write them, and one `--check` that fails when the committed copy is stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def render(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_or_check(output: Path, document: dict, *, regenerate: str, summary: str, args: list[str]) -> int:
    """Write `document` to `output`, or with --check in `args` exit 1 if the file differs from it."""
    fresh = render(document)
    name = output.relative_to(ROOT)
    if "--check" in args:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != fresh:
            print(f"{name} is stale: run `{regenerate}`", file=sys.stderr)
            return 1
        return 0
    output.parent.mkdir(exist_ok=True)
    output.write_text(fresh, encoding="utf-8")
    print(f"wrote {name} ({summary})")
    return 0
