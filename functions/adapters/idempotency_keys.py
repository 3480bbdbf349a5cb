"""Idempotency-Key answers in Postgres (`idempotency_keys`, sql/migrations/0011), for the writes
that happen there: database-stored draft sessions and the purge.

`claim()` runs first in the write's own transaction and holds the key's row locked until it
commits, so two requests with one key are served one after the other: the second gets the first
one's answer. `store_answer()` writes the answer in that same transaction, so an applied write and
its answer are committed together or not at all.
"""

from __future__ import annotations

from typing import Any, Optional, cast

from ..platform.idempotency import Idempotency
from .postgres import Connection, Jsonb, Postgres

KEEP_HOURS = 24  # API.md: a repeat within 24 h gets the first answer

_CLAIM = """
INSERT INTO idempotency_keys AS k (scope, key_hash, fingerprint, answer)
VALUES (%(scope)s, %(key)s, %(fp)s, NULL)
ON CONFLICT (scope, key_hash) DO UPDATE SET scope = excluded.scope
RETURNING k.fingerprint, k.answer, k.created_at > now() - make_interval(hours => %(hours)s)
"""


def claim(conn: Connection, scope: str, idem: Optional[Idempotency]) -> Optional[dict[str, Any]]:
    """The stored answer of this key (the caller answers it again), or None: go on, the key is ours.

    KeyReused (functions.drafts.model) if the key answered another request.
    """
    if idem is None:
        return None
    from ..drafts.model import KeyReused

    fingerprint, answer, fresh = conn.execute(
        _CLAIM, {"scope": scope, "key": idem.key_hash, "fp": idem.fingerprint, "hours": KEEP_HOURS}).fetchone()
    if answer is None or not fresh:
        return None  # ours now (a new key, or one whose answer is older than its 24 hours)
    if fingerprint != idem.fingerprint:
        raise KeyReused()
    return cast(dict[str, Any], answer)  # jsonb, as psycopg loads it


def store_answer(conn: Connection, scope: str, idem: Optional[Idempotency], answer: dict[str, Any]) -> None:
    if idem is None:
        return

    conn.execute(
        """UPDATE idempotency_keys SET fingerprint = %s, answer = %s, created_at = now()
           WHERE scope = %s AND key_hash = %s""", (idem.fingerprint, Jsonb(answer), scope, idem.key_hash))


def prune(conn: Connection, *, limit: int = 5000) -> int:
    """Forget answers older than their 24 hours, a bounded chunk per call (the hourly cleanup)."""
    return conn.execute(
        """DELETE FROM idempotency_keys WHERE (scope, key_hash) IN (
               SELECT scope, key_hash FROM idempotency_keys
               WHERE created_at < now() - make_interval(hours => %s) LIMIT %s)""", (KEEP_HOURS, limit)).rowcount


class PostgresAnswers:
    """First answers of a write that spans several transactions (the purge): looked up before it
    runs, remembered after. Such a write is idempotent by itself (purging twice removes nothing
    more); the key only makes its repeat answer what the first call answered."""

    def __init__(self, pg: Postgres):
        self.pg = pg


    def recall(self, scope: str, idem: Idempotency) -> Optional[dict[str, Any]]:
        found = self.pg.fetch_one(
            """SELECT fingerprint, answer FROM idempotency_keys WHERE scope = %s AND key_hash = %s
                 AND answer IS NOT NULL AND created_at > now() - make_interval(hours => %s)""",
            (scope, idem.key_hash, KEEP_HOURS))
        if found is None:
            return None
        if found[0] != idem.fingerprint:
            from ..drafts.model import KeyReused

            raise KeyReused()
        return cast(dict[str, Any], found[1])  # jsonb, as psycopg loads it

    def remember(self, scope: str, idem: Idempotency, answer: dict[str, Any]) -> dict[str, Any]:
        """Keep `answer` as the key's first answer; if another call kept one first, that one."""

        row = self.pg.fetch_one(
            """INSERT INTO idempotency_keys AS k (scope, key_hash, fingerprint, answer) VALUES (%s, %s, %s, %s)
               ON CONFLICT (scope, key_hash) DO UPDATE SET fingerprint = excluded.fingerprint,
                   answer = excluded.answer, created_at = now()
                   WHERE k.answer IS NULL OR k.created_at <= now() - make_interval(hours => %s)
               RETURNING answer""", (scope, idem.key_hash, idem.fingerprint, Jsonb(answer), KEEP_HOURS))
        return row[0] if row else (self.recall(scope, idem) or answer)
