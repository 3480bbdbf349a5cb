"""Schemathesis against the project's own OpenAPI document (docs/openapi.json) on the running dev
server, over loopback HTTP: generated valid and invalid requests for every documented operation.
Zero 5xx, every status documented, every response body matching its schema, the right content type."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ADMIN_TOKEN, JWT_SECRET
from tests.dev_server import DevServer, wait_ready

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]

schema = schemathesis.openapi.from_path(DOCUMENT)


@pytest.fixture(scope="module")
def dev_server(pg_server, redis_server):
    # Limits high: hundreds of generated creates must exercise the schema, not the 429.
    server = DevServer({"DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url,
                        "SUPABASE_JWT_SECRET": JWT_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN,
                        "DRAFT_MAX_SESSIONS_PER_USER": "10000", "DRAFT_MAX_CREATES_PER_MINUTE": "100000"})
    yield server
    server.stop()


@pytest.fixture
def caller(dev_server, make_user):
    """Headers for an operation: a user's token for draft_session, the admin token elsewhere."""
    user = make_user()
    wait_ready(dev_server, user.token)

    def headers_for(path: str) -> dict:
        token = user.token if path.startswith("/draft_session/") else ADMIN_TOKEN
        return {"Authorization": f"Bearer {token}"}

    return headers_for


@schema.parametrize()
@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_every_documented_operation_holds_its_schema(case, dev_server, caller):
    case.call_and_validate(base_url=dev_server.base, headers=caller(case.path), checks=CHECKS, timeout=30)
