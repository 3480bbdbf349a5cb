"""The functions behind a transaction-mode pooler, as Supabase runs them (issue 13).

PgBouncer here is Debian's, in transaction mode, with its stock startup-parameter setting: like
Supavisor, it refuses startup `options` and hands each transaction to any server connection. The
store suites run through it too (`make test`: --postgres=pooled); these tests pin what only a
pooler shows: no startup options, no session state, and a server-side bound on every statement.
"""

from __future__ import annotations

import logging

import psycopg
import pytest

from devtools import localstores
from functions.draft_session.app import handler
from functions.platform.errors import StoreUnavailable
from tests.conftest import STATE, call, wait_until
from tests.wired import pg


@pytest.fixture(scope="module")
def lenient_pooler(pg_server):
    """A pooler told to drop the startup options it cannot pass on: a client's startup timeout is then
    silently gone (what was seen when the functions still set statement_timeout that way)."""
    server = localstores.LocalPgBouncer(STATE / "pgbouncer-lenient", pg_server,
                                        ignore_startup_parameters="extra_float_digits, options").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def one_connection_pooler(pg_server):
    """A pooler with a single server connection: whatever one client leaves in the session, the next one gets."""
    server = localstores.LocalPgBouncer(STATE / "pgbouncer-one", pg_server, pool_size=1).start()
    yield server
    server.stop()


def _waiting_for_courses(db) -> int:
    return db.execute("SELECT count(*) FROM pg_locks WHERE relation = 'courses'::regclass AND NOT granted").fetchone()[0]


def test_the_stand_in_is_as_strict_as_supabases_pooler(pg_bouncer):
    # What made every call fail in production: startup options are refused...
    with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter: options"):
        psycopg.connect(pg_bouncer.url, options="-c statement_timeout=1000")
    # ...and transactions, not sessions, are pooled.
    with psycopg.connect(pg_bouncer.admin_url, autocommit=True) as admin:
        config = {row[0]: row[1] for row in admin.execute("SHOW CONFIG").fetchall()}
    assert config["pool_mode"] == "transaction"
    assert config["ignore_startup_parameters"] == "extra_float_digits"


def test_a_draft_is_materialized_through_the_pooler(make_user, db, pg_bouncer, settings_env):
    settings_env(DATABASE_URL=pg_bouncer.url)
    user = make_user()
    created = call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "pooled"}})
    assert created.status == 201 and created.json["organizationId"] == str(user.org_id), created
    done = call(handler, "POST", f"/drafts/{created.json['sessionId']}/materialize", token=user.token,
                body={"reason": "submit"})
    assert done.status == 201, done
    assert db.execute("SELECT title FROM courses WHERE id = %s", (done.json["courseId"],)).fetchone() == ("pooled",)


def test_nothing_the_functions_set_outlives_their_transaction(make_user, one_connection_pooler, settings_env):
    settings_env(DATABASE_URL=one_connection_pooler.url)
    user = make_user()
    created = call(handler, "POST", "/drafts", token=user.token)
    assert created.status == 201 and created.json["organizationId"] == str(user.org_id), "Postgres was not reached"
    # The one server connection the functions used is the one this client gets now.
    with psycopg.connect(one_connection_pooler.url, autocommit=True) as after:
        assert after.execute("SHOW statement_timeout").fetchone() == ("0",)
        assert after.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("0",)


@pytest.mark.parametrize("route", ["direct", "pooled", "pooled, options dropped"])
def test_a_statement_blocked_by_a_lock_is_cancelled_by_the_server_and_never_lands(
        route, make_user, db, pg_server, pg_bouncer, lenient_pooler, settings_env):
    url = {"direct": pg_server.url, "pooled": pg_bouncer.url, "pooled, options dropped": lenient_pooler.url}[route]
    settings_env(DATABASE_URL=url, STORE_TIMEOUT_SECONDS="0.5")  # the server's bound: 2.5 s
    user = make_user()
    sid = call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "blocked"}}).json["sessionId"]
    blocker = psycopg.connect(pg_server.url)
    try:
        blocker.execute("LOCK TABLE courses IN ACCESS EXCLUSIVE MODE")
        reply = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
        assert reply.status == 503, reply
        # The server gave up on the INSERT (its own timeout): nothing is left waiting for the lock...
        assert _waiting_for_courses(db) == 0
    finally:
        blocker.rollback()
        blocker.close()
    # ...so nothing runs when the lock goes: the 503 meant "not applied"; the retry creates the course.
    assert db.execute("SELECT count(*) FROM courses").fetchone() == (0,)
    retry = call(handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": "submit"})
    assert retry.status == 201, retry
    assert db.execute("SELECT count(*) FROM courses").fetchone() == (1,)


def test_a_transaction_left_idle_is_ended_by_the_server(db, make_user, pg_bouncer, settings_env):
    # A container frozen or killed mid-transaction must not hold its locks for good.
    settings_env(DATABASE_URL=pg_bouncer.url, STORE_TIMEOUT_SECONDS="0.5")  # idle bound: 2.5 s
    user = make_user()
    with pytest.raises(StoreUnavailable) as failed:
        with pg().connection() as conn:
            conn.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE", (user.id,))
            wait_until(lambda: _row_free(db, user.id), "the row lock released by the server")
            conn.execute("SELECT 1")
    assert failed.value.reason == "idle_in_transaction_timeout" and failed.value.applied is False


def _row_free(db, user_id) -> bool:
    try:
        with db.transaction():
            db.execute("SELECT 1 FROM users WHERE id = %s FOR UPDATE NOWAIT", (user_id,))
        return True
    except psycopg.errors.LockNotAvailable:
        return False


@pytest.mark.parametrize("mistake, reason", [
    ("nobody@", "authentication_failed"),                   # a role the pooler does not know
    ("?options=-c%20statement_timeout%3D5000", "startup_parameter_refused"),  # a URL copied from a direct setup
])
def test_a_connection_the_pooler_refuses_is_a_503_whose_log_names_the_cause(
        mistake, reason, pg_bouncer, settings_env, caplog):
    url = pg_bouncer.url.replace("postgres@", mistake) if mistake.endswith("@") else pg_bouncer.url + mistake
    settings_env(DATABASE_URL=url, STORE_TIMEOUT_SECONDS="1")
    with pytest.raises(StoreUnavailable) as failed:
        pg().fetch_one("SELECT 1")
    assert (failed.value.reason, failed.value.misconfigured, failed.value.applied) == (reason, True, False)
    logged = [r for r in caplog.records if r.name == "functions.adapters.postgres" and r.levelno == logging.ERROR]
    assert logged and reason in logged[-1].getMessage(), caplog.text
