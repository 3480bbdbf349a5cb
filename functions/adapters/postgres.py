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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Optional, Protocol, Union, cast

from ..platform.errors import StoreUnavailable
from ..platform.settings import Settings

if TYPE_CHECKING:
    from psycopg.types.json import Jsonb as JsonbValue

Params = Union[tuple[Any, ...], dict[str, Any], list[Any]]


class Cursor(Protocol):
    """What the adapters use of a psycopg cursor. A row is a tuple of what its SQL selects (Any:
    only that SQL knows); fetchone() answers None after the last one."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the adapters use of the psycopg connection that connection() yields."""

    def execute(self, query: str, params: Optional[Params] = None) -> Cursor: ...


log = logging.getLogger(__name__)

# What a server or pooler says when the deployment can never connect, whatever the retries (libpq
# gives connection failures no SQLSTATE, only its message).
MISCONFIGURED = (("authentication failed", "authentication_failed"),
                 ("unsupported startup parameter", "startup_parameter_refused"),
                 ("does not exist", "no_such_role_or_database"),
                 ("no pg_hba.conf entry", "connection_not_allowed"),
                 ("tenant or user not found", "no_such_role_or_database"))


def _bounded_connection_class(wait_timeout: float, failures: Postgres) -> type:
    """A psycopg Connection whose every wait for the server ends after `wait_timeout` seconds.

    libpq has no read timeout: on a connection whose server (or pooler) stops answering, a query
    would block until TCP gives up, many minutes later. statement_timeout cannot help there, since
    it needs a server that answers. A wait that expires raises an OperationalError, and the pool
    discards the connection (it is returned mid-operation). Connect failures are kept on `failures`:
    the pool retries in the background and a caller only sees PoolTimeout, which says nothing about
    a wrong password or a pooler refusing a parameter.
    """
    import psycopg

    interval = getattr(psycopg.connection, "_WAIT_INTERVAL", 0.1)

    class BoundedConnection(psycopg.Connection):
        default_wait_timeout = wait_timeout
        returned_at = float("-inf")  # when it was made, or the pool last got it back (time.monotonic())

        def wait(self, gen: Any, interval: float = interval, timeout: Optional[float] = None) -> Any:
            return super().wait(gen, interval=interval,
                                timeout=self.default_wait_timeout if timeout is None else timeout)

        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                conn = super().connect(*args, **kwargs)
            except Exception as exc:
                failures.connect_failure = exc
                raise
            failures.connect_failure = None
            conn.returned_at = time.monotonic()  # as fresh as one handed back just now
            return conn

    return BoundedConnection


CHECK_AFTER_IDLE_SECONDS = 5.0
MAX_POOL = 4  # connections per container (Lambda runs one request at a time; tests and the dev server more)


def _stamp_returned(conn: Any) -> None:
    conn.returned_at = time.monotonic()


class Postgres:
    """This process's Postgres: one small pool, every unit of work one self-bounded transaction."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._pool: Any = None
        self._lock = threading.Lock()
        self.connect_failure: Optional[BaseException] = None
        timeout = settings.store_timeout_seconds
        self.statement_ms = int(timeout * 1000) * 5
        # One round trip opens the transaction and bounds it (a simple query: no parameters). The
        # server cancels a statement after statement_ms, well before the client-side bound below; a
        # transaction left idle (a container frozen or killed mid-way) is ended by the server.
        # It is sent with the unit's first statement, as one simple query (_Unit), not in a pipeline:
        # after a pipeline, psycopg's flush request disarms the server's idle-in-transaction timer.
        self.begin = (f"BEGIN; SET LOCAL statement_timeout = {self.statement_ms}; "
                      f"SET LOCAL idle_in_transaction_session_timeout = {self.statement_ms}")

    def _make_pool(self) -> Any:
        from psycopg_pool import ConnectionPool

        if not self.settings.database_url:
            raise StoreUnavailable("postgres", RuntimeError("DATABASE_URL is not set"), applied=False,
                                   reason="not_configured")
        timeout = self.settings.store_timeout_seconds
        bound = self.statement_ms / 1000 + timeout

        def check(conn: Any) -> None:
            # A connection that died with the server is replaced; one that went silent is given the
            # store timeout for this trivial round trip, not the statement budget. One the pool got
            # back moments ago is not checked: that round trip was a fifth of a materialize (make
            # bench), and one that died since fails its BEGIN, and is replaced there (_begun).
            if time.monotonic() - conn.returned_at < CHECK_AFTER_IDLE_SECONDS:
                return
            conn.default_wait_timeout = timeout
            try:
                ConnectionPool.check_connection(conn)
            finally:
                conn.default_wait_timeout = bound

        pool = ConnectionPool(
            self.settings.database_url,
            min_size=0,
            max_size=MAX_POOL,
            timeout=timeout,  # waiting for a connection
            open=False,
            check=check,
            reset=_stamp_returned,
            # A slow statement is cancelled by the server first (statement_timeout); only a server
            # that stopped answering reaches the client-side bound.
            connection_class=_bounded_connection_class(bound, self),
            # No startup `options`: poolers refuse them, and the bounds are set per transaction instead.
            kwargs={"autocommit": True, "prepare_threshold": None, "connect_timeout": max(1, int(timeout))},
            name="functions",
        )
        pool.open(wait=False)
        return pool

    def pool(self) -> Any:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = self._make_pool()
        return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
            self._pool = None

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection inside one bounded transaction, committed when the block ends without an error
        (rolled back otherwise).

        Any connection-level failure (refused, timed out, dropped mid-statement, cancelled by the
        server's timeout) is a StoreUnavailable, so the caller answers 503 and the next call gets a
        fresh connection. `applied` is False unless the failure came while committing.
        """
        import psycopg
        from psycopg_pool import PoolTimeout

        committing = False
        try:
            with self._begun() as conn:
                yield conn
                committing = True
        except PoolTimeout as exc:
            raise _unavailable(exc, self.connect_failure) from None
        except (psycopg.OperationalError, psycopg.InterfaceError,
                psycopg.errors.IdleInTransactionSessionTimeout) as exc:
            raise _unavailable(exc, None, applied=None if committing else False) from None

    @contextmanager
    def _begun(self) -> Iterator[Connection]:
        """A pooled connection whose transaction begins with the unit's first statement (_Unit). The
        pool's context commits on success and rolls back on an error."""
        unit = _Unit(self)
        try:
            yield unit
        except BaseException as exc:
            if unit.context is None or not unit.context.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            if unit.context is not None:
                unit.context.__exit__(None, None, None)

    def fetch_one(self, sql: str, params: Optional[Params] = None) -> Any:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchone()

    def fetch_all(self, sql: str, params: Optional[Params] = None) -> list[Any]:
        with self.connection() as conn:
            return list(conn.execute(sql, params).fetchall())


class _Unit:
    """The connection a unit of work sees. Its first statement carries the BEGIN and the bounds in the
    same message (one simple query, its parameters bound by psycopg on the client): a round trip less
    for every unit, a third of a one-statement one (make bench, materialize). Nothing is committed
    before the unit's COMMIT, so a first statement that finds its pooled connection dead (returned
    moments ago, so not checked; the server restarted or failed over since) is sent again on the
    next connection, as many times as the pool holds connections."""

    def __init__(self, pg: Postgres):
        self.pg = pg
        self.context: Any = None
        self.conn: Any = None
        self.pending: Optional[str] = pg.begin

    def execute(self, query: str, params: Optional[Params] = None) -> Cursor:
        if self.pending is None:
            return cast(Cursor, self.conn.execute(query, params))
        import psycopg

        for attempt in range(MAX_POOL + 1):
            if self.conn is None:
                context = self.pg.pool().connection()
                self.conn = context.__enter__()  # (a PoolTimeout here leaves nothing to exit)
                self.context = context
            cursor = psycopg.ClientCursor(self.conn)
            try:
                cursor.execute(f"{self.pending}; {query}", params)
            except psycopg.OperationalError as exc:
                if not self.conn.closed or attempt == MAX_POOL:
                    raise
                context, self.context, self.conn = self.context, None, None
                context.__exit__(type(exc), exc, exc.__traceback__)  # the pool discards it
                continue
            break
        self.pending = None
        while cursor.nextset():  # past the BEGIN's and the SETs' results to the statement's
            pass
        return cast(Cursor, cursor)


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


def Jsonb(value: Any) -> JsonbValue:  # noqa: N802 - stands in for psycopg's adapter, imported lazily
    from psycopg.types.json import Jsonb as _Jsonb

    return _Jsonb(value)
