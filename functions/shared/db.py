"""Postgres access: one small pool per container, safe behind Supabase's transaction-mode pooler.

A transaction-mode pooler (Supavisor, PgBouncer with its stock settings) hands each transaction to
whichever server connection is free, so nothing may live in the session: no startup `options`
(stock PgBouncer refuses them: "unsupported startup parameter: options"), no `SET`, no prepared
statements (`prepare_threshold=None`). Every unit of work is therefore one transaction that bounds
itself first: `connection()` opens it with `SET LOCAL statement_timeout` (and an idle-in-transaction
bound), so a statement blocked by a lock is cancelled by the server before the client gives up on
it, and never runs after the caller answered 503.

psycopg is imported on first use, so a function that never reaches Postgres does not pay for it.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from .errors import StoreUnavailable
from .settings import get_settings

log = logging.getLogger(__name__)

_pool = None
_pool_lock = threading.Lock()
_begin = ""  # the statement that opens every unit of work, with this container's bounds
# The last connection attempt's failure: the pool retries in the background and a caller only sees
# PoolTimeout, which says nothing about a wrong password or a pooler refusing a parameter.
_connect_failure: Optional[BaseException] = None

# What a server or pooler says when the deployment can never connect, whatever the retries (libpq
# gives connection failures no SQLSTATE, only its message).
MISCONFIGURED = (("authentication failed", "authentication_failed"),
                 ("unsupported startup parameter", "startup_parameter_refused"),
                 ("does not exist", "no_such_role_or_database"),
                 ("no pg_hba.conf entry", "connection_not_allowed"),
                 ("tenant or user not found", "no_such_role_or_database"))


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

        @classmethod
        def connect(cls, *args, **kwargs):
            global _connect_failure
            try:
                conn = super().connect(*args, **kwargs)
            except Exception as exc:
                _connect_failure = exc
                raise
            _connect_failure = None
            return conn

    return BoundedConnection


def _make_pool():
    from psycopg_pool import ConnectionPool

    global _begin
    settings = get_settings()
    if not settings.database_url:
        raise StoreUnavailable("postgres", RuntimeError("DATABASE_URL is not set"), applied=False,
                               reason="not_configured")
    timeout = settings.store_timeout_seconds
    statement_ms = int(timeout * 1000) * 5
    # One round trip opens the transaction and bounds it (a simple query: no parameters). The server
    # cancels a statement after statement_ms, well before the client-side bound below; a transaction
    # left idle (a container frozen or killed mid-way) is ended by the server, releasing its locks.
    _begin = (f"BEGIN; SET LOCAL statement_timeout = {statement_ms}; "
              f"SET LOCAL idle_in_transaction_session_timeout = {statement_ms}")

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
        # No startup `options`: poolers refuse them, and the bounds are set per transaction instead.
        kwargs={"autocommit": True, "prepare_threshold": None, "connect_timeout": max(1, int(timeout))},
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
    global _pool, _connect_failure
    with _pool_lock:
        if _pool is not None:
            _pool.close()
        _pool = None
        _connect_failure = None


@contextmanager
def connection() -> Iterator["psycopg.Connection"]:
    """A connection inside one bounded transaction, committed when the block ends without an error
    (rolled back otherwise); `with conn.transaction():` inside it is a savepoint.

    Any connection-level failure (refused, timed out, dropped mid-statement, cancelled by the
    server's timeout) is a StoreUnavailable, so the caller answers 503 and the next call gets a
    fresh connection. `applied` is False unless the failure came while committing.
    """
    import psycopg
    from psycopg_pool import PoolTimeout

    committing = False
    try:
        # The pool's connection context commits on success and rolls back on an error.
        with pool().connection() as conn:
            conn.execute(_begin)
            yield conn
            committing = True
    except PoolTimeout as exc:
        raise _unavailable(exc, _connect_failure) from None
    except (psycopg.OperationalError, psycopg.InterfaceError, psycopg.errors.IdleInTransactionSessionTimeout) as exc:
        raise _unavailable(exc, None, applied=None if committing else False) from None


def _unavailable(exc: BaseException, connect_failure: Optional[BaseException], *,
                 applied: Optional[bool] = False) -> StoreUnavailable:
    import psycopg

    cause = connect_failure or exc
    for marker, reason in MISCONFIGURED if connect_failure is not None else ():
        if marker in str(connect_failure).lower():
            log.error("postgres misconfigured (%s): %s", reason, str(cause).strip()[:300])
            return StoreUnavailable("postgres", cause, applied=False, reason=reason, misconfigured=True)
    if isinstance(exc, psycopg.errors.QueryCanceled):
        reason = "statement_timeout"  # (or an operator's cancel) rolled back either way
    elif isinstance(exc, psycopg.errors.LockNotAvailable):
        reason = "lock_not_available"  # a NOWAIT that met a lock
    elif isinstance(exc, psycopg.errors.IdleInTransactionSessionTimeout):
        reason = "idle_in_transaction_timeout"
    elif connect_failure is not None:
        reason = "connect_failed"
    elif type(exc).__name__ in ("PoolTimeout", "_WaitTimeout"):  # no connection in time / no answer in time
        reason = "timeout"
    else:
        reason = "connection_lost"
    return StoreUnavailable("postgres", cause, applied=applied, reason=reason)


def fetch_one(sql: str, params: Optional[tuple | dict] = None):
    with connection() as conn:
        return conn.execute(sql, params).fetchone()


def fetch_all(sql: str, params: Optional[tuple | dict] = None):
    with connection() as conn:
        return conn.execute(sql, params).fetchall()
