"""The Redis client: created once per container, with short timeouts, reconnecting by itself.

Every Redis failure surfaces as StoreUnavailable("redis") through `redis_errors()`.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from .errors import StoreUnavailable
from .settings import get_settings

_clients: dict[bool, redis.Redis] = {}
_lock = threading.Lock()


def client(*, decode_responses: bool = True) -> redis.Redis:
    """The container's client; `decode_responses=False` for key names that need not be UTF-8."""
    found = _clients.get(decode_responses)
    if found is None:
        with _lock:
            found = _clients.get(decode_responses)
            if found is None:
                settings = get_settings()
                if not settings.redis_url:
                    raise StoreUnavailable("redis", RuntimeError("REDIS_URL is not set"))
                found = _clients[decode_responses] = redis.Redis.from_url(
                    settings.redis_url,
                    socket_timeout=settings.store_timeout_seconds,
                    socket_connect_timeout=settings.store_timeout_seconds,
                    health_check_interval=30,
                    # One quick retry heals a connection dropped by a restart; more would only
                    # stretch the wait before a 503 when the server is really down. A timeout is
                    # not retried: redis-py retries at the connect and at the command level, so a
                    # hung server would cost 4 timeouts instead of 1.
                    retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1, supported_errors=(redis.ConnectionError,)),
                    decode_responses=decode_responses,
                )
    return found


def reset_client() -> None:
    with _lock:
        for found in _clients.values():
            found.close()
        _clients.clear()


@contextmanager
def redis_errors() -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise StoreUnavailable("redis", exc) from None
