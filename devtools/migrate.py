"""Migration runner: applies sql/migrations/NNNN_*.sql in order and records what it applied.

Re-running is a no-op. Each file runs in one transaction unless its first line is
`-- migrate: no-transaction` (for CREATE INDEX CONCURRENTLY and the like).

    python -m devtools.migrate                          # DATABASE_URL, production-safe files only
    python -m devtools.migrate --with-standin-baseline  # dev and tests: stand-ins of existing tables
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "sql" / "migrations"
BASELINE = ROOT / "sql" / "baseline"
NO_TRANSACTION = "-- migrate: no-transaction"

LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def _files(with_baseline: bool) -> list[Path]:
    files = sorted(BASELINE.glob("*.sql")) if with_baseline else []
    return files + sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def unknown_applied(conn) -> list[str]:
    """Versions the database has applied that this checkout does not have (its code is older)."""
    if conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()[0] is None:
        return []
    known = {path.stem for path in _files(with_baseline=True)}
    return sorted(v for (v,) in conn.execute("SELECT version FROM schema_migrations") if v not in known)


def apply(database_url: str, *, with_baseline: bool = False, log=print) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True, prepare_threshold=None) as conn:
        conn.execute(LEDGER)
        done = {row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM schema_migrations")}
        for path in _files(with_baseline):
            sql = path.read_text(encoding="utf-8")
            version = path.stem
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if version in done:
                if done[version] != checksum:
                    log(f"warning: {path.name} changed since it was applied; not re-applied")
                continue
            if sql.lstrip().startswith(NO_TRANSACTION):
                conn.execute(sql)
                conn.execute("INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                             (version, checksum))
            else:
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                                 (version, checksum))
            log(f"applied {path.name}")
            applied_now.append(version)
    return applied_now


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--with-standin-baseline", action="store_true",
                        help="also create stand-ins of the production tables (dev and tests only)")
    args = parser.parse_args(argv)
    if not args.database_url:
        print("DATABASE_URL is not set (or pass --database-url)", file=sys.stderr)
        return 2
    applied = apply(args.database_url, with_baseline=args.with_standin_baseline)
    print(f"{len(applied)} migration(s) applied; the database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
