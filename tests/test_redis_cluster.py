"""The functions on a real 3-primary Redis Cluster, REDIS_CLUSTER=true (issue 13).

The store suites also run whole on the cluster (`make test`: --redis=cluster); these tests pin what
only a cluster shows: one user's keys on one slot and users spread over every primary, the purge's
and the sweep's keys on every primary, the sweep's cursor per node, a primary that goes down, and a
single-node client pointed at a cluster.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest

from functions.adapters.redis_sessions import index_key, session_key
from functions.cleanup_drafts.app import handler as cleanup_handler
from functions.draft_session.app import handler as draft_handler
from functions.platform.errors import StoreUnavailable
from functions.purge_course.app import handler as purge_handler
from tests.conftest import ADMIN_TOKEN, call, redis_client
from tests.hung_store import HungStore
from tests.purge_seed import leftovers, seed_course
from tests.wired import redis_sessions


@pytest.fixture
def crds(redis_cluster, settings_env):
    """The functions pointed at the cluster, which starts empty; a cluster client for the test's own looks."""
    if not redis_cluster.running():
        redis_cluster.start()
    settings_env(REDIS_URL=redis_cluster.url, REDIS_CLUSTER="true")
    client = redis_client(redis_cluster, decode_responses=True)
    client.flushall()
    yield client
    client.close()


def users_on_every_primary(make_user, cluster, per_node: int = 2) -> dict[int, list]:
    """Users whose keys live on each primary: {port: [Person, ...]}."""
    found: dict[int, list] = {n.port: [] for n in cluster.nodes}
    while any(len(people) < per_node for people in found.values()):
        person = make_user()
        found[cluster.node_of(index_key(str(person.id))).port].append(person)
    return found


def draft(method, path, person, body=None):
    return call(draft_handler, method, path, token=person.token, body=body)


def test_the_whole_draft_flow_works_for_users_on_every_primary(crds, redis_cluster, make_user, db):
    people = [p for group in users_on_every_primary(make_user, redis_cluster).values() for p in group]
    for person in people:
        created = draft("POST", "/drafts", person, {"formData": {"topic": "кластер"}})
        assert created.status == 201 and created.json["storage"] == "redis", created
        sid = created.json["sessionId"]
        # one user's session and index share a slot: the scripts' keys are one slot
        assert redis_client_slot(crds, session_key(str(person.id), sid)) == redis_client_slot(crds, index_key(str(person.id)))
        assert draft("PATCH", f"/drafts/{sid}", person, {"formData": {"language": "ru"}}).status == 200
        assert [s["sessionId"] for s in draft("GET", "/drafts", person).json["sessions"]] == [sid]
        done = draft("POST", f"/drafts/{sid}/materialize", person, {"reason": "submit"})
        assert done.status == 201, done
    assert db.execute("SELECT count(*) FROM courses").fetchone() == (len(people),)


def redis_client_slot(client, key: str) -> int:
    return client.keyslot(key)


def test_health_counts_the_sessions_on_every_primary(crds, redis_cluster, make_user):
    people = [p for group in users_on_every_primary(make_user, redis_cluster).values() for p in group]
    for person in people:
        assert draft("POST", "/drafts", person).status == 201
    reply = call(cleanup_handler, "GET", "/health", token=ADMIN_TOKEN)
    assert reply.status == 200, reply
    assert reply.json["indicators"]["activeDraftSessions"]["value"] == len(people)


def test_the_purge_removes_a_courses_keys_from_every_primary(crds, redis_cluster, make_user, db):
    owner = make_user()
    doomed = seed_course(db, crds, owner)
    doomed.keys += [f"rag:{doomed.course_id}:chunk:{i}" for i in range(60)]
    for key in doomed.keys[-60:]:
        crds.set(key, "x")
    kept = seed_course(db, crds, owner)
    assert len({redis_cluster.node_of(k).port for k in doomed.keys}) == len(redis_cluster.nodes)

    reply = call(purge_handler, "DELETE", f"/courses/{doomed.course_id}", token=ADMIN_TOKEN)

    assert reply.status == 200 and reply.json["status"] == "purged", reply
    assert reply.json["result"]["redisKeysDeleted"] == len(doomed.keys)
    assert leftovers(db, crds, doomed)["redis"] == 0
    assert leftovers(db, crds, kept)["redis"] == len(kept.keys)


def sweep(cursor=None):
    body = {"stores": ["redis"], **({"cursor": cursor} if cursor else {})}
    return call(purge_handler, "POST", "/orphans/scan", token=ADMIN_TOKEN, body=body)


def test_the_orphan_sweep_resumes_primary_by_primary_until_every_one_is_seen(crds, redis_cluster, settings_env):
    settings_env(REDIS_URL=redis_cluster.url, REDIS_CLUSTER="true", ORPHAN_GRACE_SECONDS="0",
                 ORPHAN_PAGE_SIZE="10", ORPHAN_TIME_BUDGET_SECONDS="0.001")  # one page per call
    orphans = {str(uuid.uuid4()) for _ in range(40)}
    for cid in orphans:
        crds.set(f"rag:{cid}:1", "x")
    seen, cursor, calls = set(), None, 0
    while True:
        reply = sweep(cursor)
        assert reply.status == 200, reply
        seen |= set(reply.json["orphans"].get("redis", {}).get("courseIds", []))
        calls += 1
        if reply.json["complete"]:
            break
        cursor = reply.json["cursor"]
        assert calls < 200
    assert seen == orphans
    assert calls >= len(redis_cluster.nodes)  # at least one SCAN page per primary


def _with_redis_position(cursor: str, position) -> str:
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    data["pos"]["redis"] = position
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_a_sweep_cursor_is_validated_and_never_names_a_host_to_connect_to(crds, settings_env, redis_cluster):
    settings_env(REDIS_URL=redis_cluster.url, REDIS_CLUSTER="true", ORPHAN_PAGE_SIZE="1",
                 ORPHAN_TIME_BUDGET_SECONDS="0.001")
    for i in range(5):
        crds.set(f"rag:{uuid.uuid4()}:{i}", "x")
    cursor = sweep().json["cursor"]
    with HungStore() as stranger:  # counts connections: a cursor naming it must not reach it
        forged = _with_redis_position(cursor, f"127.0.0.1:{stranger.port}/7")
        reply = sweep(forged)
        assert reply.status == 200, reply  # a node that is not a primary: the pass starts again
        assert stranger.accepted == 0
    for malformed in ("not a position", "127.0.0.1:1/x", [1, 2], -3):
        reply = sweep(_with_redis_position(cursor, malformed))
        assert reply.status == 400 and reply.json["error"]["code"] == "bad_request", (malformed, reply)


def test_a_primary_down_fails_its_users_only_and_creates_fall_back(crds, redis_cluster, make_user):
    groups = users_on_every_primary(make_user, redis_cluster, per_node=1)
    ports = sorted(groups)
    victim, bystander = groups[ports[1]][0], groups[ports[2]][0]
    sid = draft("POST", "/drafts", victim).json["sessionId"]
    down = next(n for n in redis_cluster.nodes if n.port == ports[1])
    redis_cluster.stop_node(down)
    try:
        save = draft("PATCH", f"/drafts/{sid}", victim, {"formData": {"topic": "x"}})
        assert save.status == 503 and save.headers["retry-after"], save
        fallback = draft("POST", "/drafts", victim)
        assert fallback.status == 201 and fallback.json["storage"] == "database", fallback
        other = draft("POST", "/drafts", bystander)
        assert other.status == 201 and other.json["storage"] == "redis", other
    finally:
        redis_cluster.start_node(down)
    back = draft("POST", "/drafts", victim)  # the same container, the node back (empty)
    assert back.status == 201 and back.json["storage"] == "redis", back


def test_a_single_node_client_on_a_cluster_is_a_named_misconfiguration(crds, redis_cluster, make_user,
                                                                        settings_env, caplog):
    settings_env(REDIS_URL=redis_cluster.url, REDIS_CLUSTER="false")
    groups = users_on_every_primary(make_user, redis_cluster, per_node=1)
    elsewhere = next(people[0] for port, people in groups.items() if port != redis_cluster.port)
    with pytest.raises(StoreUnavailable) as failed:
        redis_sessions().get(str(elsewhere.id), str(uuid.uuid4()))
    assert (failed.value.misconfigured, failed.value.applied) == (True, False)
    assert "redis_cluster" in failed.value.reason
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == "functions.adapters.redis"]
    assert errors and "set REDIS_CLUSTER=true" in errors[-1]
    # an answer, not a 500 with a MOVED in its stack trace
    reply = draft("GET", f"/drafts/{uuid.uuid4()}", elsewhere)
    assert reply.status == 503, reply
