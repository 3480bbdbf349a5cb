"""Postgres access: one small pool per container, safe behind Supabase's transaction-mode pooler.

psycopg is imported on first use, so a function that never reaches Postgres does not pay for it.
`prepare_threshold=None` because a transaction-mode pooler cannot keep prepared statements.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from .errors import StoreUnavailable
from .settings import get_settings

_pool = None
_pool_lock = threading.Lock()


def _bounded_connection_class(wait_timeout: float):
    """A psycopg Connection whose every wait for the server ends after `wait_timeout` seconds.

    libpq has no read timeout: on a connection whose server (or pooler) stops answering, a query
    would block until TCP gives up, many minutes later. statement_timeout cannot help there, since
    it needs a server that answers. A wait that expires raises an OperationalError, and the pool
    discards the connection (it is returned mid-operation).
    """
    import psycopg

    interval = getattr(psycopg.connection, "_WAIT_INTERVAL", 0.1)

    class BoundedConnection(psycopg.Connection):
        default_wait_timeout = wait_timeout

        def wait(self, gen, interval=interval, timeout=None):
            return super().wait(gen, interval=interval,
                                timeout=self.default_wait_timeout if timeout is None else timeout)

    return BoundedConnection


def _make_pool():
    from psycopg_pool import ConnectionPool

    settings = get_settings()
    if not settings.database_url:
        raise StoreUnavailable("postgres", RuntimeError("DATABASE_URL is not set"))
    timeout = settings.store_timeout_seconds
    statement_ms = int(timeout * 1000) * 5

    def check(conn) -> None:
        # A connection that died with the server is replaced; one that went silent is given the
        # store timeout for this trivial round trip, not the statement budget.
        conn.default_wait_timeout = timeout
        try:
            ConnectionPool.check_connection(conn)
        finally:
            conn.default_wait_timeout = statement_ms / 1000 + timeout

    pool = ConnectionPool(
        settings.database_url,
        min_size=0,
        max_size=4,
        timeout=timeout,  # waiting for a connection
        open=False,
        check=check,
        # A slow statement is cancelled by the server first (statement_timeout); only a server that
        # stopped answering reaches the client-side bound.
        connection_class=_bounded_connection_class(statement_ms / 1000 + timeout),
        kwargs={
            "autocommit": True,
            "prepare_threshold": None,
            "connect_timeout": max(1, int(timeout)),
            # A statement that hangs is cancelled server-side instead of holding the invocation.
            "options": f"-c statement_timeout={statement_ms}",
        },
        name="functions",
    )
    pool.open(wait=False)
    return pool


def pool():
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = _make_pool()
    return _pool


def reset_pool() -> None:
    """Forget the pool (tests that point the settings at another server)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
        _pool = None


@contextmanager
def connection() -> Iterator["psycopg.Connection"]:
    """An autocommit connection; `with conn.transaction():` for atomic work.

    Any connection-level failure (refused, timed out, dropped mid-statement) is a StoreUnavailable,
    so the caller answers 503 and the next call gets a fresh connection.
    """
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        with pool().connection() as conn:
            yield conn
    except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
        raise StoreUnavailable("postgres", exc) from None
    except psycopg.errors.QueryCanceled as exc:
        raise StoreUnavailable("postgres", exc) from None


def fetch_one(sql: str, params: Optional[tuple | dict] = None):
    with connection() as conn:
        return conn.execute(sql, params).fetchone()


def fetch_all(sql: str, params: Optional[tuple | dict] = None):
    with connection() as conn:
        return conn.execute(sql, params).fetchall()
