"""The shared ground: migrations runner, settings, the per-invocation log line, the dev event shape."""

from __future__ import annotations

import json
import subprocess
import sys

import psycopg
import pytest

from devtools import migrate
from functions.platform.settings import ConfigError, load_settings


def test_migrations_rerun_is_a_no_op_and_recorded(pg_server):
    assert migrate.apply(pg_server.url, with_baseline=True, log=lambda *_: None) == []
    with psycopg.connect(pg_server.url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions[0].startswith("0000_existing_tables_STANDIN")
    assert "0001_courses_draft_session_id" in versions


def test_every_migration_file_reapplies_cleanly(pg_server):
    """Each file is safe to re-run: applying it again on the migrated database changes nothing and fails not."""
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        for path in sorted(migrate.MIGRATIONS.glob("[0-9]*.sql")):
            sql = path.read_text()
            if sql.lstrip().startswith(migrate.NO_TRANSACTION):
                conn.execute(sql)
            else:
                with conn.transaction():
                    conn.execute(sql)


def test_draft_session_id_is_unique(db, make_user):
    user = make_user()
    insert = ("INSERT INTO courses (organization_id, user_id, title, slug, draft_session_id) "
              "VALUES (%s, %s, 't', %s, '6f1c0a52-7c3c-4f7e-9a55-0d8c2f1b7e01')")
    db.execute(insert, (user.org_id, user.id, "a"))
    with pytest.raises(psycopg.errors.UniqueViolation):
        db.execute(insert, (user.org_id, user.id, "b"))


@pytest.mark.parametrize("env, name", [
    ({"DRAFT_TTL_SECONDS": "soon"}, "DRAFT_TTL_SECONDS"),
    ({"DRAFT_DB_FALLBACK": "maybe"}, "DRAFT_DB_FALLBACK"),
    ({"REDIS_URL": "http://x"}, "REDIS_URL"),
    ({"STORAGE_URL": "ftp://x"}, "STORAGE_URL"),
    ({"DRAFT_MAX_SESSIONS_PER_USER": "0"}, "DRAFT_MAX_SESSIONS_PER_USER"),
])
def test_a_malformed_setting_names_its_variable(monkeypatch, env, name):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_one_json_log_line_per_invocation(make_user, monkeypatch):
    import io

    from functions.draft_session.app import handler, service
    from tests.conftest import call

    user = make_user()
    out = io.StringIO()  # the Powertools handler writes to the stdout it saw at import; point it here
    monkeypatch.setattr(service.logger.registered_handler, "stream", out)
    reply = call(handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "log me"}})
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert len(lines) == 1
    line = lines[0]
    assert line["message"] == "draft_created" and line["service"] == "draft_session"
    assert line["user"] == str(user.id) and line["session"] == reply.json["sessionId"]
    assert line["status"] == 201 and line["outcome"] == "ok" and line["durationMs"] >= 0


def test_draft_session_imports_no_qdrant_or_boto3():
    code = ("import sys, functions.draft_session.app; "
            "print(sorted(m for m in ('qdrant_client', 'boto3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("module", ["functions.draft_session.app", "functions.cleanup_drafts.app",
                                    "functions.purge_course.app"])
def test_no_function_imports_a_store_client_before_its_first_request(module):
    # The clients load when a request first needs them (issue 18: the import is the cold start).
    code = (f"import sys, {module}; "
            "print(sorted(m for m in ('redis', 'psycopg', 'qdrant_client', 'boto3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
