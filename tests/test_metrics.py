"""The functions' CloudWatch metrics (issue 16): the embedded-metric-format (EMF) lines each function
writes, on real calls of every route and of the scheduled event over the real stores, checked
against EMF's rules; and every metric template.yaml's alarms and dashboard name, with their
dimensions, is among them (the test reads the template, not the spec that generates it)."""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest

from devtools import template_check
from devtools.localstores import free_port
from functions.cleanup.service import DraftCleanup
from functions.cleanup_drafts.app import CleanupFailed
from functions.cleanup_drafts.app import handler as cleanup_handler
from functions.draft_session.app import handler as draft_handler
from functions.drafts.service import DraftSessions
from functions.purge.service import CoursePurges
from functions.purge_course.app import handler as purge_handler
from tests.conftest import ADMIN_TOKEN, call
from tests.dev_server import ROOT
from tests.purge_seed import seed_course
from tests.storage_fixtures import AWS_ENV
from tests.test_cleanup_drafts import SCHEDULED_EVENT, add_courses

NAMESPACE = "CourseDraftsTest"  # not the default: the namespace is the one configured
# CloudWatch's StandardUnit (the PutMetricData API reference), written out here, not read from Powertools.
UNITS = {"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
         "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
         "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
         "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"}


# --- the EMF rules (the embedded metric format specification) ---

def emf_problems(doc: dict[str, Any]) -> list[str]:
    """What in one EMF document breaks the specification's rules; [] when it is valid."""
    problems: list[str] = []
    aws = doc.get("_aws")
    if not isinstance(aws, dict):
        return ["no _aws object"]
    if not isinstance(aws.get("Timestamp"), int) or aws["Timestamp"] <= 0:
        problems.append("_aws.Timestamp is not a positive integer (epoch milliseconds)")
    directives = aws.get("CloudWatchMetrics")
    if not isinstance(directives, list) or not directives:
        return problems + ["_aws.CloudWatchMetrics is not a non-empty list"]
    for d in directives:
        namespace = d.get("Namespace")
        if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
            problems.append(f"Namespace {namespace!r} is not a string of 1-255 characters")
        dimension_sets = d.get("Dimensions")
        if not isinstance(dimension_sets, list):
            problems.append("Dimensions is not a list")
            dimension_sets = []
        for dims in dimension_sets:
            if not isinstance(dims, list) or len(dims) > 30:
                problems.append(f"a dimension set of {len(dims) if isinstance(dims, list) else dims!r} (at most 30)")
                continue
            for name in dims:
                if not isinstance(doc.get(name), str) or not doc[name]:
                    problems.append(f"dimension {name!r} has no string value at the root")
        metrics = d.get("Metrics")
        if not isinstance(metrics, list) or not 1 <= len(metrics) <= 100:
            problems.append(f"Metrics has {len(metrics) if isinstance(metrics, list) else metrics!r} entries (1-100)")
            continue
        for m in metrics:
            name = m.get("Name")
            if not isinstance(name, str) or not 1 <= len(name) <= 255:
                problems.append(f"metric name {name!r}")
                continue
            if m.get("Unit", "None") not in UNITS:
                problems.append(f"{name}: unit {m.get('Unit')!r} is not a CloudWatch unit")
            value = doc.get(name)
            values = value if isinstance(value, list) else [value]
            if not values or len(values) > 100 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                problems.append(f"{name}: value {value!r} is not a number or a list of 1-100 numbers")
    return problems


def emf_docs(text: str) -> list[dict[str, Any]]:
    """The EMF documents among a function's stdout lines (its JSON log lines have no _aws)."""
    docs = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(json.loads(line))
    return docs


@dataclass(frozen=True)
class Point:
    namespace: str
    name: str
    dims: tuple[tuple[str, str], ...]  # one dimension set, with its values
    values: tuple[float, ...]


def points(doc: dict[str, Any]) -> list[Point]:
    out = []
    for d in doc["_aws"]["CloudWatchMetrics"]:
        for m in d["Metrics"]:
            value = doc[m["Name"]]
            for dims in d["Dimensions"]:
                out.append(Point(d["Namespace"], m["Name"], tuple(sorted((k, doc[k]) for k in dims)),
                                 tuple(value if isinstance(value, list) else [value])))
    return out


def test_the_checker_catches_each_rule():
    good = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["service"]],
                                                             "Metrics": [{"Name": "A", "Unit": "Count"}]}]},
            "service": "s", "A": 1}
    assert emf_problems(good) == []
    many = {f"M{i}": 1 for i in range(101)}
    broken = {
        "no namespace": {**good, "_aws": {**good["_aws"], "CloudWatchMetrics": [
            {"Dimensions": [["service"]], "Metrics": [{"Name": "A", "Unit": "Count"}]}]}},
        "bad unit": {**good, "_aws": {**good["_aws"], "CloudWatchMetrics": [
            {"Namespace": "N", "Dimensions": [["service"]], "Metrics": [{"Name": "A", "Unit": "Hours"}]}]}},
        "101 metrics": {**good, **many, "_aws": {**good["_aws"], "CloudWatchMetrics": [
            {"Namespace": "N", "Dimensions": [["service"]], "Metrics": [{"Name": n, "Unit": "Count"} for n in many]}]}},
        "31 dimensions": {**good, **{f"d{i}": "v" for i in range(31)}, "_aws": {**good["_aws"], "CloudWatchMetrics": [
            {"Namespace": "N", "Dimensions": [[f"d{i}" for i in range(31)]], "Metrics": [{"Name": "A"}]}]}},
        "dimension without value": {**good, "service": None},
        "value not a number": {**good, "A": "one"},
    }
    for label, doc in broken.items():
        assert emf_problems(doc), f"{label} passed the check"


# --- every route and the scheduled event, on the real stores ---

@dataclass
class Invocation:
    label: str
    status: Any  # the HTTP status, or "ok" / "failed" for the scheduled event
    docs: list[dict[str, Any]] = field(default_factory=list)

    def points(self) -> list[Point]:
        return [p for doc in self.docs for p in points(doc)]

    def value(self, name: str, **dims: str) -> Optional[float]:
        """The sum of `name`'s values under exactly these dimensions (None: not written)."""
        wanted = tuple(sorted(dims.items()))
        found = [v for p in self.points() if p.name == name and p.dims == wanted for v in p.values]
        return sum(found) if found else None


@pytest.fixture
def invocations(db, rds, make_user, settings_env, monkeypatch, capsys, tmp_path) -> list[Invocation]:
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "files").mkdir()
    settings_env(METRICS_NAMESPACE=NAMESPACE, STORAGE_URL=f"file://{tmp_path / 'files'}", ORPHAN_GRACE_SECONDS="0")
    redis_url = os.environ["REDIS_URL"]
    done: list[Invocation] = []
    capsys.readouterr()

    def http(label: str, handler: Any, method: str, path: str, **kwargs: Any) -> Any:
        reply = call(handler, method, path, **kwargs)
        done.append(Invocation(label, reply.status, emf_docs(capsys.readouterr().out)))
        return reply

    def scheduled(label: str) -> None:
        try:
            cleanup_handler(dict(SCHEDULED_EVENT), None)
            status = "ok"
        except CleanupFailed:
            status = "failed"
        done.append(Invocation(label, status, emf_docs(capsys.readouterr().out)))

    user = make_user()
    missing = uuid.uuid4()
    sid = http("create", draft_handler, "POST", "/drafts", token=user.token,
               body={"formData": {"topic": "Метрики"}}).json["sessionId"]
    http("list", draft_handler, "GET", "/drafts", token=user.token)
    http("read", draft_handler, "GET", f"/drafts/{sid}", token=user.token)
    http("read missing", draft_handler, "GET", f"/drafts/{missing}", token=user.token)
    http("save", draft_handler, "PATCH", f"/drafts/{sid}", token=user.token, body={"formData": {"language": "ru"}})
    http("save missing", draft_handler, "PATCH", f"/drafts/{missing}", token=user.token, body={"formData": {"topic": "x"}})
    http("create refused", draft_handler, "POST", "/drafts", token="not-a-token")
    with monkeypatch.context() as bug:  # defects, not stores: the one way to a 500
        for cls, method in ((DraftSessions, "list"), (CoursePurges, "retry"), (DraftCleanup, "health")):
            bug.setattr(cls, method, lambda *a, **k: 1 / 0)
        http("list crashed", draft_handler, "GET", "/drafts", token=user.token)
        http("retry crashed", purge_handler, "POST", "/purges/retry", token=ADMIN_TOKEN)
        http("health crashed", cleanup_handler, "GET", "/health", token=ADMIN_TOKEN)
    course = http("materialize", draft_handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                  body={"reason": "submit"}).json["courseId"]
    other = http("create another", draft_handler, "POST", "/drafts", token=user.token).json["sessionId"]
    http("discard", draft_handler, "DELETE", f"/drafts/{other}", token=user.token)
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    http("create, redis down", draft_handler, "POST", "/drafts", token=user.token)
    settings_env(DRAFT_DB_FALLBACK="false")
    http("create, redis down, no fallback", draft_handler, "POST", "/drafts", token=user.token)
    settings_env(REDIS_URL=redis_url, DRAFT_DB_FALLBACK="true")

    owner = make_user()
    doomed = seed_course(db, rds, owner).course_id
    http("purge dry run", purge_handler, "DELETE", f"/courses/{doomed}", token=owner.token, query={"dryRun": "true"})
    http("purge", purge_handler, "DELETE", f"/courses/{doomed}", token=owner.token)
    http("purge status", purge_handler, "GET", f"/courses/{doomed}/purge", token=owner.token)
    http("purge retry", purge_handler, "POST", "/purges/retry", token=ADMIN_TOKEN)
    rds.set(f"course:{uuid.uuid4()}", "left behind by a course deleted long ago")
    db.execute("INSERT INTO rag_context_cache (course_id) VALUES (%s)", (uuid.uuid4(),))
    http("orphan scan", purge_handler, "POST", "/orphans/scan", token=ADMIN_TOKEN)
    http("orphan purge", purge_handler, "POST", "/orphans/purge", token=ADMIN_TOKEN)
    settings_env(STORAGE_URL="s3://metrics-bucket", S3_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
                 STORE_TIMEOUT_SECONDS="1")  # the files store is down: its step fails
    http("purge, files down", purge_handler, "DELETE", f"/courses/{seed_course(db, rds, owner).course_id}",
         token=owner.token)
    settings_env(STORAGE_URL=f"file://{tmp_path / 'files'}")

    add_courses(db, owner.org_id, 3, age_hours=30)
    add_courses(db, owner.org_id, 2, age_hours=1)
    http("cleanup dry run", cleanup_handler, "POST", "/cleanup", token=ADMIN_TOKEN, body={"dryRun": True})
    http("cleanup", cleanup_handler, "POST", "/cleanup", token=ADMIN_TOKEN)
    http("health", cleanup_handler, "GET", "/health", token=ADMIN_TOKEN)
    add_courses(db, owner.org_id, 4, age_hours=30)
    scheduled("scheduled run")
    settings_env(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/app")
    scheduled("scheduled run, postgres down")
    http("cleanup, postgres down", cleanup_handler, "POST", "/cleanup", token=ADMIN_TOKEN)
    http("purge, postgres down", purge_handler, "DELETE", f"/courses/{uuid.uuid4()}", token=ADMIN_TOKEN)
    assert course and done
    return done


def by_label(invocations: list[Invocation]) -> dict[str, Invocation]:
    return {i.label: i for i in invocations}


def test_every_route_and_the_scheduled_event_write_valid_emf(invocations):
    for inv in invocations:
        assert inv.docs, f"{inv.label}: no metric line"
        for doc in inv.docs:
            assert emf_problems(doc) == [], (inv.label, doc)
            assert {d["Namespace"] for d in doc["_aws"]["CloudWatchMetrics"]} == {NAMESPACE}, inv.label
    print({i.label: (i.status, len(i.points())) for i in invocations})


def test_each_call_counts_what_it_did(invocations, db):
    calls = by_label(invocations)
    expected = {"create": (201, "draft_created"), "list": (200, "drafts_listed"), "read": (200, "draft_read"),
                "read missing": (404, "draft_read"), "list crashed": (500, "drafts_listed"),
                "retry crashed": (500, "purges_retried"), "health crashed": (500, "cleanup_health"),
                "cleanup, postgres down": (503, "cleanup_completed"), "purge, postgres down": (503, "course_purged"), "save": (200, "draft_saved"),
                "save missing": (404, "draft_saved"), "create refused": (401, "draft_created"),
                "materialize": (201, "draft_materialized"), "discard": (204, "draft_deleted"),
                "create, redis down": (201, "draft_created"), "create, redis down, no fallback": (503, "draft_created"),
                "purge dry run": (200, "course_purge_dry_run"), "purge": (200, "course_purged"),
                "purge status": (200, "purge_status_read"), "purge retry": (200, "purges_retried"),
                "orphan scan": (200, "orphans_scanned"), "orphan purge": (200, "orphans_queued"),
                "purge, files down": (202, "course_purged"), "cleanup dry run": (200, "cleanup_completed"),
                "cleanup": (200, "cleanup_completed"), "health": (200, "cleanup_health")}
    for label, (status, operation) in expected.items():
        inv = calls[label]
        service = {"d": "draft_session", "p": "purge_course", "c": "cleanup_drafts"}[
            "d" if "draft" in operation else "c" if "cleanup" in operation else "p"]
        assert inv.status == status, (label, inv.status)
        dims = {"service": service, "operation": operation}
        assert inv.value("Requests", **dims) == 1, label
        assert inv.value("Requests", service=service) == 1, f"{label}: not rolled up per function"
        assert inv.value("Latency", **dims) is not None and inv.value("Latency", **dims) > 0, label
        # An error is a point when it happens; a call without one writes none (the rates FILL them).
        assert inv.value("ClientErrors", **dims) == (1 if 400 <= status < 500 else None), label
        assert inv.value("Unavailable", **dims) == (1 if status == 503 else None), label
        assert inv.value("ServerErrors", **dims) == (1 if status >= 500 and status != 503 else None), label
    draft = {"service": "draft_session"}
    assert calls["read"].value("SessionMisses", **draft, operation="draft_read") is None
    assert calls["read"].value("SessionBytes", **draft, operation="draft_read") > 0  # a hit: its SampleCount
    assert calls["read missing"].value("SessionMisses", **draft, operation="draft_read") == 1
    assert calls["read missing"].value("SessionBytes", **draft, operation="draft_read") is None  # no hit
    assert calls["save missing"].value("SessionMisses", **draft, operation="draft_saved") == 1
    saved = len(json.dumps({"topic": "Метрики", "language": "ru"}, ensure_ascii=False).encode())
    assert abs(calls["save"].value("SessionBytes", **draft, operation="draft_saved") - saved) <= 4
    assert calls["materialize"].value("CoursesMaterialized", **draft, operation="draft_materialized") == 1
    assert calls["create"].value("DatabaseFallback", **draft, operation="draft_created") is None
    assert calls["create, redis down"].value("DatabaseFallback", **draft, operation="draft_created") == 1
    assert calls["purge"].value("CoursesPurged", service="purge_course", operation="course_purged") == 1
    assert calls["purge dry run"].value("CoursesPurged", service="purge_course", operation="course_purge_dry_run") is None
    assert calls["purge, files down"].value("PurgeStepFailures", service="purge_course", step="files") == 1
    assert calls["purge, files down"].value("CoursesPurged", service="purge_course", operation="course_purged") == 0
    assert calls["orphan scan"].value("OrphansFound", service="purge_course", store="redis") == 1
    assert calls["orphan scan"].value("OrphansFound", service="purge_course", store="rag") == 1
    assert calls["orphan scan"].value("OrphansFound", service="purge_course", store="files") == 0
    assert calls["cleanup"].value("DraftsDeleted", service="cleanup_drafts", operation="cleanup_completed") == 3
    assert calls["cleanup dry run"].value("DraftsDeleted", service="cleanup_drafts",
                                          operation="cleanup_completed") is None  # a count, not a deletion

    hourly = {"service": "cleanup_drafts", "operation": "scheduled_cleanup"}
    run, failed = calls["scheduled run"], calls["scheduled run, postgres down"]
    assert (run.status, failed.status) == ("ok", "failed")
    assert run.value("DraftsDeleted", **hourly) == 4
    assert run.value("CleanupSucceeded", **hourly) == 1 and run.value("CleanupFailed", **hourly) == 0
    assert failed.value("CleanupFailed", **hourly) == 1 and failed.value("CleanupSucceeded", **hourly) == 0
    assert run.value("PendingCleanup", **hourly) == 0  # measured after the run
    truth = db.execute("""SELECT count(*), count(*) FILTER (WHERE generation_status IS NULL),
                                 count(*) FILTER (WHERE created_at > now() - interval '1 hour'),
                                 count(*) FILTER (WHERE created_at > now() - interval '24 hours')
                          FROM courses WHERE status = 'draft'""").fetchone()
    assert truth[2] >= 1 and truth[3] > truth[2]  # the seeding made every count tell
    assert (run.value("TotalDrafts", **hourly), run.value("UnusedDrafts", **hourly),
            run.value("DraftsCreatedLastHour", **hourly), run.value("DraftsCreatedLastDay", **hourly)) == truth
    assert run.value("MaxUnusedDraftsPerOrg", **hourly) == db.execute(
        "SELECT max(n) FROM (SELECT count(*) AS n FROM courses WHERE status = 'draft' AND generation_status IS NULL"
        " GROUP BY organization_id) AS t").fetchone()[0]
    assert run.value("PollutionPercent", **hourly) == round(100 * truth[1] / truth[0], 2)
    assert 0 <= run.value("CleanupJobGapHours", **hourly) < 1  # POST /cleanup ran moments before
    assert run.value("PurgeQueueDepth", **hourly) >= 1  # the course whose files could not be removed
    assert run.value("PurgeOldestPendingAge", **hourly) > 0


# --- the template names only metrics that are written ---

def _namespace(value: Any) -> Optional[str]:
    return NAMESPACE if value == {"Ref": "MetricsNamespace"} else value


def templated_metrics() -> list[tuple[str, str, tuple[str, ...], Optional[tuple[tuple[str, str], ...]]]]:
    """(where, metric, dimension names, dimension values or None for a SEARCH) of every metric of
    the functions' namespace that template.yaml's alarms and dashboard name."""
    sam = template_check.load(ROOT / "template.yaml")
    found = []
    for name, resource in sam["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            stats = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
            for stat in stats:
                if "MetricName" in stat and _namespace(stat["Namespace"]) == NAMESPACE:
                    dims = tuple(sorted((d["Name"], d["Value"]) for d in stat.get("Dimensions", [])))
                    found.append((name, stat["MetricName"], tuple(k for k, _ in dims), dims))
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            body = props["DashboardBody"]["Fn::Sub"]
            body = body.replace("${MetricsNamespace}", NAMESPACE).replace("${AWS::Region}", "us-east-1")
            assert "${" not in body, "the dashboard substitutes something this test does not know"
            for widget in json.loads(body)["widgets"]:
                for row in widget.get("properties", {}).get("metrics", []):
                    title = f"{name}: {widget['properties']['title']}"
                    if isinstance(row[0], dict):
                        for search in re.finditer(r"SEARCH\('\{([^}]*)\} MetricName=\"(\w+)\"", row[0]["expression"]):
                            namespace, *keys = search.group(1).split(",")
                            assert namespace == NAMESPACE, title
                            found.append((title, search.group(2), tuple(sorted(keys)), None))
                        continue
                    if row[0] != NAMESPACE:
                        continue
                    pairs = [x for x in row[2:] if not isinstance(x, dict)]
                    dims = tuple(sorted(zip(pairs[::2], pairs[1::2])))
                    found.append((title, row[1], tuple(k for k, _ in dims), dims))
    return found


def test_every_metric_the_alarms_and_the_dashboard_name_is_written(invocations):
    written = {p for inv in invocations for p in inv.points()}
    named = templated_metrics()
    assert len({n for _, n, _, _ in named}) >= 25, "the template names fewer metrics than it should"
    missing = []
    for where, metric, keys, dims in named:
        if not any(p.name == metric and tuple(k for k, _ in p.dims) == keys and (dims is None or p.dims == dims)
                   for p in written):
            missing.append(f"{where}: {metric} {dims or keys}")
    assert missing == [], "named by template.yaml, written by no tested call:\n" + "\n".join(missing)
    alarms = {where for where, *_ in named if where.endswith("Alarm")}
    print(f"{len(named)} metric references ({len(alarms)} alarms) all written by {len(invocations)} calls")
