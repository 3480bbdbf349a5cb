"""The Postgres side of the draft cleanup: the SQL of migrations 0006-0007, called one short
transaction at a time (safe behind Supabase's transaction-mode pooler: no session state).

The batch is `delete_expired_drafts_batch()`, the very function pg_cron's procedure loops over,
so the scheduled function, `POST /cleanup` and pg_cron delete by one predicate and one lock rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Optional, cast

from ..cleanup.model import Census
from .postgres import Postgres


@dataclass(frozen=True)
class Indicator:
    name: str
    value: Optional[float]
    status: str


def _number(value: Optional[Decimal | float]) -> Optional[float | int]:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class PostgresDraftCleanup:

    def __init__(self, pg: Postgres):
        self.pg = pg

    def cutoff(self, max_age_hours: int) -> datetime:
        """The cutoff by the database's clock, the one pg_cron's runs use too."""
        return cast(datetime, self.pg.fetch_one("SELECT now() - make_interval(hours => %s)", (max_age_hours,))[0])

    def count_expired(self, cutoff: datetime) -> int:
        return cast(int, self.pg.fetch_one("SELECT public.count_expired_drafts(%s)", (cutoff,))[0])

    def begin_run(self, source: str, cutoff: datetime) -> int:
        return cast(int, self.pg.fetch_one("SELECT public.cleanup_run_begin(%s, %s)", (source, cutoff))[0])

    def delete_batch(self, run_id: int, cutoff: datetime, batch_size: int) -> int:
        """One batch in its own transaction: its row locks last only as long as this call."""
        with self.pg.connection() as conn:
            deleted: int = conn.execute(
                "SELECT count(*) FROM public.delete_expired_drafts_batch(%s, %s)", (cutoff, batch_size)
            ).fetchone()[0]
            conn.execute("SELECT public.cleanup_run_progress(%s, %s)", (run_id, deleted))
        return deleted

    def finish_run(self, run_id: int, *, complete: bool, error: Optional[str] = None) -> None:
        self.pg.fetch_one("SELECT public.cleanup_run_finish(%s, %s, %s)", (run_id, complete, error))

    def prune_runs(self, keep_days: int = 30) -> int:
        return cast(int, self.pg.fetch_one("SELECT public.prune_cleanup_runs(make_interval(days => %s))",
                                           (keep_days,))[0])

    def prune_idempotency_keys(self) -> int:
        """Idempotency-Key answers older than their 24 hours, a bounded chunk per run."""
        from . import idempotency_keys

        with self.pg.connection() as conn:
            return idempotency_keys.prune(conn)

    def purge_queue_depth(self) -> int:
        return cast(int, self.pg.fetch_one("SELECT count(*) FROM public.purge_queue WHERE status <> 'purged'")[0])

    def health(self, max_age_hours: int) -> list[Indicator]:
        rows = self.pg.fetch_all(
            "SELECT indicator, value, status FROM public.draft_cleanup_health(make_interval(hours => %s))",
            (max_age_hours,))
        return [Indicator(name, _number(value), status) for name, value, status in rows]

    def census(self) -> Census:
        """One statement, once an hour (a scan of the drafts is cheap at that rate)."""
        row = self.pg.fetch_one("""
            SELECT count(*),
                   count(*) FILTER (WHERE created_at > now() - interval '1 hour'),
                   count(*) FILTER (WHERE created_at > now() - interval '24 hours'),
                   (SELECT coalesce(max(n), 0) FROM (
                        SELECT count(*) AS n FROM public.courses
                        WHERE status = 'draft' AND generation_status IS NULL
                        GROUP BY organization_id) AS per_org),
                   (SELECT extract(epoch FROM now() - min(deleted_at)) FROM public.purge_queue
                    WHERE status <> 'purged')
            FROM public.courses WHERE status = 'draft'""")
        oldest = row[4]
        return Census(int(row[0]), int(row[1]), int(row[2]), int(row[3]), None if oldest is None else float(oldest))

    def job_gap_hours(self) -> Optional[float]:
        """Hours since the last successful run of any source (pg_cron's too: cleanup_job_monitoring)."""
        value = self.pg.fetch_one("SELECT extract(epoch FROM now() - max(end_time)) / 3600 "
                                  "FROM public.cleanup_job_monitoring WHERE status = 'succeeded'")[0]
        return None if value is None else round(float(value), 2)
