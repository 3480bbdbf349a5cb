"""Every way a real Redis fails, as the adapters see it: a StoreUnavailable that says whether the call
may have applied, why, and whether the deployment is misconfigured (issue 13, functions/adapters/redis.py).

Each failure comes from a real server put in that state (out of memory, a replica, a script that
will not end, a dataset loading, a primary gone, a slot being migrated, a password); the one
exception that must stay an error is a bug in one of our own scripts.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

import pytest
import redis

from devtools import localstores
from functions.adapters.redis import redis_errors
from functions.platform.errors import StoreUnavailable
from tests.conftest import STATE, wait_until
from tests.hung_store import HungStore
from tests.wired import course_keys, redis_sessions

USER = str(uuid.uuid4())


@pytest.fixture
def server(request):
    """A fresh redis-server for one test, stopped after it; `started(...)` with extra options."""
    started: list = []

    def start(*extra: str, **options) -> localstores.LocalRedis:
        node = localstores.LocalRedis(STATE / f"errors-{uuid.uuid4().hex[:8]}", extra=extra, **options).start()
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


def create(**kwargs):
    return redis_sessions().create(USER, str(uuid.uuid4()), None, {"topic": "x"}, now_ms=int(time.time() * 1000),
                                      ttl_ms=60_000, max_sessions=20, max_per_minute=60)


def failure_of(settings_env, url: str, call=create, **env) -> StoreUnavailable:
    settings_env(REDIS_URL=url, STORE_TIMEOUT_SECONDS="1", **env)
    with pytest.raises(StoreUnavailable) as failed:
        call()
    assert failed.value.store == "redis"
    return failed.value


def test_out_of_memory_is_a_refusal(server, settings_env):
    node = server("--maxmemory", "1", "--maxmemory-policy", "noeviction")
    got = failure_of(settings_env, node.url)
    assert (got.reason, got.applied, got.misconfigured) == ("out_of_memory", False, False)
    with redis.Redis.from_url(node.url) as look:
        assert look.dbsize() == 0  # the script's first write was refused: nothing of the session


def test_a_replica_is_a_refusal(server, settings_env):
    primary = server()
    replica = server("--replicaof", "127.0.0.1", str(primary.port))
    got = failure_of(settings_env, replica.url)
    assert (got.reason, got.applied) == ("read_only_replica", False)
    # the purge's adapter answers the same way (one mapping for every adapter)
    purge = failure_of(settings_env, replica.url, call=lambda: course_keys().purge({str(uuid.uuid4()): []}))
    assert (purge.reason, purge.applied) == ("read_only_replica", False)


def test_a_replica_cut_off_from_its_primary_is_a_refusal(server, settings_env):
    replica = server("--replicaof", "127.0.0.1", str(localstores.free_port()), "--replica-serve-stale-data", "no")
    got = failure_of(settings_env, replica.url, call=lambda: redis_sessions().get(USER, str(uuid.uuid4())))
    assert (got.reason, got.applied) == ("master_down", False)


def test_a_script_that_will_not_end_is_a_refusal(server, settings_env):
    node = server("--busy-reply-threshold", "50")
    hog = threading.Thread(target=_run_forever, args=(node.url,), daemon=True)
    hog.start()
    with redis.Redis.from_url(node.url, socket_timeout=5) as look:
        wait_until(lambda: _busy(look), "the server answers BUSY")
        try:
            got = failure_of(settings_env, node.url)
            assert (got.reason, got.applied) == ("busy_script", False)
        finally:
            look.script_kill()
    hog.join(10)


def _run_forever(url: str) -> None:
    with redis.Redis.from_url(url, socket_timeout=30) as client:
        try:
            client.eval("while true do end", 0)
        except redis.ResponseError:
            pass  # killed


def _busy(client) -> bool:
    try:
        client.ping()
        return False
    except redis.ResponseError as exc:
        return str(exc).startswith("BUSY")


def test_a_server_loading_its_dataset_is_a_refusal(server, settings_env):
    first = server()
    with redis.Redis.from_url(first.url) as client:
        client.mset({f"k{i}": "v" * 100 for i in range(5000)})
        client.save()
    first.stop()
    # The same data directory, each key loaded slowly (1 ms), clients answered every KiB loaded: LOADING.
    loading = localstores.LocalRedis(first.datadir, first.port, extra=(
        "--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024")).start()
    try:
        got = failure_of(settings_env, loading.url)
        assert (got.reason, got.applied) == ("loading", False)
    finally:
        loading.stop()


def test_a_cluster_node_serving_no_slot_is_a_refusal(server, settings_env):
    lonely = server("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",  # never joined
                    port=localstores.free_cluster_port())
    got = failure_of(settings_env, lonely.url)
    assert (got.reason, got.applied) == ("cluster_down", False)


def test_a_cluster_named_as_one_node_or_one_node_as_a_cluster_is_misconfigured(server, settings_env, caplog):
    node = server()
    got = failure_of(settings_env, node.url, REDIS_CLUSTER="true")
    assert (got.reason, got.misconfigured) == ("not_a_cluster_set_redis_cluster_false", True)
    assert any(r.levelno == logging.ERROR and "REDIS_CLUSTER=true but the server is no cluster" in r.getMessage()
               for r in caplog.records)


@pytest.fixture(scope="module")
def migrating_slot():
    """A cluster whose slot of {USER} is being migrated: one key still on the source, one not."""
    cluster = localstores.LocalRedisCluster(STATE / f"migrating-{uuid.uuid4().hex[:8]}").start()
    try:
        source = cluster.node_of(f"{{{USER}}}")
        target = next(n for n in cluster.nodes if n is not source)
        with redis.Redis(port=source.port) as src, redis.Redis(port=target.port) as dst:
            slot = src.cluster("keyslot", f"{{{USER}}}")
            src.set(f"a:{{{USER}}}", "still here")
            dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src.cluster("myid"))
            src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst.cluster("myid"))
        yield cluster, source
    finally:
        cluster.stop()


def mget_both():
    with redis_errors():
        from tests.wired import process

        return process().redis.mget(f"a:{{{USER}}}", f"b:{{{USER}}}")


def test_keys_of_a_slot_in_migration_are_a_refusal(migrating_slot, settings_env):
    cluster, source = migrating_slot
    one_node = failure_of(settings_env, f"redis://127.0.0.1:{source.port}", call=mget_both, REDIS_CLUSTER="false")
    assert (one_node.reason, one_node.applied, one_node.misconfigured) == ("try_again", False, False)
    # the cluster client retries TRYAGAIN, then gives up the same way
    clustered = failure_of(settings_env, cluster.url, call=mget_both, REDIS_CLUSTER="true")
    assert (clustered.reason, clustered.applied) == ("try_again", False)


def test_an_ask_redirect_to_a_client_that_is_no_cluster_client_is_misconfigured(migrating_slot, settings_env):
    _, source = migrating_slot

    def get_missing():
        with redis_errors():
            from tests.wired import process

            return process().redis.get(f"b:{{{USER}}}")  # not on the source any more: ASK

    got = failure_of(settings_env, f"redis://127.0.0.1:{source.port}", call=get_missing, REDIS_CLUSTER="false")
    assert (got.reason, got.misconfigured, got.applied) == ("moved_set_redis_cluster_true", True, False)


@pytest.mark.parametrize("given, reason", [("", "authentication_failed"), ("wrong", "authentication_failed")])
def test_a_missing_or_wrong_password_is_misconfigured_and_logged(server, settings_env, caplog, given, reason):
    node = server(password="the-password")
    url = node.url.replace(":the-password@", f":{given}@" if given else "")
    got = failure_of(settings_env, url)
    assert (got.reason, got.misconfigured, got.applied) == (reason, True, False)
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "functions.adapters.redis"]
    assert len(logged) == 1 and "authentication_failed" in logged[0].getMessage()
    assert "the-password" not in caplog.text


def test_connection_refused_was_not_applied_and_a_hung_server_may_have(redis_server, settings_env):
    refused = failure_of(settings_env, f"redis://127.0.0.1:{localstores.free_port()}/0")
    assert (refused.reason, refused.applied, refused.misconfigured) == ("connection_refused", False, False)
    with HungStore(target=redis_server.port) as proxy:
        settings_env(REDIS_URL=proxy.url("redis", "/0"), STORE_TIMEOUT_SECONDS="0.5")
        redis_sessions().get(USER, str(uuid.uuid4()))  # a warm connection, then silence
        proxy.hang()
        with pytest.raises(StoreUnavailable) as hung:
            create()
    assert (hung.value.reason, hung.value.applied) == ("timeout", None)


def test_an_error_in_one_of_our_scripts_stays_a_bug(redis_server, settings_env):
    settings_env(REDIS_URL=redis_server.url)
    from tests.wired import process

    with pytest.raises(redis.ResponseError, match="user_script"):
        with redis_errors():
            process().redis.eval("return undefined_global.field", 0)

