"""Redis over TLS, as Upstash and ElastiCache serve it (issue 13): `redis-server --tls-port` with a
certificate from a throwaway CA this run creates, trusted through the URL (`?ssl_ca_certs=`).

An untrusted certificate and a wrong password are the deployment's mistakes, not an outage: each is
a 503 whose log line (error level) names the cause, and the StoreUnavailable says `misconfigured`,
so that no fallback hides it.

With DRAFT_DB_FALLBACK on, a misconfigured Redis must not fill the database with fallback drafts:
the draft service (functions/drafts/service.py) reads StoreUnavailable.misconfigured.
"""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote

import pytest
import redis

from devtools import localstores
from functions.adapters.redis_sessions import index_key
from functions.draft_session.app import handler
from functions.platform.errors import StoreUnavailable
from tests.conftest import STATE, call
from tests.wired import redis_sessions

PASSWORD = "tls-test-password"


@pytest.fixture(scope="module")
def tls_redis():
    material = localstores.TlsMaterial(STATE / "tls").create()
    server = localstores.LocalRedis(STATE / "redis-tls", tls=material, password=PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stranger_ca():
    """A CA that signed nothing of the server's: trusting it is trusting the wrong one."""
    return localstores.TlsMaterial(STATE / "tls-stranger").create().ca


def url(server, *, ca=None, password=PASSWORD) -> str:
    base = f"rediss://:{quote(password)}@127.0.0.1:{server.port}/0"
    return f"{base}?ssl_ca_certs={quote(str(ca))}" if ca else base


def misconfigured_cases(server, stranger_ca) -> dict[str, tuple[str, str]]:
    return {
        "untrusted certificate (system CAs)": (url(server), "tls_verification_failed"),
        "untrusted certificate (another CA)": (url(server, ca=stranger_ca), "tls_verification_failed"),
        "wrong password": (url(server, ca=server.tls.ca, password="not-the-password"), "authentication_failed"),
    }


CASES = ["untrusted certificate (system CAs)", "untrusted certificate (another CA)", "wrong password"]


def test_drafts_live_in_redis_over_tls_with_the_ca_named_in_the_url(tls_redis, make_user, settings_env):
    settings_env(REDIS_URL=url(tls_redis, ca=tls_redis.tls.ca))
    user = make_user()
    reply = call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "tls"}})
    assert reply.status == 201 and reply.json["storage"] == "redis", reply
    with redis.Redis.from_url(url(tls_redis, ca=tls_redis.tls.ca)) as admin:
        assert admin.zcard(index_key(str(user.id))) == 1


def test_the_server_speaks_tls_only(tls_redis):
    plain = f"redis://:{PASSWORD}@127.0.0.1:{tls_redis.port}/0"
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(plain, socket_timeout=2, socket_connect_timeout=2).ping()


@pytest.mark.parametrize("case", CASES)
def test_a_misconfiguration_is_a_503_whose_error_log_names_the_cause(tls_redis, stranger_ca, make_user,
                                                                    settings_env, caplog, case):
    redis_url, reason = misconfigured_cases(tls_redis, stranger_ca)[case]
    settings_env(REDIS_URL=redis_url, DRAFT_DB_FALLBACK="false")
    user = make_user()
    with pytest.raises(StoreUnavailable) as failed:
        redis_sessions().get(str(user.id), str(uuid.uuid4()))
    assert (failed.value.reason, failed.value.misconfigured, failed.value.applied) == (reason, True, False)

    caplog.clear()
    reply = call(handler, "POST", "/drafts", token=user.token)
    assert reply.status == 503 and reply.headers["retry-after"], reply
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "functions.adapters.redis"]
    assert len(logged) == 1, caplog.text  # once per occurrence
    assert reason in logged[0].getMessage()
    assert PASSWORD not in caplog.text and "not-the-password" not in caplog.text


@pytest.fixture(scope="module")
def tls_cluster():
    """A 3-primary cluster speaking TLS only, clients and bus: ElastiCache Serverless's shape."""
    material = localstores.TlsMaterial(STATE / "tls-cluster-ca").create()
    cluster = localstores.LocalRedisCluster(STATE / "redis-tls-cluster", tls=material).start()
    yield cluster
    cluster.stop()


def test_a_tls_cluster_serves_users_on_every_primary(tls_cluster, make_user, settings_env):
    settings_env(REDIS_URL=tls_cluster.url, REDIS_CLUSTER="true")
    ports = set()
    while len(ports) < len(tls_cluster.nodes):
        user = make_user()
        reply = call(handler, "POST", "/drafts", token=user.token)
        assert reply.status == 201 and reply.json["storage"] == "redis", reply
        ports.add(tls_cluster.node_of(index_key(str(user.id))).port)


def test_a_tls_cluster_with_an_untrusted_certificate_is_misconfigured(tls_cluster, settings_env, caplog):
    settings_env(REDIS_URL=tls_cluster.url.split("?", 1)[0], REDIS_CLUSTER="true")  # the system CAs only
    with pytest.raises(StoreUnavailable) as failed:
        redis_sessions().get(str(uuid.uuid4()), str(uuid.uuid4()))
    assert (failed.value.reason, failed.value.misconfigured) == ("tls_verification_failed", True)
    assert any("tls_verification_failed" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


@pytest.mark.parametrize("case", ["untrusted certificate (system CAs)", "wrong password"])
def test_with_the_fallback_on_a_misconfigured_redis_creates_no_database_drafts(tls_redis, stranger_ca, make_user,
                                                                             db, settings_env, case):
    redis_url, _reason = misconfigured_cases(tls_redis, stranger_ca)[case]
    settings_env(REDIS_URL=redis_url, DRAFT_DB_FALLBACK="true")
    user = make_user()
    replies = [call(handler, "POST", "/drafts", token=user.token) for _ in range(3)]
    assert [r.status for r in replies] == [503, 503, 503], replies
    assert db.execute("SELECT count(*) FROM courses").fetchone() == (0,)
