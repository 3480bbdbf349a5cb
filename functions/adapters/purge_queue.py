"""The purge queue in Postgres (`purge_queue`, sql/migrations/0002): what the worker claims and
records, what the API reads of an entry, and the orphans the sweep queues.

Every method is one short statement or one short transaction, safe behind Supabase's
transaction-mode pooler. A step's counts are kept in the entry's `result` under the registry's keys
(functions/purge/registry.py), the very keys of CourseCleanupResult on the wire.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Optional, cast

from ..purge import registry
from ..purge.model import Counts, Entry, QueuedPurge, StepState
from ..purge.ports import Outcome
from .postgres import Jsonb, Postgres

_CLAIM = """
WITH due AS (
    SELECT course_id FROM purge_queue
    WHERE status = 'pending'
      AND (%(force)s OR next_attempt_at <= now())
      AND (%(ids)s::uuid[] IS NULL OR course_id = ANY(%(ids)s::uuid[]))
      AND NOT (course_id = ANY(%(exclude)s::uuid[]))
      AND NOT EXISTS (SELECT 1 FROM courses c WHERE c.id = purge_queue.course_id)
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE purge_queue q
SET status = 'running', claim_token = %(token)s, attempts = q.attempts + 1, updated_at = now(),
    locked_until = now() + make_interval(secs => %(lease)s)
FROM due WHERE q.course_id = due.course_id
RETURNING q.course_id, q.organization_id, q.material_ids, q.steps, q.attempts, q.result
"""

_RELEASE = """
UPDATE purge_queue
SET status = 'pending', claim_token = NULL, locked_until = NULL, next_attempt_at = now(), updated_at = now(),
    last_error = coalesce(last_error, 'released: the worker did not finish within its lease')
WHERE status = 'running' AND locked_until < now()
"""

_RECORD = """
UPDATE purge_queue q
SET steps = q.steps || jsonb_build_object(%(step)s::text, jsonb_build_object(
        'done', true, 'count', v.n, 'bytes', v.b, 'skipped', %(skipped)s, 'at', now())),
    result = q.result || {result},
    updated_at = now()
FROM unnest(%(ids)s::uuid[], %(ns)s::bigint[], %(bs)s::bigint[]) AS v(id, n, b)
WHERE q.course_id = v.id AND q.claim_token = %(token)s AND q.status = 'running'
"""
_ADD_COUNT = "jsonb_build_object({key}, coalesce((q.result->>{key})::bigint, 0) + v.n)"
_ADD_BYTES = "jsonb_build_object({key}, coalesce((q.result->>{key})::bigint, 0) + v.b)"

_FINISH = """
WITH v AS (
    SELECT v.id, v.err, v.delay, v.failures,
           (v.err IS NULL AND NOT EXISTS (SELECT 1 FROM unnest(%(steps)s::text[]) AS s(step)
                                          WHERE NOT coalesce((p.steps -> s.step ->> 'done')::boolean, false)))
               AS complete
    FROM unnest(%(ids)s::uuid[], %(errors)s::text[], %(delays)s::float8[], %(failures)s::jsonb[])
        AS v(id, err, delay, failures)
    JOIN purge_queue p ON p.course_id = v.id
), done AS (
    UPDATE purge_queue q
    SET status          = CASE WHEN v.complete THEN 'purged' ELSE 'pending' END,
        -- Each failed step keeps its error beside the steps done, for whoever asks (GET .../purge,
        -- a parallel DELETE that waited for this run).
        steps           = q.steps || coalesce(v.failures, '{}'::jsonb),
        purged_at       = CASE WHEN v.complete THEN now() END,
        last_error      = CASE WHEN v.complete THEN NULL ELSE coalesce(v.err, q.last_error) END,
        -- A failure waits out its backoff; an entry the time budget did not reach is due at once.
        next_attempt_at = now() + make_interval(secs => CASE WHEN v.err IS NULL THEN 0 ELSE v.delay END),
        claim_token     = NULL,
        locked_until    = NULL,
        updated_at      = now()
    FROM v
    WHERE q.course_id = v.id AND q.claim_token = %(token)s AND q.status = 'running'
    RETURNING q.*
), audit AS (
    -- One audit row per completed purge, whoever deleted the course. user_id only names a real
    -- users row (the admin token and the scheduler have none).
    INSERT INTO audit_log (table_name, record_id, action, old_values, new_values, user_id)
    SELECT 'courses', d.course_id, 'PURGE',
           jsonb_build_object('organizationId', d.organization_id, 'ownerId', d.owner_id,
                              'materialIds', to_jsonb(d.material_ids), 'deletedAt', d.deleted_at),
           jsonb_build_object('status', 'purged', 'reason', d.reason, 'attempts', d.attempts,
                              'result', d.result, 'requestedBy', d.requested_by),
           (SELECT u.id FROM users u WHERE u.id = d.requested_by)
    FROM done d WHERE d.status = 'purged'
)
SELECT course_id, status FROM done
"""

COLUMNS = ("course_id", "organization_id", "owner_id", "material_ids", "reason", "requested_by", "deleted_at",
           "status", "steps", "attempts", "last_error", "next_attempt_at", "purged_at", "result")


def steps_of(stored: Optional[dict[str, Any]]) -> dict[str, StepState]:
    return {name: StepState(done=bool(state.get("done")), skipped=bool(state.get("skipped")),
                            error=state.get("error") if not state.get("done") else None)
            for name, state in (stored or {}).items() if isinstance(state, dict)}


def _entry(row: Any) -> Entry:
    return Entry(course_id=row[0], organization_id=row[1], material_ids=list(row[2] or []), steps=steps_of(row[3]),
                 attempts=row[4], removed=registry.removed_of(row[5]))


class PostgresPurgeQueue:

    def __init__(self, pg: Postgres):
        self.pg = pg

    # --- the worker's side ---

    def release_stale(self) -> int:
        with self.pg.connection() as conn:
            return conn.execute(_RELEASE).rowcount

    def drop_revived(self) -> int:
        """Forget pending entries whose course exists again (restored, or an orphan id that got a
        row): purging them would remove a live course's data."""
        with self.pg.connection() as conn:
            return conn.execute(
                """DELETE FROM purge_queue q WHERE q.status = 'pending'
                   AND EXISTS (SELECT 1 FROM courses c WHERE c.id = q.course_id)""").rowcount

    def claim(self, token: uuid.UUID, *, limit: int, lease_seconds: int, force: bool = False,
              course_ids: Optional[list[uuid.UUID]] = None, exclude: Iterable[uuid.UUID] = ()) -> list[Entry]:
        with self.pg.connection() as conn:
            rows = conn.execute(_CLAIM, {
                "force": force, "ids": list(course_ids) if course_ids is not None else None,
                "exclude": list(exclude), "limit": limit, "token": token, "lease": lease_seconds}).fetchall()
        return [_entry(r) for r in rows]

    def record_step(self, token: uuid.UUID, step: str, counts: dict[str, Counts], *, skipped: bool = False) -> None:
        store = registry.store(step)
        count_key, bytes_key = store.count_key, store.bytes_key
        parts = [_ADD_COUNT.format(key=f"'{count_key}'")]
        if bytes_key:
            parts.append(_ADD_BYTES.format(key=f"'{bytes_key}'"))
        sql = _RECORD.format(result=" || ".join(parts))  # keys are our constants, never input
        ids = sorted(counts)
        with self.pg.connection() as conn:
            # The steps of a batch finish at once and record into the same rows: each locks them in
            # one order first, so that two recordings wait for each other instead of deadlocking.
            conn.execute("SELECT 1 FROM purge_queue WHERE course_id = ANY(%s::uuid[]) ORDER BY course_id FOR UPDATE",
                         ([uuid.UUID(i) for i in ids],))
            conn.execute(sql, {"step": step, "skipped": skipped, "token": token, "ids": [uuid.UUID(i) for i in ids],
                               "ns": [counts[i].count for i in ids], "bs": [counts[i].bytes for i in ids]})

    def finish(self, token: uuid.UUID, outcomes: Sequence[Outcome]) -> dict[str, str]:
        with self.pg.connection() as conn:
            rows = conn.execute(_FINISH, {
                "token": token, "steps": list(registry.names()),
                "ids": [uuid.UUID(o.course_id) for o in outcomes],
                "errors": [o.error for o in outcomes],
                "failures": [Jsonb({f.step: {"done": False, "error": f.error} for f in o.failed_steps})
                             if o.failed_steps else None for o in outcomes],
                "delays": [float(o.retry_in_seconds) for o in outcomes]}).fetchall()
        return {str(r[0]): r[1] for r in rows}

    def depth(self) -> int:
        return cast(int, self.pg.fetch_one("SELECT count(*) FROM purge_queue WHERE status <> 'purged'")[0])

    def prune(self, keep_days: int) -> int:
        """Forget purged entries older than keep_days, a bounded chunk per run."""
        with self.pg.connection() as conn:
            return conn.execute(
                """DELETE FROM purge_queue WHERE course_id IN (
                       SELECT course_id FROM purge_queue
                       WHERE status = 'purged' AND purged_at < now() - make_interval(days => %s)
                       LIMIT 1000)""", (keep_days,)).rowcount

    def get(self, course_id: uuid.UUID) -> Optional[QueuedPurge]:
        row = self.pg.fetch_one(f"SELECT {', '.join(COLUMNS)} FROM purge_queue WHERE course_id = %s", (course_id,))
        if not row:
            return None
        f = dict(zip(COLUMNS, row, strict=True))
        return QueuedPurge(
            course_id=f["course_id"], organization_id=f["organization_id"], owner_id=f["owner_id"],
            material_ids=list(f["material_ids"] or []), reason=f["reason"], requested_by=f["requested_by"],
            deleted_at=f["deleted_at"], status=f["status"], steps=steps_of(f["steps"]), attempts=f["attempts"],
            last_error=f["last_error"], next_attempt_at=f["next_attempt_at"], purged_at=f["purged_at"],
            removed=registry.removed_of(f["result"]))

    def enqueue_orphans(self, orphans: dict[uuid.UUID, Optional[uuid.UUID]], *, reason: str = "orphan") -> int:
        """Queue course ids that no `courses` row has (the orphan sweep). An id already pending stays as it is."""
        if not orphans:
            return 0
        ids = list(orphans)
        with self.pg.connection() as conn:
            return conn.execute(
                """INSERT INTO purge_queue AS q (course_id, organization_id, reason, result)
                   SELECT v.id, v.org, %(reason)s, '{}'::jsonb
                   FROM unnest(%(ids)s::uuid[], %(orgs)s::uuid[]) AS v(id, org)
                   WHERE NOT EXISTS (SELECT 1 FROM courses c WHERE c.id = v.id)
                   ON CONFLICT (course_id) DO UPDATE SET
                       organization_id = coalesce(q.organization_id, excluded.organization_id),
                       status = 'pending', steps = '{}'::jsonb, result = '{}'::jsonb, attempts = 0,
                       reason = excluded.reason, last_error = NULL, next_attempt_at = now(),
                       purged_at = NULL, updated_at = now()
                   WHERE q.status = 'purged'""",
                {"ids": ids, "orgs": [orphans[i] for i in ids], "reason": reason}).rowcount
