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


def _make_pool():
    import psycopg
    from psycopg_pool import ConnectionPool

    settings = get_settings()
    if not settings.database_url:
        raise StoreUnavailable("postgres", RuntimeError("DATABASE_URL is not set"))
    timeout = settings.store_timeout_seconds
    pool = ConnectionPool(
        settings.database_url,
        min_size=0,
        max_size=4,
        timeout=timeout,  # waiting for a connection
        open=False,
        check=ConnectionPool.check_connection,  # a connection that died with the server is replaced
        kwargs={
            "autocommit": True,
            "prepare_threshold": None,
            "connect_timeout": max(1, int(timeout)),
            # A statement that hangs is cancelled server-side instead of holding the invocation.
            "options": f"-c statement_timeout={int(timeout * 1000) * 5}",
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
