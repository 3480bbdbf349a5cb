"""The draft cleanup end to end: pg_cron's command, the scheduled event and POST /cleanup, over the
real Postgres (pg_cron preloaded) and Redis of tests/conftest.py."""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from dataclasses import dataclass, field

import psycopg
import pytest

from functions.cleanup_drafts.app import cleanup, handler, service
from functions.draft_session.app import handler as draft_handler
from tests.conftest import ADMIN_TOKEN, call
from tests.storage_fixtures import add_points, count_points, file_storage, qdrant  # noqa: F401 - fixtures

CLEANUP_JOB = "cleanup-old-drafts-hourly"


# --- seeding helpers (also used by the monitoring tests) ---

def add_courses(db, org_id, n: int = 1, *, age_hours: float = 30.0, status: str = "draft", gen=None,
                user_id=None, ids=None) -> list[uuid.UUID]:
    """n course rows created `age_hours` ago (each 1 ms older than the previous: a known order)."""
    ids = ids or [uuid.uuid4() for _ in range(n)]
    db.execute(
        """INSERT INTO courses (id, organization_id, user_id, title, slug, status, generation_status, created_at)
           SELECT id, %(org)s, %(user)s, 'Draft', 'cl-' || id, %(status)s, %(gen)s,
                  now() - make_interval(secs => %(age)s * 3600) - (ord * interval '1 millisecond')
           FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS t (id, ord)""",
        {"org": org_id, "user": user_id or uuid.uuid4(), "status": status, "gen": gen, "age": age_hours,
         "ids": ids})
    return ids


def new_org(db, name: str = "Org") -> uuid.UUID:
    return db.execute("INSERT INTO organizations (name) VALUES (%s) RETURNING id", (name,)).fetchone()[0]


def remaining_ids(db) -> set[uuid.UUID]:
    return {r[0] for r in db.execute("SELECT id FROM courses")}


def expired_left(db, hours: int = 24) -> int:
    return db.execute("SELECT public.count_expired_drafts(now() - make_interval(hours => %s))", (hours,)).fetchone()[0]


def cron_command(db, name: str = CLEANUP_JOB) -> str:
    return db.execute("SELECT command FROM cron.job WHERE jobname = %s", (name,)).fetchone()[0]


def post_cleanup(body=None, token=ADMIN_TOKEN):
    return call(handler, "POST", "/cleanup", token=token, body=body)


class LambdaContext:
    """What Lambda hands the handler: only the time left matters to the cleanup."""

    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


SCHEDULED_EVENT = {"source": "aws.scheduler", "action": "cleanup"}
NO_HANG = "-c statement_timeout=20000"  # a regression that makes a run wait fails instead of hanging


@dataclass
class Dataset:
    doomed: set = field(default_factory=set)
    kept: set = field(default_factory=set)


@pytest.fixture
def dataset(db, make_user):
    """Every kind of row the cleanup must tell apart, including drafts made by the real draft flow."""
    user = make_user()
    org = user.org_id
    data = Dataset()
    data.doomed |= set(add_courses(db, org, 3, age_hours=24.5))
    data.doomed |= set(add_courses(db, org, 2, age_hours=24 * 40))
    data.kept |= set(add_courses(db, org, 2, age_hours=23.5))            # younger than the cutoff
    data.kept |= set(add_courses(db, org, 1, age_hours=0.1))
    for gen in ("pending", "generating", "completed", "failed"):      # generation started
        data.kept |= set(add_courses(db, org, 1, age_hours=48, gen=gen))
    for status in ("published", "archived", "generating", "ready"):    # not drafts
        data.kept |= set(add_courses(db, org, 1, age_hours=48, status=status))

    def materialize(reason: str) -> uuid.UUID:
        sid = call(draft_handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "T"}}).json["sessionId"]
        reply = call(draft_handler, "POST", f"/drafts/{sid}/materialize", token=user.token, body={"reason": reason})
        assert reply.status == 201, reply
        return uuid.UUID(reply.json["courseId"])

    started = materialize("submit")
    unused = materialize("file_upload")
    db.execute("UPDATE courses SET generation_status = 'pending' WHERE id = %s", (started,))
    db.execute("UPDATE courses SET created_at = now() - interval '30 hours' WHERE id = ANY(%s)", ([started, unused],))
    data.kept.add(started)
    data.doomed.add(unused)
    return data


# --- the three doors agree on what they delete ---

def test_the_pg_cron_job_is_scheduled_hourly_and_its_command_deletes_exactly_the_expired_unused_drafts(db, dataset):
    job = db.execute("SELECT schedule, command, database FROM cron.job WHERE jobname = %s", (CLEANUP_JOB,)).fetchone()
    assert job is not None, "the hourly job is missing from cron.job"
    assert job[0] == "0 * * * *"
    assert job[2] == db.info.dbname

    db.execute(job[1])

    assert remaining_ids(db) == dataset.kept
    run = db.execute("SELECT source, status, deleted, complete FROM cleanup_runs").fetchall()
    assert run == [("pg_cron", "succeeded", len(dataset.doomed), True)]


def test_the_scheduled_event_deletes_exactly_the_expired_unused_drafts(db, dataset):
    result = handler(dict(SCHEDULED_EVENT), LambdaContext(60_000))

    assert remaining_ids(db) == dataset.kept
    assert result["deleted"] == len(dataset.doomed) and result["dryRun"] is False
    assert set(result) == {"deleted", "cutoffTime", "durationMs", "batches", "purgesProcessed", "purgesPending",
                           "dryRun"}
    assert db.execute("SELECT source, status FROM cleanup_runs").fetchall() == [("scheduler", "succeeded")]


def test_post_cleanup_dry_run_counts_what_the_real_run_then_deletes(db, dataset):
    before = remaining_ids(db)
    dry = post_cleanup({"dryRun": True})
    assert dry.status == 200, dry
    assert dry.json["dryRun"] is True and dry.json["deleted"] == len(dataset.doomed) and dry.json["batches"] == 0
    assert remaining_ids(db) == before, "a dry run deleted something"
    assert db.execute("SELECT count(*) FROM cleanup_runs").fetchone()[0] == 0  # not a run: no gap reset

    real = post_cleanup()
    assert real.status == 200, real
    assert real.json["deleted"] == dry.json["deleted"]
    assert remaining_ids(db) == dataset.kept
    assert db.execute("SELECT source FROM cleanup_runs").fetchall() == [("http",)]


def test_the_batch_function_keeps_a_draft_created_exactly_at_the_cutoff(db, make_user):
    org = make_user().org_id
    cutoff = db.execute("SELECT now() - interval '24 hours'").fetchone()[0]
    at, before = uuid.uuid4(), uuid.uuid4()
    for cid, moment in ((at, cutoff), (before, cutoff - __import__("datetime").timedelta(microseconds=1))):
        db.execute("INSERT INTO courses (id, organization_id, user_id, title, slug, created_at) "
                   "VALUES (%s, %s, %s, 't', %s, %s)", (cid, org, uuid.uuid4(), f"s-{cid}", moment))
    deleted = [r[0] for r in db.execute("SELECT id FROM delete_expired_drafts_batch(%s, 10)", (cutoff,))]
    assert deleted == [before] and remaining_ids(db) == {at}


def test_max_age_hours_moves_the_cutoff(db, make_user):
    org = make_user().org_id
    young = add_courses(db, org, 2, age_hours=3)
    older = add_courses(db, org, 3, age_hours=7)
    reply = post_cleanup({"maxAgeHours": 6})
    assert reply.status == 200 and reply.json["deleted"] == 3
    assert remaining_ids(db) == set(young)
    assert not set(older) & remaining_ids(db)


def test_each_batch_is_one_bounded_transaction_oldest_first(db, make_user, settings_env):
    settings_env(CLEANUP_BATCH_SIZE=4)
    org = make_user().org_id
    ids = add_courses(db, org, 10, age_hours=30)  # ids[-1] is the oldest
    run = cleanup()
    cutoff = run.store.cutoff(24)
    run_id = run.store.begin_run("http", cutoff)
    first = run.store.delete_batch(run_id, cutoff, 4)
    assert first == 4
    assert remaining_ids(db) == set(ids[:6]), "a batch did not take the oldest drafts first"
    reply = post_cleanup()
    assert reply.json["deleted"] == 6 and reply.json["batches"] == 2  # 4 + 2


# --- bounded work: a user, and another run, wait at most for one batch ---

def _wait_until(predicate, what: str, limit: float = 20.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def _locked_now(conn, course_id) -> str:
    """Take the row lock without waiting: 'gone', 'taken' or 'locked' (held by someone else)."""
    try:
        with conn.transaction():
            row = conn.execute("SELECT id FROM courses WHERE id = %s FOR UPDATE NOWAIT", (course_id,)).fetchone()
            return "taken" if row else "gone"
    except psycopg.errors.LockNotAvailable:
        return "locked"


@pytest.mark.parametrize("door", ["http", "pg_cron"])
def test_a_user_updating_an_expiring_draft_waits_for_one_batch_at_most(db, pg_server, make_user, settings_env, door):
    settings_env(CLEANUP_BATCH_SIZE=50)
    org = make_user().org_id
    ids = sorted(add_courses(db, org, 200, age_hours=30),  # oldest first: batch k = ids[50k:50k+50]
                 key=lambda i: db.execute("SELECT created_at FROM courses WHERE id = %s", (i,)).fetchone()[0])
    section = db.execute("INSERT INTO sections (course_id) VALUES (%s) RETURNING id", (ids[50],)).fetchone()[0]

    # Someone holds a child row of batch 2's first course: batch 2 stops in its cascade, holding its rows.
    blocker = psycopg.connect(pg_server.url)
    blocker.execute("SELECT 1 FROM sections WHERE id = %s FOR UPDATE", (section,))
    blocker_pid = blocker.info.backend_pid

    outcome: dict = {}

    def run():
        if door == "http":
            outcome["reply"] = post_cleanup()
        else:
            with psycopg.connect(pg_server.url, autocommit=True, options=NO_HANG) as conn:
                conn.execute("CALL public.cleanup_expired_drafts('manual', interval '24 hours', 50)")

    worker = threading.Thread(target=run)
    worker.start()
    try:
        _wait_until(lambda: db.execute("SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                       (blocker_pid,)).fetchone()[0] > 0, "the cleanup reached batch 2")
        with psycopg.connect(pg_server.url, autocommit=True) as user:
            assert _locked_now(user, ids[0]) == "gone"      # batch 1: committed, deleted
            assert _locked_now(user, ids[60]) == "locked"   # batch 2: the one batch in flight
            # batch 3 and later: free, even though the run is not over. The user's generation starts.
            with user.transaction():
                row = user.execute("SELECT id FROM courses WHERE id = %s FOR UPDATE NOWAIT", (ids[120],)).fetchone()
                assert row is not None
                user.execute("UPDATE courses SET generation_status = 'pending' WHERE id = %s", (ids[120],))
    finally:
        blocker.rollback()
        blocker.close()
        worker.join(30)
    assert not worker.is_alive()
    if door == "http":
        assert outcome["reply"].status == 200, outcome["reply"]
        assert outcome["reply"].json["deleted"] == 199
    assert remaining_ids(db) == {ids[120]}, "the draft whose generation started was deleted (or others were kept)"


def test_a_run_skips_a_row_a_user_is_updating_and_never_waits_for_it(db, pg_server, make_user):
    org = make_user().org_id
    ids = add_courses(db, org, 5, age_hours=30)
    with psycopg.connect(pg_server.url) as user:
        user.execute("UPDATE courses SET title = 'editing' WHERE id = %s", (ids[2],))  # lock held, not committed
        reply = post_cleanup()  # would hang to the statement timeout (a 503) if it waited
        assert reply.status == 200 and reply.json["deleted"] == 4
        user.execute("UPDATE courses SET generation_status = 'pending' WHERE id = %s", (ids[2],))
        user.commit()
    assert remaining_ids(db) == {ids[2]}


@pytest.mark.parametrize("door", ["http", "pg_cron"])
def test_a_run_overlapping_another_skips_its_rows_without_waiting(db, pg_server, make_user, settings_env, door):
    settings_env(CLEANUP_BATCH_SIZE=50)
    org = make_user().org_id
    ids = set(add_courses(db, org, 200, age_hours=30))
    other = psycopg.connect(pg_server.url)  # another run, mid-batch: 30 rows deleted, not committed
    try:
        held = {r[0] for r in other.execute(
            "SELECT id FROM delete_expired_drafts_batch(now() - interval '24 hours', 30)")}
        assert len(held) == 30
        if door == "http":
            reply = post_cleanup()
            assert reply.status == 200, reply
            assert reply.json["deleted"] == 170
        else:
            db.execute("SET statement_timeout = '20s'")  # a run that waited would fail, not hang the suite
            db.execute(cron_command(db))
            assert db.execute("SELECT deleted, status FROM cleanup_runs").fetchone() == (170, "succeeded")
        assert remaining_ids(db) == held  # everything else went, nothing of the other run's
        other.commit()
    finally:
        other.close()
    assert remaining_ids(db) == set() and len(ids) == 200


def test_two_concurrent_runs_delete_every_row_once(db, pg_server, make_user, settings_env):
    settings_env(CLEANUP_BATCH_SIZE=100)
    org = make_user().org_id
    add_courses(db, org, 3000, age_hours=30)
    barrier = threading.Barrier(2)
    replies: list = []

    def http_run():
        barrier.wait()
        replies.append(post_cleanup())

    def cron_run():
        with psycopg.connect(pg_server.url, autocommit=True, options=NO_HANG) as conn:
            barrier.wait()
            conn.execute("CALL public.cleanup_expired_drafts('pg_cron', interval '24 hours', 100)")

    threads = [threading.Thread(target=http_run), threading.Thread(target=cron_run)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert replies and replies[0].status == 200, replies
    runs = dict(db.execute("SELECT source, deleted FROM cleanup_runs WHERE status = 'succeeded'").fetchall())
    assert set(runs) == {"http", "pg_cron"}
    assert runs["http"] == replies[0].json["deleted"]
    assert runs["http"] + runs["pg_cron"] == 3000, f"a row was counted twice or missed: {runs}"
    assert remaining_ids(db) == set()
    assert db.execute("SELECT count(*) FROM purge_queue WHERE reason = 'draft_expired'").fetchone()[0] == 3000


def test_10000_expired_drafts_go_within_one_invocations_budget(db, make_user):
    """A size check (speed belongs to the benchmark): one invocation, the default budget, all gone."""
    org = make_user().org_id
    add_courses(db, org, 10_000, age_hours=30)
    result = handler(dict(SCHEDULED_EVENT), LambdaContext(60_000))
    assert result["deleted"] == 10_000
    assert expired_left(db) == 0
    run = db.execute("SELECT status, complete, deleted, batches FROM cleanup_runs").fetchone()
    assert run == ("succeeded", True, 10_000, 10)
    assert result["batches"] == 10


def test_a_spent_budget_ends_the_run_between_batches_and_the_next_run_goes_on(db, make_user, settings_env):
    settings_env(CLEANUP_BATCH_SIZE=10)
    org = make_user().org_id
    add_courses(db, org, 35, age_hours=30)
    run = cleanup()
    ticks = iter(range(0, 10_000, 100))  # every look at the clock: 100 s later than the one before
    run.clock = lambda: float(next(ticks))
    report = run.run(source="scheduler")
    assert (report.deleted, report.batches, report.complete) == (10, 1, False)
    assert db.execute("SELECT complete, status FROM cleanup_runs").fetchone() == (False, "succeeded")
    run.clock = time.monotonic
    assert run.run(source="scheduler").deleted == 25
    assert expired_left(db) == 0


def test_the_budget_ends_before_the_lambda_timeout(settings_env):
    settings_env(CLEANUP_TIME_BUDGET_SECONDS=25, CLEANUP_SAFETY_SECONDS=5)
    assert cleanup().budget(None) == 25
    assert cleanup().budget(60_000) == 25
    assert cleanup().budget(12_000) == 7
    assert cleanup().budget(2_000) == 1.0  # still one batch's worth, never a negative budget


# --- the run log ---

def test_a_failed_batch_is_logged_as_failed_and_pg_cron_sees_the_error(db, make_user):
    org = make_user().org_id
    add_courses(db, org, 3, age_hours=30)
    # a trigger that refuses the delete stands in for any error inside a batch
    db.execute("""CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS
                  $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$""")
    db.execute("CREATE TRIGGER refuse BEFORE DELETE ON courses FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()")
    try:
        with pytest.raises(psycopg.errors.RaiseException, match="refused by test"):
            db.execute(cron_command(db))
    finally:
        db.execute("DROP TRIGGER refuse ON courses")
    status, error, finished = db.execute("SELECT status, error, finished_at FROM cleanup_runs").fetchone()
    assert status == "failed" and "refused by test" in error and finished is not None
    assert expired_left(db) == 3


def test_a_run_left_running_for_over_an_hour_is_closed_as_failed_by_the_next(db):
    db.execute("INSERT INTO cleanup_runs (source, cutoff, started_at) VALUES ('scheduler', now(), now() - interval '2 hours')")
    db.execute("INSERT INTO cleanup_runs (source, cutoff, started_at) VALUES ('http', now(), now() - interval '5 minutes')")
    assert post_cleanup().status == 200
    rows = db.execute("SELECT source, status FROM cleanup_runs ORDER BY id").fetchall()
    assert rows == [("scheduler", "failed"), ("http", "running"), ("http", "succeeded")]


def test_run_log_older_than_30_days_is_pruned(db):
    db.execute("INSERT INTO cleanup_runs (source, cutoff, started_at, status) VALUES "
               "('pg_cron', now(), now() - interval '31 days', 'succeeded'), "
               "('pg_cron', now(), now() - interval '29 days', 'succeeded')")
    handler(dict(SCHEDULED_EVENT), None)
    ages = [r[0] for r in db.execute("SELECT now() - started_at > interval '30 days' FROM cleanup_runs")]
    assert ages.count(True) == 0 and len(ages) == 2


def test_the_daily_prune_job_trims_cron_history_to_7_days_and_runs_to_30(db):
    job = db.execute("SELECT schedule FROM cron.job WHERE jobname = 'prune-cleanup-history-daily'").fetchone()
    assert job is not None and job[0].split()[2:] == ["*", "*", "*"], job  # once a day
    jobid = db.execute("SELECT jobid FROM cron.job WHERE jobname = %s", (CLEANUP_JOB,)).fetchone()[0]
    db.execute("DELETE FROM cron.job_run_details")
    for age in ("8 days", "6 days"):
        db.execute(f"""INSERT INTO cron.job_run_details (jobid, job_pid, database, username, command, status,
                       return_message, start_time, end_time)
                       VALUES (%s, 1, 'app', 'postgres', 'CALL', 'succeeded', 'CALL',
                               now() - interval '{age}', now() - interval '{age}' + interval '1 second')""", (jobid,))
    db.execute("INSERT INTO cleanup_runs (source, cutoff, started_at, status) VALUES "
               "('pg_cron', now(), now() - interval '40 days', 'succeeded'), ('pg_cron', now(), now(), 'succeeded')")
    db.execute(cron_command(db, "prune-cleanup-history-daily"))
    assert db.execute("SELECT count(*) FROM cron.job_run_details").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM cleanup_runs").fetchone()[0] == 1
    db.execute("DELETE FROM cron.job_run_details")


# --- the HTTP door: admins only, the contract's errors, the log ---

def test_cleanup_and_health_are_for_admins_only(make_user, db):
    user = make_user(role="admin")  # an organization admin is not a platform admin
    add_courses(db, user.org_id, 1, age_hours=30)
    for method, path in (("POST", "/cleanup"), ("GET", "/health")):
        assert call(handler, method, path).status == 401
        assert call(handler, method, path, token="wrong-token").status == 401
        forbidden = call(handler, method, path, token=user.token)
        assert forbidden.status == 403 and forbidden.json["error"]["code"] == "forbidden"
    assert expired_left(db) == 1


def test_a_service_role_token_may_run_the_cleanup(db, make_user):
    from tests.conftest import user_token

    add_courses(db, make_user().org_id, 2, age_hours=30)
    reply = call(handler, "POST", "/cleanup", token=user_token(uuid.uuid4(), role="service_role"), body={})
    assert reply.status == 200 and reply.json["deleted"] == 2


@pytest.mark.parametrize("body, status, field_name", [
    ({"maxAgeHours": 0}, 422, "maxAgeHours"),
    ({"maxAgeHours": "24"}, 422, "maxAgeHours"),
    ({"maxAgeHours": 9000}, 422, "maxAgeHours"),
    ({"dryRun": "yes"}, 422, "dryRun"),
    ({"dryrun": True}, 422, "dryrun"),
])
def test_a_malformed_cleanup_request_is_refused_and_deletes_nothing(db, make_user, body, status, field_name):
    add_courses(db, make_user().org_id, 1, age_hours=30)
    reply = post_cleanup(body)
    assert reply.status == status, reply
    assert reply.json["error"]["code"] == "validation_error"
    assert field_name in {d["field"] for d in reply.json["error"]["details"]}
    assert expired_left(db) == 1


def test_a_body_that_is_not_json_is_a_400():
    reply = call(handler, "POST", "/cleanup", token=ADMIN_TOKEN, raw_body="{nope")
    assert reply.status == 400 and reply.json["error"]["code"] == "bad_request"


def test_wrong_method_is_a_405():
    reply = call(handler, "GET", "/cleanup", token=ADMIN_TOKEN)
    assert reply.status == 405 and reply.headers["allow"] == "POST"


def _log_lines(monkeypatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(service.logger.registered_handler, "stream", out)
    return out


def _parse(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def test_cleanup_completed_is_logged_with_count_cutoff_duration_and_status(db, make_user, monkeypatch):
    add_courses(db, make_user().org_id, 3, age_hours=30)
    out = _log_lines(monkeypatch)
    reply = post_cleanup()
    lines = _parse(out)
    assert [line["message"] for line in lines] == ["cleanup_completed"]
    line = lines[0]
    assert line["deleted"] == 3 and line["cutoffTime"] == reply.json["cutoffTime"]
    assert line["cleanupStatus"] == "succeeded" and line["source"] == "http" and "durationMs" in line
    assert line["level"] == "INFO"


def test_more_than_100_deleted_logs_a_warning_and_100_does_not(db, make_user, monkeypatch):
    org = make_user().org_id
    add_courses(db, org, 100, age_hours=30)
    out = _log_lines(monkeypatch)
    handler(dict(SCHEDULED_EVENT), None)
    assert [line["message"] for line in _parse(out)] == ["cleanup_completed"]

    add_courses(db, org, 101, age_hours=30)
    out = _log_lines(monkeypatch)
    handler(dict(SCHEDULED_EVENT), None)
    lines = _parse(out)
    assert [line["message"] for line in lines] == ["cleanup_completed", "cleanup_high_deletions"]
    assert lines[1]["level"] == "WARNING" and lines[1]["deleted"] == 101


def test_a_dry_run_of_many_drafts_warns_of_nothing(db, make_user, monkeypatch):
    add_courses(db, make_user().org_id, 150, age_hours=30)
    out = _log_lines(monkeypatch)
    assert post_cleanup({"dryRun": True}).json["deleted"] == 150
    assert [line["message"] for line in _parse(out)] == ["cleanup_completed"]


# --- Redis: the per-user session indexes ---

def test_a_run_prunes_expired_entries_of_the_session_indexes(rds, make_user):
    user = make_user()
    live = call(draft_handler, "POST", "/drafts", token=user.token).json["sessionId"]
    index = f"draft:index:{{{user.id}}}"
    rds.zadd(index, {"0b9f3c1e-7c7d-4b43-a5d4-9f0e6f3b2a11": 1000})  # expired long ago
    handler(dict(SCHEDULED_EVENT), None)
    assert rds.zrange(index, 0, -1) == [live]


def test_redis_down_does_not_stop_the_deletion(db, make_user, settings_env):
    add_courses(db, make_user().org_id, 2, age_hours=30)
    settings_env(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    reply = post_cleanup()
    assert reply.status == 200 and reply.json["deleted"] == 2


def test_postgres_down_is_a_503_over_http_and_a_logged_lambda_error_for_the_scheduler(settings_env, monkeypatch):
    from devtools.localstores import free_port
    from functions.cleanup_drafts.app import CleanupFailed

    settings_env(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/app")
    reply = post_cleanup()
    assert reply.status == 503 and reply.json["error"]["code"] == "unavailable" and "retry-after" in reply.headers
    assert call(handler, "GET", "/health", token=ADMIN_TOKEN).status == 503
    out = _log_lines(monkeypatch)
    with pytest.raises(CleanupFailed, match="postgres"):  # counted by Lambda's Errors, retried by the async invoke
        handler(dict(SCHEDULED_EVENT), None)
    [line] = _parse(out)
    assert (line["message"], line["cleanupStatus"], line["store"], line["level"]) == (
        "cleanup_completed", "failed", "postgres", "ERROR")


# --- the purge: every deleted draft is queued, and the same run drains the queue ---


def test_an_expired_draft_with_uploads_is_purged_from_every_store_by_the_same_run(db, rds, make_user, file_storage,
                                                                                 qdrant):
    user = make_user()
    sid = call(draft_handler, "POST", "/drafts", token=user.token, body={"formData": {"topic": "Файлы"}}).json["sessionId"]
    course = uuid.UUID(call(draft_handler, "POST", f"/drafts/{sid}/materialize", token=user.token,
                            body={"reason": "file_upload"}).json["courseId"])
    material = db.execute("INSERT INTO materials (course_id, file_path, file_size) VALUES (%s, 'm', 3) RETURNING id",
                          (course,)).fetchone()[0]
    file_storage.put(f"uploads/{user.org_id}/{course}/brief.pdf", b"pdf")
    file_storage.put(f"materials/{course}/{material}/original.pdf", b"abc")
    other = f"uploads/{user.org_id}/{uuid.uuid4()}/other-course.pdf"
    file_storage.put(other, b"keep")
    add_points(qdrant, course, user.org_id, [material], 3)
    rds.set(f"rag:{course}:q1", "x")
    db.execute("UPDATE courses SET created_at = now() - interval '25 hours' WHERE id = %s", (course,))

    result = handler(dict(SCHEDULED_EVENT), LambdaContext(60_000))

    assert result["deleted"] == 1
    assert (result["purgesProcessed"], result["purgesPending"]) == (1, 0)
    entry = db.execute("SELECT status, reason, material_ids FROM purge_queue WHERE course_id = %s", (course,)).fetchone()
    assert entry == ("purged", "draft_expired", [material])
    assert file_storage.keys() == {other}
    assert count_points(qdrant, course) == 0
    assert not rds.exists(f"rag:{course}:q1")


def test_the_run_reports_the_purges_it_processed_and_those_still_pending(db, make_user, settings_env):
    add_courses(db, make_user().org_id, 3, age_hours=30)
    # an older entry that is not due yet (a failed purge waiting out its backoff) stays pending
    db.execute("INSERT INTO purge_queue (course_id, status, next_attempt_at) VALUES (%s, 'pending', now() + interval '1 hour')",
               (uuid.uuid4(),))
    reply = post_cleanup()
    assert reply.status == 200
    assert (reply.json["deleted"], reply.json["purgesProcessed"], reply.json["purgesPending"]) == (3, 3, 1)
    dry = post_cleanup({"dryRun": True})
    assert (dry.json["purgesProcessed"], dry.json["purgesPending"]) == (0, 1)
