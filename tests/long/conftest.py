"""Long runs (`make test-long`, also in CI): each bounded in count and time, loopback only.

Every figure a test records with `figures.record(...)` is printed at the end of the run and written
to test-output/reliability-figures.json, so docs/RELIABILITY.md can quote a run it can reproduce.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "reliability-figures.json"
_FIGURES: dict[str, dict] = {}


class Figures:
    def record(self, name: str, **values) -> None:
        _FIGURES[name] = {**values, "recordedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text(json.dumps(_FIGURES, indent=2, ensure_ascii=False) + "\n")
    terminalreporter.write_sep("=", "reliability figures")
    for name, values in _FIGURES.items():
        shown = ", ".join(f"{k}={v}" for k, v in values.items() if k != "recordedAt")
        terminalreporter.write_line(f"{name}: {shown}")
    terminalreporter.write_line(f"(written to {OUTPUT.relative_to(ROOT)})")
