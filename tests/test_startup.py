"""No start on a bad setting: the functions check their settings when their module loads (a Lambda
container's init), and `make dev` says in one line what is wrong and what to set, serving nothing."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

import psycopg
import pytest

from devtools import migrate
from tests.conftest import JWT_SECRET
from tests.dev_server import ROOT, DevServer


def refused(env: dict[str, str]) -> str:
    """Start the dev server with env; it must exit 1 printing exactly one line, which is returned."""
    server = DevServer(env, wait=False)
    try:
        assert server.proc.wait(90) == 1, server.output()
        lines = [line for line in server.output().splitlines() if line.strip()]
    finally:
        server.stop()
    assert len(lines) == 1 and lines[0].startswith("cannot start: "), lines
    assert "Traceback" not in lines[0]
    return lines[0]


@pytest.fixture
def stores(pg_server, redis_server):
    return {"DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url, "SUPABASE_JWT_SECRET": JWT_SECRET}


@pytest.mark.parametrize("name,value,said", [
    ("DRAFT_TTL_SECONDS", "abc", "DRAFT_TTL_SECONDS must be a whole number (got 'abc')"),
    ("DRAFT_DB_FALLBACK", "maybe", "DRAFT_DB_FALLBACK must be true or false (got 'maybe')"),
    ("REDIS_URL", "http://redis", "REDIS_URL must start with redis://, rediss:// or unix://"),
    ("DEV_PORT", "abc", "DEV_PORT must be a port number from 0 to 65535 (got 'abc')"),
    ("DEV_PAGE_PORT", "-1", "DEV_PAGE_PORT must be a port number from 0 to 65535 (got '-1')"),
])
def test_a_malformed_setting_stops_make_dev_with_one_line_naming_it(stores, name, value, said):
    assert said in refused({**stores, name: value})


def test_a_malformed_setting_fails_a_lambda_containers_init_naming_it():
    for module in ("functions.draft_session.app", "functions.purge_course.app", "functions.cleanup_drafts.app"):
        result = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, capture_output=True, text=True,
                                env={"PATH": "/usr/bin:/bin", "DRAFT_TTL_SECONDS": "abc"}, timeout=120)
        assert result.returncode != 0
        assert result.stderr.strip().splitlines()[-1] == (
            "functions.platform.settings.ConfigError: invalid setting: DRAFT_TTL_SECONDS must be a whole number (got 'abc')")


def test_a_busy_port_stops_make_dev_with_one_line(stores):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = refused({**stores, "DEV_PORT": str(port)})
    assert line == (f"cannot start: 127.0.0.1:{port} is already in use (DEV_PORT): stop what holds it, "
                    "or set DEV_PORT to another port")


@pytest.fixture
def empty_database(pg_server):
    name = f"empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield pg_server.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_a_database_without_the_platforms_tables_names_the_switch_that_makes_stand_ins(stores, empty_database):
    line = refused({**stores, "DATABASE_URL": empty_database})
    assert "DEV_WITH_STANDIN_BASELINE=1" in line and "none of the platform's tables" in line
    with psycopg.connect(empty_database) as conn:  # and nothing was done to it
        assert conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()[0] is None


def test_a_database_with_migrations_newer_than_the_code_stops_make_dev(stores, empty_database):
    migrate.apply(empty_database, with_baseline=True, log=lambda *_: None)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, checksum) VALUES ('9999_from_the_future', 'x')")
    line = refused({**stores, "DATABASE_URL": empty_database})
    assert "migrations this code does not know (9999_from_the_future)" in line
