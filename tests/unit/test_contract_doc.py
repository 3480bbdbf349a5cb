"""docs/API.md, the project's copy of the contract: word for word the shared one (where it sits beside
the repository), and naming exactly the routes the functions have (and docs/openapi.json documents)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / "docs" / "API.md"
SHARED = ROOT.parent / "shared" / "API.md"  # the platform's copy, when this checkout sits in its workspace
FUNCTIONS = ("draft_session", "purge_course", "cleanup_drafts")


def body(text: str) -> str:
    return re.sub(r"\A<!--.*?-->\n\n", "", text, flags=re.S)


@pytest.mark.skipif(not SHARED.exists(), reason="no shared API.md beside this checkout")
def test_docs_api_md_is_the_shared_contract_word_for_word():
    assert body(OURS.read_text(encoding="utf-8")) == SHARED.read_text(encoding="utf-8"), (
        "docs/API.md differs from the shared API.md: copy the new contract in (and build to it)")


def contract_routes() -> dict[str, set[tuple[str, str]]]:
    """Per function, the (METHOD, /path) its section's tables name, ids as {}."""
    text = body(OURS.read_text(encoding="utf-8"))
    found: dict[str, set[tuple[str, str]]] = {}
    for name in FUNCTIONS:
        section = text.split(f"## functions/{name}", 1)[1].split("\n## ", 1)[0]
        found[name] = {(m, re.sub(r"\{[^}]*\}", "{}", p))
                       for m, p in re.findall(r"\| `(GET|POST|PATCH|DELETE|PUT) (/[^`?\s]*)", section)}
    return found


def test_every_endpoint_of_the_contract_is_a_route_and_every_route_is_in_the_contract():
    import importlib

    document = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    for name, named in contract_routes().items():
        app = importlib.import_module(f"functions.{name}.app").app
        routes = {(r.method, re.sub(r"<[^>]*>", "{}", r.rule)) for r in app.table.routes}
        documented = {(method.upper(), re.sub(r"\{[^}]*\}", "{}", path[len(name) + 1:]))
                      for path, item in document["paths"].items() if path.startswith(f"/{name}/")
                      for method in item}
        assert named == routes == documented, name
