"""Strict at every door (API.md): a query parameter an endpoint does not take, one given twice, or a
body where none is taken is a 400 naming it, before anything is read or changed. A destructive call
never acts on input it did not understand: `?dryrun=true` is a 400, never a real purge."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.cleanup_drafts.app import app as cleanup_app
from functions.cleanup_drafts.app import handler as cleanup
from functions.draft_session.app import app as draft_app
from functions.draft_session.app import handler as drafts
from functions.purge_course.app import app as purge_app
from functions.purge_course.app import handler as purge
from tests.conftest import ADMIN_TOKEN, Reply, url_event

FUNCTIONS = [("draft_session", draft_app, drafts), ("purge_course", purge_app, purge),
             ("cleanup_drafts", cleanup_app, cleanup)]
ROUTES = [(name, handler, route) for name, app, handler in FUNCTIONS for route in app.table.routes]


def raw_call(handler, method: str, path: str, *, token: str, raw_query: str = "", body=None) -> Reply:
    event = url_event(method, path, token=token, body=body)
    event["rawQueryString"] = raw_query
    return Reply(handler(event, None))


@pytest.fixture
def world(db, rds, make_user):
    """A user with an open draft, a course, an expired draft: what a wrongly run call would change."""
    user = make_user()
    session = Reply(drafts(url_event("POST", "/drafts", token=user.token, body={"formData": {"topic": "kept"}}), None))
    course = uuid.uuid4()
    db.execute("INSERT INTO courses (id, organization_id, user_id, title, slug, status) VALUES (%s, %s, %s, 't', %s, 'ready')",
               (course, user.org_id, user.id, f"s-{course}"))
    db.execute("""INSERT INTO courses (organization_id, user_id, title, slug, created_at)
                  VALUES (%s, %s, 'old', 'old-draft', now() - interval '3 days')""", (user.org_id, user.id))

    def state():
        return (db.execute("SELECT count(*), count(*) FILTER (WHERE title = 'old') FROM courses").fetchone(),
                db.execute("SELECT count(*) FROM purge_queue").fetchone()[0],
                db.execute("SELECT count(*) FROM cleanup_runs").fetchone()[0],
                sorted(rds.scan_iter(count=1000)), rds.hgetall(f"draft:session:{{{user.id}}}:{session.json['sessionId']}"))

    return {"user": user, "session": session.json["sessionId"], "course": str(course), "state": state}


def _path(route, world) -> str:
    ident = world["course"] if "course" in route.rule else world["session"]
    return route.rule.replace("<session_id>", ident).replace("<course_id>", ident)


def _token(name: str, world) -> str:
    return world["user"].token if name == "draft_session" else ADMIN_TOKEN


def _body(route):
    if "materialize" in route.rule:
        return {"reason": "submit"}
    if route.method == "PATCH":
        return {"formData": {"topic": "changed"}}
    return {} if route.body else None


def assert_refused(reply, field: str) -> None:
    assert reply.status == 400, reply
    assert reply.json["error"]["code"] == "bad_request"
    assert field in [d["field"] for d in reply.json["error"]["details"]], reply


NAMES = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF, blacklist_characters="&=#%+"),
                min_size=1, max_size=24)


@pytest.mark.parametrize("name,handler,route", ROUTES, ids=[f"{r.method} {n}{r.rule}" for n, _, r in ROUTES])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(param=NAMES, value=st.text(max_size=12))
def test_an_unknown_query_parameter_on_any_route_is_a_400_and_changes_nothing(world, name, handler, route, param,
                                                                               value):
    if param in route.query:
        return
    before = world["state"]()
    reply = raw_call(handler, route.method, _path(route, world), token=_token(name, world),
                     raw_query=urlencode({param: value}), body=_body(route))
    assert_refused(reply, param)
    assert world["state"]() == before


@pytest.mark.parametrize("name,handler,route", [r for r in ROUTES if not r[2].body],
                         ids=[f"{r.method} {n}{r.rule}" for n, _, r in ROUTES if not r.body])
def test_a_body_where_none_is_taken_is_a_400_and_changes_nothing(world, name, handler, route):
    before = world["state"]()
    for body in ({}, {"dryRun": True}, []):
        reply = raw_call(handler, route.method, _path(route, world), token=_token(name, world), body=body)
        assert_refused(reply, "body")
    assert world["state"]() == before


@pytest.mark.parametrize("name,handler,route", [r for r in ROUTES if r[2].query],
                         ids=[f"{r.method} {n}{r.rule}" for n, _, r in ROUTES if r.query])
def test_a_query_parameter_given_twice_is_a_400_and_changes_nothing(world, name, handler, route):
    before = world["state"]()
    for param in route.query:
        reply = raw_call(handler, route.method, _path(route, world), token=_token(name, world),
                         raw_query=f"{param}=true&{param}=true", body=_body(route))
        assert_refused(reply, param)
    assert world["state"]() == before


@pytest.mark.parametrize("raw_query", ["dryrun=true", "DryRun=true", "dry_run=true", "dryRun[]=true",
                                       "dryRun=true&dryRun=false", "dryRun=true&x=1"])
def test_a_misspelt_dry_run_never_purges(world, raw_query, db):
    reply = raw_call(purge, "DELETE", f"/courses/{world['course']}", token=ADMIN_TOKEN, raw_query=raw_query)
    assert reply.status == 400, reply
    assert db.execute("SELECT count(*) FROM courses WHERE id = %s", (world["course"],)).fetchone()[0] == 1


def test_a_dry_run_sent_in_the_body_never_purges(world, db):
    reply = raw_call(purge, "DELETE", f"/courses/{world['course']}", token=ADMIN_TOKEN, body={"dryRun": True})
    assert_refused(reply, "body")
    assert db.execute("SELECT count(*) FROM courses WHERE id = %s", (world["course"],)).fetchone()[0] == 1


def test_a_cleanup_dry_run_in_the_url_runs_no_cleanup(world, db):
    before = world["state"]()
    reply = raw_call(cleanup, "POST", "/cleanup", token=ADMIN_TOKEN, raw_query="dryRun=true")
    assert_refused(reply, "dryRun")
    assert world["state"]() == before
    dry = raw_call(cleanup, "POST", "/cleanup", token=ADMIN_TOKEN, body={"dryRun": True})
    assert dry.status == 200 and dry.json["dryRun"] is True and dry.json["deleted"] == 1
    assert world["state"]() == before


def test_the_openapi_document_names_every_query_parameter_a_route_takes():
    document = json.loads((__import__("pathlib").Path(__file__).parents[1] / "docs" / "openapi.json").read_text())
    for name, _handler, route in ROUTES:
        path = f"/{name}" + route.rule.replace("<", "{").replace(">", "}")
        op = document["paths"][path][route.method.lower()]
        documented = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert documented == set(route.query), (path, route.method)
        assert ("requestBody" in op) == route.body, (path, route.method)
