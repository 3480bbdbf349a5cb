"""The orphan sweep: data of course ids that have no `courses` row, in every store, found slice by
slice and purged by the same worker; live courses and courses created meanwhile are never touched."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from functions.purge_course.app import handler
from tests.conftest import ADMIN_TOKEN, call
from tests.purge_seed import leftovers, seed_course
from tests.storage_fixtures import add_points, count_points, moto_s3, qdrant, storage  # noqa: F401 - fixtures
from tests.wired import orphan_health, process, sweep_orphans_slice

POINTS, KEYS, ROWS = 3, 3, 2
FILES = {"a.bin": 10, "deep/b.bin": 20}  # per prefix


@dataclass
class Orphan:
    course_id: str
    org_id: str
    stores: frozenset

    def keys(self) -> list[str]:
        cid = self.course_id
        return [f"rag:{cid}:1", f"course:{cid}", f"idempotency:generation-{cid}-x"]

    def files(self) -> dict[str, int]:
        out = {}
        if "files" in self.stores:
            for name, size in FILES.items():
                out[f"uploads/{self.org_id}/{self.course_id}/{name}"] = size
                out[f"materials/{self.course_id}/m/{name}"] = size
        return out


def seed_orphan(db, rds, qdrant_client, store, stores, org=None) -> Orphan:
    orphan = Orphan(str(uuid.uuid4()), str(org or uuid.uuid4()), frozenset(stores))
    if "qdrant" in stores:
        add_points(qdrant_client, orphan.course_id, orphan.org_id, [], POINTS)
    if "redis" in stores:
        for key in orphan.keys():
            rds.set(key, "x")
    if "rag" in stores:
        for _ in range(ROWS):
            db.execute("INSERT INTO rag_context_cache (course_id) VALUES (%s)", (orphan.course_id,))
    for key, size in orphan.files().items():
        store.put(key, b"o" * size)
    return orphan


def expected_report(orphans: list[Orphan]) -> dict:
    def ids(store):
        return sorted(o.course_id for o in orphans if store in o.stores)

    files = [o for o in orphans if "files" in o.stores]
    return {
        "qdrant": {"courseIds": ids("qdrant"), "count": POINTS * len(ids("qdrant"))},
        "redis": {"courseIds": ids("redis"), "count": KEYS * len(ids("redis"))},
        "files": {"courseIds": ids("files"), "count": 2 * len(FILES) * len(files),
                  "bytes": 2 * sum(FILES.values()) * len(files)},
        "rag": {"courseIds": ids("rag"), "count": ROWS * len(ids("rag"))},
    }


@pytest.fixture
def world(db, rds, make_user, qdrant, storage, settings_env):
    """Two live courses and one whose purge is queued, beside orphans in every combination of stores."""
    settings_env(ORPHAN_GRACE_SECONDS="0")
    owner = make_user()
    live = [seed_course(db, rds, owner, qdrant=qdrant, storage=storage) for _ in range(2)]
    queued = seed_course(db, rds, owner, qdrant=qdrant, storage=storage)
    db.execute("DELETE FROM courses WHERE id = %s", (queued.course_id,))  # its purge is pending
    orphans = [
        seed_orphan(db, rds, qdrant, storage, {"qdrant", "redis", "files", "rag"}, org=owner.org_id),
        seed_orphan(db, rds, qdrant, storage, {"qdrant"}),
        seed_orphan(db, rds, qdrant, storage, {"files"}),
        seed_orphan(db, rds, qdrant, storage, {"rag"}),
        seed_orphan(db, rds, qdrant, storage, {"redis"}),
    ]
    return {"owner": owner, "live": live, "orphans": orphans, "queued": queued, "qdrant": qdrant,
            "storage": storage}


def scan(body=None, token=ADMIN_TOKEN):
    return call(handler, "POST", "/orphans/scan", token=token, body=body)


def full_scan() -> dict:
    reply = scan()
    assert reply.status == 200 and reply.json["complete"] is True, reply
    return reply.json["orphans"]


def test_the_scan_reports_exactly_the_orphans_and_changes_nothing(db, rds, world):
    live, storage = world["live"], world["storage"]
    before = [leftovers(db, rds, c, qdrant=world["qdrant"], storage=storage) for c in live]
    storage_before = storage.keys()

    assert full_scan() == expected_report(world["orphans"])

    assert [leftovers(db, rds, c, qdrant=world["qdrant"], storage=storage) for c in live] == before
    assert storage.keys() == storage_before
    assert all(rds.exists(k) for o in world["orphans"] if "redis" in o.stores for k in o.keys())
    assert db.execute("SELECT count(*) FROM purge_queue").fetchone()[0] == 1  # only the course deleted above


def test_purge_queues_exactly_the_orphans_and_the_worker_removes_them(db, rds, world):
    qdrant_client, storage, orphans = world["qdrant"], world["storage"], world["orphans"]
    live_before = [leftovers(db, rds, c, qdrant=qdrant_client, storage=storage) for c in world["live"]]

    queued = call(handler, "POST", "/orphans/purge", token=ADMIN_TOKEN)
    assert queued.status == 200, queued
    assert (queued.json["queued"], queued.json["complete"]) == (len(orphans), True)
    retry = call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN)
    assert retry.json == {"processed": len(orphans) + 1, "purged": len(orphans) + 1, "stillPending": 0, "failed": 0}

    for orphan in orphans:
        cid = orphan.course_id
        assert count_points(qdrant_client, cid) == 0
        assert not any(rds.exists(k) for k in orphan.keys())
        assert db.execute("SELECT count(*) FROM rag_context_cache WHERE course_id = %s", (cid,)).fetchone()[0] == 0
        status = call(handler, "GET", f"/courses/{cid}/purge", token=ADMIN_TOKEN).json
        files = orphan.files()
        assert (status["status"], status["reason"]) == ("purged", "orphan")
        assert status["result"] == {  # the counts the scan reported for it
            "qdrantVectorsDeleted": POINTS if "qdrant" in orphan.stores else 0,
            "redisKeysDeleted": KEYS if "redis" in orphan.stores else 0,
            "ragContextEntriesDeleted": ROWS if "rag" in orphan.stores else 0,
            "filesDeleted": len(files), "bytesFreed": sum(files.values()), "databaseRowsDeleted": 0}
    assert storage.keys() == {k for c in world["live"] for k in c.files}
    assert [leftovers(db, rds, c, qdrant=qdrant_client, storage=storage) for c in world["live"]] == live_before
    assert full_scan() == {store: {"courseIds": [], "count": 0, **({"bytes": 0} if store == "files" else {})}
                           for store in ("qdrant", "redis", "files", "rag")}


def test_a_sweep_cut_by_its_time_budget_resumes_and_ends_with_the_same_result(db, rds, world, settings_env):
    expected = expected_report(world["orphans"])
    settings_env(ORPHAN_GRACE_SECONDS="0", ORPHAN_PAGE_SIZE="2", ORPHAN_TIME_BUDGET_SECONDS="0.000001")
    merged: dict[str, dict] = {}
    cursor, calls = None, 0
    while True:
        reply = scan({"cursor": cursor} if cursor else None)
        assert reply.status == 200, reply
        calls += 1
        for store, report in reply.json["orphans"].items():
            acc = merged.setdefault(store, {"courseIds": set(), "count": 0, "bytes": 0})
            acc["courseIds"] |= set(report["courseIds"])
            acc["count"] += report["count"]
            acc["bytes"] += report.get("bytes", 0)
        if reply.json["complete"]:
            assert "cursor" not in reply.json
            break
        cursor = reply.json["cursor"]
        assert calls < 500, "the sweep does not progress"
    assert calls > 4  # every call stopped after one page of two items: it was really cut
    got = {store: {"courseIds": sorted(acc["courseIds"]), "count": acc["count"],
                   **({"bytes": acc["bytes"]} if store == "files" else {})}
           for store, acc in merged.items()}
    # SCAN may return a key twice across calls while Redis resizes its table: ids, not key counts.
    got["redis"].pop("count"), expected["redis"].pop("count")
    assert got == expected


def test_the_sweep_pages_resume_exactly_where_they_stopped(db, rds, world, settings_env):
    """Page by page (a budget that is always spent) gives what one uninterrupted pass gives."""
    settings_env(ORPHAN_GRACE_SECONDS="0", ORPHAN_PAGE_SIZE="1")
    sweep = process().orphan_sweep()
    whole = sweep.scan(expired=lambda: False)
    assert whole.complete and whole.pages > 1
    pieces, cursor = [], None
    while True:
        piece = sweep.scan(cursor=cursor, expired=lambda: True)
        assert piece.pages == 1
        pieces.append(piece)
        if piece.complete:
            break
        cursor = piece.cursor
    for store, per_course in whole.orphans.items():
        items: dict[str, list[int]] = {}
        for piece in pieces:
            for cid, found in piece.orphans.get(store, {}).items():
                acc = items.setdefault(cid, [0, 0])
                acc[0] += found.count
                acc[1] += found.bytes
        if store == "redis":  # SCAN may repeat a key across calls while Redis resizes: compare ids
            assert set(items) == set(per_course)
        else:
            assert items == {cid: [f.count, f.bytes] for cid, f in per_course.items()}, store


def test_the_hourly_slices_finish_a_pass_that_health_then_reports(db, rds, world, settings_env):
    settings_env(ORPHAN_GRACE_SECONDS="0", ORPHAN_PAGE_SIZE="3")
    assert orphan_health()["orphanCourses"] is None  # no complete pass yet
    slices = 0
    while True:
        slices += 1
        result = sweep_orphans_slice(time_budget_s=0.000001)  # one page per run: spread over many hours
        assert result["pages"] == 1
        if result["complete"]:
            break
        assert orphan_health()["inProgress"] is True
        assert slices < 500
    assert slices > 4
    health = orphan_health()
    expected = expected_report(world["orphans"])
    assert health["orphanCourses"] == len(world["orphans"])
    assert {store: h["courses"] for store, h in health["stores"].items()} == {
        store: len(e["courseIds"]) for store, e in expected.items() if e["courseIds"]}
    assert {store: h["items"] for store, h in health["stores"].items() if store != "redis"} == {
        store: e["count"] for store, e in expected.items() if e["courseIds"] and store != "redis"}
    assert health["stores"]["files"]["bytes"] == expected["files"]["bytes"]
    # The next pass starts over; the last complete one stays what health reports meanwhile.
    assert sweep_orphans_slice(time_budget_s=0.000001)["complete"] is False
    assert orphan_health()["orphanCourses"] == len(world["orphans"])


def test_a_course_created_while_the_sweep_runs_is_never_touched(db, rds, make_user, qdrant, storage, settings_env):
    owner = make_user()
    newcomer = seed_orphan(db, rds, qdrant, storage, {"qdrant", "redis", "files"}, org=owner.org_id)
    orphan = seed_orphan(db, rds, qdrant, storage, {"qdrant", "redis"})

    first = scan().json  # the default grace period: both ids are new candidates, neither an orphan yet
    assert first["deferred"] == 2 and all(r["courseIds"] == [] for r in first["orphans"].values())
    # The newcomer's row is committed after its data was written and seen...
    db.execute("INSERT INTO courses (id, organization_id, user_id, title, slug) VALUES (%s, %s, %s, 't', %s)",
               (newcomer.course_id, owner.org_id, owner.id, f"new-{newcomer.course_id}"))
    db.execute("UPDATE orphan_candidates SET first_seen_at = now() - interval '2 hours'")  # ...the grace passes

    second = scan().json
    assert second["orphans"]["qdrant"]["courseIds"] == [orphan.course_id]
    assert second["orphans"]["files"]["courseIds"] == []
    assert call(handler, "POST", "/orphans/purge", token=ADMIN_TOKEN).json["queued"] == 1
    call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN)

    assert count_points(qdrant, newcomer.course_id) == POINTS
    assert all(rds.exists(k) for k in newcomer.keys())
    assert set(newcomer.files()) <= storage.keys()
    assert count_points(qdrant, orphan.course_id) == 0


def test_an_orphan_that_gets_its_row_before_the_worker_runs_keeps_its_data(db, rds, make_user, qdrant, storage,
                                                                         settings_env):
    settings_env(ORPHAN_GRACE_SECONDS="0")
    owner = make_user()
    late = seed_orphan(db, rds, qdrant, storage, {"qdrant", "redis", "files", "rag"}, org=owner.org_id)
    assert call(handler, "POST", "/orphans/purge", token=ADMIN_TOKEN).json["queued"] == 1
    db.execute("INSERT INTO courses (id, organization_id, user_id, title, slug) VALUES (%s, %s, %s, 't', %s)",
               (late.course_id, owner.org_id, owner.id, f"late-{late.course_id}"))

    assert call(handler, "POST", "/purges/retry", token=ADMIN_TOKEN).json["processed"] == 0

    assert count_points(qdrant, late.course_id) == POINTS and all(rds.exists(k) for k in late.keys())
    assert set(late.files()) <= storage.keys()
    assert db.execute("SELECT count(*) FROM purge_queue").fetchone()[0] == 0


def test_the_orphan_endpoints_are_for_admins_and_check_their_input(make_user):
    user = make_user(role="admin")  # an organization admin is not an administrator of the platform
    for path in ("/orphans/scan", "/orphans/purge"):
        reply = call(handler, "POST", path, token=user.token)
        assert (reply.status, reply.json["error"]["code"]) == (403, "forbidden")
        assert call(handler, "POST", path, token=None).status == 401
        assert call(handler, "GET", path, token=ADMIN_TOKEN).status == 405
    bad_cursor = scan({"cursor": "not-a-cursor"})
    assert (bad_cursor.status, bad_cursor.json["error"]["code"]) == (400, "bad_request")
    unknown_store = scan({"stores": ["postgres"]})
    assert (unknown_store.status, unknown_store.json["error"]["code"]) == (422, "validation_error")
    only_rag = scan({"stores": ["rag"]})
    assert only_rag.status == 200 and set(only_rag.json["orphans"]) == {"rag"}


def test_a_store_that_is_down_makes_the_scan_a_503(settings_env):
    from devtools.localstores import free_port
    from tests.wired import use_qdrant

    use_qdrant(None)
    settings_env(QDRANT_URL=f"http://127.0.0.1:{free_port()}")
    reply = scan({"stores": ["qdrant"]})
    assert (reply.status, reply.json["error"]["code"]) == (503, "unavailable")
    assert int(reply.headers["retry-after"]) >= 1


def test_the_hourly_cleanup_runs_the_sweep_and_health_reports_what_it_found(db, rds, world, settings_env):
    """Issue 8 wired into the hourly job: each scheduled run sweeps one bounded slice; /health shows
    the orphans of the last complete pass (unknown, and so healthy, before the first)."""
    from functions.cleanup_drafts.app import handler as cleanup_handler

    settings_env(ORPHAN_GRACE_SECONDS="0", ORPHAN_PAGE_SIZE="3")
    health = call(cleanup_handler, "GET", "/health", token=ADMIN_TOKEN).json["indicators"]["orphanCourses"]
    assert health == {"value": None, "status": "healthy"}
    for _ in range(200):  # a bounded slice per run, until a pass completes
        cleanup_handler({"source": "aws.scheduler", "action": "cleanup"}, None)
        if orphan_health()["orphanCourses"] is not None:
            break
    indicator = call(cleanup_handler, "GET", "/health", token=ADMIN_TOKEN).json["indicators"]["orphanCourses"]
    assert indicator == {"value": len(world["orphans"]), "status": "warning"}
    # the sweep only reports: every orphan is still there until an admin queues them
    full = world["orphans"][0]
    assert db.execute("SELECT count(*) FROM rag_context_cache WHERE course_id = %s",
                      (full.course_id,)).fetchone()[0] == ROWS
    assert rds.exists(*full.keys()) == KEYS


@pytest.mark.parametrize("found, status", [(None, "healthy"), (0, "healthy"), (1, "warning"), (1000, "warning"),
                                           (1001, "critical")])
def test_the_orphan_indicator_at_its_boundaries(monkeypatch, found, status):
    from functions.cleanup_drafts.app import cleanup
    from functions.cleanup_drafts.app import handler as cleanup_handler

    monkeypatch.setattr(cleanup(), "orphans", lambda: {"orphanCourses": found})
    indicator = call(cleanup_handler, "GET", "/health", token=ADMIN_TOKEN).json["indicators"]["orphanCourses"]
    assert indicator == {"value": found, "status": status}
