"""docs/openapi.json: generated from the handlers' own routes and models, committed, and in sync."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from devtools import openapi

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "docs" / "openapi.json"
CONTRACT = ROOT.parent / "shared" / "API.md"  # beside the repository, as in CI


@pytest.fixture(scope="module")
def committed() -> dict:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def _operations(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in openapi.METHODS}


def test_the_committed_document_is_a_fresh_generation():
    assert COMMITTED.read_text(encoding="utf-8") == openapi.render(openapi.generate()), \
        "docs/openapi.json is stale: run `make openapi` and commit it"


def test_every_route_is_documented_and_every_documented_operation_is_a_route(committed):
    registered = {(method, f"/{name}{path}") for name in openapi.function_names() for method, path in openapi.routes(name)}
    documented = _operations(committed)
    assert registered - documented == set(), "routes without documentation (run `make openapi`)"
    assert documented - registered == set(), "documented operations no handler serves"


def test_the_document_is_valid_openapi_3_1(committed):
    assert committed["openapi"] == "3.1.0"
    validate(committed)


def test_every_operation_documents_its_success_and_the_contract_errors(committed):
    schemas = committed["components"]["schemas"]
    for method, path in _operations(committed):
        op = committed["paths"][path][method]
        assert op.get("summary"), f"{method} {path} has no summary"
        assert any(s.startswith("2") for s in op["responses"]), f"{method} {path} documents no success"
        for status in ("401", "503"):
            ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
            assert ref == "#/components/schemas/Error", f"{method} {path} {status}"
        if "{" in path:
            assert "404" in op["responses"], f"{method} {path} names a resource but documents no 404"
    assert set(schemas["Error"]["properties"]) == {"error"}
    assert set(schemas["ErrorBody"]["required"]) == {"code", "message"}


def test_request_bodies_are_the_models_the_handlers_validate_with(committed):
    """The draft form's schema is pydantic's own (FormData), not a copy that could drift."""
    from functions.draft_session.models import FormData

    documented = committed["components"]["schemas"]["FormData"]
    assert set(documented["properties"]) == set(FormData.model_fields)
    assert documented["additionalProperties"] is False  # unknown fields are a 422, as the contract says
    lessons = documented["properties"]["estimatedLessons"]["anyOf"][0]
    assert (lessons["minimum"], lessons["maximum"]) == (1, 200)


def _contract_routes(text: str) -> dict[str, set[tuple[str, str]]]:
    """`METHOD /path` cells of each `## functions/<name>` section of API.md, parameters as `{}`."""
    found: dict[str, set[tuple[str, str]]] = {}
    for section in re.split(r"^## ", text, flags=re.M):
        name = re.match(r"functions/(\w+)", section)
        if name:
            cells = re.findall(r"^\| `(GET|POST|PATCH|PUT|DELETE) (/[^`?]*)[^`]*`", section, flags=re.M)
            found[name.group(1)] = {(m.lower(), re.sub(r"\{\w+\}", "{}", p)) for m, p in cells}
    return found


@pytest.mark.skipif(not CONTRACT.exists(), reason="the contract (../shared/API.md) is not beside the repository")
def test_every_route_is_in_the_contract():
    contract = _contract_routes(CONTRACT.read_text(encoding="utf-8"))
    for name in openapi.function_names():
        served = {(m, re.sub(r"\{\w+\}", "{}", p)) for m, p in openapi.routes(name)}
        assert served - contract.get(name, set()) == set(), f"{name} serves routes API.md does not describe"


# --- the dev server serves the documents ---

@pytest.fixture
def dev_server():
    import threading
    from http.server import ThreadingHTTPServer

    from devtools.cors import CorsPolicy
    from devtools.devserver import _handler_of, _make_request_handler

    handlers = {name: _handler_of(name) for name in openapi.FUNCTIONS}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_request_handler(handlers, CorsPolicy.from_template(())))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _get_json(url: str) -> dict:
    from urllib.request import urlopen

    with urlopen(url, timeout=30) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/json"
        return json.loads(response.read())


def test_the_dev_server_serves_the_merged_and_the_per_function_documents(dev_server):
    merged = _get_json(f"{dev_server}/openapi.json")
    assert merged["paths"] == openapi.generate()["paths"]
    assert merged["servers"][0]["url"] == dev_server
    for name in openapi.function_names():
        own = _get_json(f"{dev_server}/{name}/openapi.json")
        assert own["servers"] == [{"url": f"/{name}"}]
        assert {(m, p) for p, item in own["paths"].items() for m in item} == openapi.routes(name)
