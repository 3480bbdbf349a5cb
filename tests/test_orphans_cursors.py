"""A crafted orphan-sweep cursor is a 400 (a bad request, not a store down paging on-call), and no
part of it reaches a storage path, a key pattern or SQL unless it is a position the sweep hands out."""

from __future__ import annotations

import base64
import json

import pytest

from functions.purge_course.app import handler
from tests.conftest import ADMIN_TOKEN, call
from tests.storage_fixtures import file_storage  # noqa: F401 - fixture


def cursor(positions) -> str:
    raw = json.dumps({"v": 1, "pos": positions}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("forged", [
    cursor({"files": {"phase": "uploads", "org": "../../etc"}}),
    cursor({"files": {"phase": "uploads", "orgAfter": "x/../../y"}}),
    cursor({"files": {"phase": "materials", "after": "*"}}),
    cursor({"files": {"phase": "elsewhere"}}),
    cursor({"files": {"phase": "uploads", "path": "/tmp"}}),
    cursor({"rag": "'; DROP TABLE courses; --"}),
    cursor({"qdrant": {"$gt": 1}}),
    cursor({"qdrant": -5}),
    cursor({"qdrant": True}),
    cursor({"redis": ["a"]}),
    cursor({"nowhere": "done"}),
    base64.urlsafe_b64encode(b"[" * 2500).decode(),  # nested too deep for json to read
    "not base64 at all !!",
    cursor([1, 2]),
])
@pytest.mark.parametrize("endpoint", ["/orphans/scan", "/orphans/purge"])
def test_a_forged_cursor_is_a_400_naming_the_cursor(file_storage, endpoint, forged, tmp_path):
    reply = call(handler, "POST", endpoint, token=ADMIN_TOKEN, body={"cursor": forged})
    assert reply.status == 400, reply
    assert reply.json["error"]["code"] == "bad_request"
    assert reply.json["error"]["details"][0]["field"] == "cursor"


def test_a_cursor_the_sweep_handed_out_is_taken(file_storage, settings_env):
    settings_env(ORPHAN_PAGE_SIZE="1", ORPHAN_TIME_BUDGET_SECONDS="0.001")
    first = call(handler, "POST", "/orphans/scan", token=ADMIN_TOKEN, body={})
    assert first.status == 200
    while not first.json["complete"]:
        first = call(handler, "POST", "/orphans/scan", token=ADMIN_TOKEN, body={"cursor": first.json["cursor"]})
        assert first.status == 200, first
