"""The Redis client (short timeouts, reconnecting by itself) and what every Redis adapter shares.

One factory for every adapter (the composition root, functions/wiring.py, keeps one per process): one node (Upstash, any Redis 6.2+), or with REDIS_CLUSTER=true
redis-py's cluster client (ElastiCache Serverless or cluster mode, Valkey, self-hosted), which sends
each key to its slot's primary. One user's keys share a `{userId}` hash tag, so a script touches
one slot. What spans the keyspace goes through the helpers here: `scan_page()` / `scan_pages()`
visit every primary, and `key_chunks()` keeps a multi-key command inside one slot.

Every Redis failure surfaces as a StoreUnavailable("redis") through `redis_errors()`, which says
whether the call may have applied, why, and whether the deployment is misconfigured.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Optional, TypeGuard, Union

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, RedisClusterException, SlotNotCoveredError
from redis.retry import Retry

from ..platform.errors import StoreUnavailable
from ..platform.settings import Settings, get_settings

log = logging.getLogger(__name__)

Client = Union[redis.Redis, RedisCluster]
# Where a SCAN of the whole keyspace stands (scan_page): None to start; opaque to callers.
ScanPosition = Optional[Union[int, str]]


class _Cluster(RedisCluster):
    # As for one node: a timeout is not retried (a hung primary would cost two timeouts before the
    # 503); a dropped connection or a failover is, once, after the client re-reads the topology.
    # (ignore: redis-py's attribute is inferred as exactly its own 4-tuple; any tuple of errors is meant)
    ERRORS_ALLOW_RETRY = (redis.ConnectionError, ClusterDownError, SlotNotCoveredError)  # type: ignore[assignment]


def connect(settings: Settings, *, decode_responses: bool = True) -> Client:
    """A client for REDIS_URL (one per process and kind: the composition root keeps it);
    `decode_responses=False` for key names that need not be UTF-8."""
    if not settings.redis_url:
        raise StoreUnavailable("redis", RuntimeError("REDIS_URL is not set"), applied=False, reason="not_configured")
    # One quick retry heals a connection dropped by a restart; more would only stretch the wait
    # before a 503 when the server is really down. TLS: `rediss://...?ssl_ca_certs=/path/ca.pem`
    # trusts a private CA; without it, the system's CAs.
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.05), 1, supported_errors=(redis.ConnectionError,))
    options: dict[str, Any] = dict(socket_timeout=settings.store_timeout_seconds,
                                   socket_connect_timeout=settings.store_timeout_seconds,
                                   health_check_interval=30, retry=retry, decode_responses=decode_responses)
    if settings.redis_cluster:
        with redis_errors():  # the cluster client reads the topology at once
            return _Cluster.from_url(settings.redis_url, **options)
    # A timeout is not retried: redis-py retries at the connect and at the command level, so a hung
    # server would cost 4 timeouts instead of 1.
    return redis.Redis.from_url(settings.redis_url, **options)


def is_cluster(rds: Client) -> TypeGuard[RedisCluster]:
    return isinstance(rds, RedisCluster)


# --- the whole keyspace, node by node ---

class BadScanPosition(ValueError):
    """A scan position this module did not hand out."""


_POSITION = re.compile(r"([0-9A-Za-z._:\[\]-]{1,300}):([0-9]{1,5})/([0-9]{1,20})")


def primaries(rds: Client) -> list[str]:
    """The names (host:port) of every primary, in order; one node unless a cluster ("")."""
    # (ignore: redis-py leaves RedisCluster.get_primaries() unannotated)
    return sorted(node.name for node in rds.get_primaries()) if is_cluster(rds) else [""]  # type: ignore[no-untyped-call]


def scan_page(rds: Client, position: ScanPosition = None, *, match: Optional[str] = None,
              count: Optional[int] = None, _type: Optional[str] = None) -> tuple[ScanPosition, list[Any]]:
    """One SCAN step over the whole keyspace, resumable: (the next position or None when done, keys).

    A position is opaque to callers: a SCAN cursor on one node (an int, as before clusters), or
    "host:port/cursor" on a cluster, where SCAN cursors are per primary. A cluster position is
    validated against the primaries there are now: one naming a node that left (a failover, a
    resize) restarts the traversal rather than reaching a node no topology names.
    """
    names = primaries(rds)
    name, cursor = _parse_position(position, rds)
    if name not in names:
        name, cursor = names[0], 0
    if name and is_cluster(rds):  # (only a cluster's positions name a node)
        # Through the cluster client, so that a node that failed makes it re-read the topology.
        # (ignores: redis-py leaves get_node() unannotated, and types SCAN's cursor as one int where a
        # cluster answers one per node)
        cursors, keys = rds.scan(cursor=cursor, match=match, count=count, _type=_type,
                                 target_nodes=rds.get_node(node_name=name))  # type: ignore[no-untyped-call]
        cursor = cursors[name]  # type: ignore[index]
    else:
        cursor, keys = rds.scan(cursor=cursor, match=match, count=count, _type=_type)
    if cursor:
        return (f"{name}/{cursor}" if name else int(cursor)), keys
    later = [n for n in names if n > name]
    return (f"{later[0]}/0" if later else None), keys


def _parse_position(position: ScanPosition, rds: Client) -> tuple[str, int]:
    if position is None or position == 0:
        return "", 0
    if isinstance(position, int) and not isinstance(position, bool) and 0 < position < 2 ** 64:
        # one node's cursor; on a cluster, one from before REDIS_CLUSTER was set: start again
        return ("?", 0) if is_cluster(rds) else ("", position)
    found = _POSITION.fullmatch(position) if isinstance(position, str) else None
    if not found or int(found.group(3)) >= 2 ** 64:
        raise BadScanPosition("not a scan position")
    # a cluster's position on one node (REDIS_CLUSTER unset since): start again
    return (f"{found.group(1)}:{found.group(2)}", int(found.group(3))) if is_cluster(rds) else ("?", 0)


def scan_pages(rds: Client, *, match: Optional[str] = None, count: Optional[int] = None,
               _type: Optional[str] = None) -> Iterator[list[Any]]:
    """Every key matching, one SCAN reply at a time, over every primary."""
    position: ScanPosition = None
    while True:
        position, keys = scan_page(rds, position, match=match, count=count, _type=_type)
        if keys:
            yield keys
        if position is None:
            return


def key_chunks(rds: Client, keys: Iterable[Union[bytes, str]], size: int) -> Iterator[list[Union[bytes, str]]]:
    """Keys in lists of at most `size` that one multi-key command (UNLINK) may take: any keys on
    one node; on a cluster, keys of one slot only (a CROSSSLOT error otherwise)."""
    groups: dict[int, list[Union[bytes, str]]] = defaultdict(list)
    cluster = is_cluster(rds)
    for key in keys:
        groups[key_slot(key if isinstance(key, bytes) else key.encode()) if cluster else 0].append(key)
    for group in groups.values():
        for start in range(0, len(group), size):
            yield group[start:start + size]


# --- failures ---

# Error replies of a store that is there but cannot serve now: nothing was applied.
REFUSALS = {"OOM": "out_of_memory", "READONLY": "read_only_replica", "BUSY": "busy_script",
            "LOADING": "loading", "MASTERDOWN": "master_down", "CLUSTERDOWN": "cluster_down",
            "TRYAGAIN": "try_again", "MOVED": "moved", "ASK": "ask"}
# What the log line of a misconfigured deployment tells the operator to do.
HINTS = {
    "authentication_failed": "the password (or user) in REDIS_URL is not the server's",
    "tls_verification_failed": "the server's certificate is not trusted: name its CA with "
                               "?ssl_ca_certs=/path/ca.pem in REDIS_URL",
    "permission_denied": "the Redis user lacks a command this service needs (ACL)",
    "moved_set_redis_cluster_true": "REDIS_URL names a node of a Redis Cluster: set REDIS_CLUSTER=true",
    "not_a_cluster_set_redis_cluster_false": "REDIS_CLUSTER=true but the server is no cluster",
}


@contextmanager
def redis_errors() -> Iterator[None]:
    """Every Redis failure as a StoreUnavailable; our own bugs (an error in one of our scripts, a
    cross-slot command on a cluster) stay what they are, a 500 with its stack trace."""
    try:
        yield
    except (redis.RedisError, RedisClusterException, OSError) as exc:
        failure = classify(exc, cluster=get_settings().redis_cluster)
        if failure is None:
            raise
        if failure.misconfigured:
            log.error("redis misconfigured (%s): %s. %s", failure.reason, HINTS.get(failure.reason or "", ""),
                      _describe(exc))
        raise failure from None


def classify(exc: BaseException, *, cluster: bool) -> Optional[StoreUnavailable]:
    """What a Redis failure means for the caller; None for a bug of ours."""
    def down(reason: str, applied: Optional[bool] = False, misconfigured: bool = False) -> StoreUnavailable:
        return StoreUnavailable("redis", exc, applied=applied, reason=reason, misconfigured=misconfigured)

    chain = _chain(exc)
    for cause in chain:  # a wrong password or certificate hides under connection errors
        if isinstance(cause, redis.AuthenticationError):  # WRONGPASS, NOAUTH, "invalid password"
            return down("authentication_failed", misconfigured=True)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return down("tls_verification_failed", misconfigured=True)
        if isinstance(cause, redis.exceptions.NoPermissionError):
            return down("permission_denied", misconfigured=True)

    code = _code(exc)
    if isinstance(exc, redis.exceptions.AskError) and not cluster:  # MOVED or ASK
        return down("moved_set_redis_cluster_true", misconfigured=True)
    if code == "CROSSSLOT":
        # One node configured, a cluster (or a cluster proxy) answering: set REDIS_CLUSTER; on a
        # cluster, a command of ours spans slots: a bug.
        return None if cluster else down("moved_set_redis_cluster_true", misconfigured=True)
    if code in REFUSALS:
        return down(REFUSALS[code])
    if isinstance(exc, redis.ResponseError):
        # An error in one of our scripts is a bug to see; any other error reply is a refusal.
        return None if "user_script" in str(exc) else down("error_reply")
    if isinstance(exc, redis.exceptions.ClusterError) and "TTL exhausted" in str(exc):
        return down("try_again")  # the cluster client was redirected (TRYAGAIN, MOVED) until it gave up
    if isinstance(exc, RedisClusterException):
        text = str(exc)
        if "not enabled" in text:  # "Cluster mode is not enabled on this node"
            return down("not_a_cluster_set_redis_cluster_false", misconfigured=True)
        if not isinstance(exc, SlotNotCoveredError) and "cannot be connected" not in text \
                and "not covered" not in text:
            return None  # the client refused a command of ours (keys of several slots)
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return down("connection_refused")
    timeout = next((c for c in chain if isinstance(c, (redis.TimeoutError, TimeoutError))), None)
    if timeout is not None:
        # A connect that timed out sent nothing; a read that timed out may have applied.
        return down("connect_timeout") if "connecting" in str(timeout) else down("timeout", applied=None)
    if isinstance(exc, (redis.exceptions.MaxConnectionsError, RedisClusterException)) or "connecting to" in str(exc):
        return down("connect_failed")
    return down("connection_lost", applied=None)  # the request may have reached the server


def _chain(exc: Optional[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out and len(out) < 10:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _code(exc: BaseException) -> Optional[str]:
    """The error reply's code (OOM, BUSY, ...): redis-py keeps it apart for the codes it knows."""
    if not isinstance(exc, redis.RedisError):
        return None
    head = str(exc).split(" ", 1)[0]
    return exc.status_code or (head if isinstance(exc, redis.ResponseError) and head.isupper() else None)


def _describe(exc: BaseException) -> str:
    # The innermost cause names the problem (WRONGPASS ..., CERTIFICATE_VERIFY_FAILED ...); never a secret.
    return "; ".join(f"{type(c).__name__}: {str(c)[:200]}" for c in _chain(exc))
