"""Lambda SnapStart (template.yaml's SnapStart parameter): the runtime hooks of a restored container.

A snapshot is taken after the init (the import), and one snapshot is restored into many containers,
maybe days later. What must not survive it: connections (their sockets belong to the machine the
snapshot was taken on; the server forgot them long ago, or never saw this copy), a pool's idle
stamps, cached credentials (JWKS keys, boto3's credentials) and anything unique per container.
So, after a restore, the process forgets every client, store and service (`wiring.reset()`), and
the first request opens its own. Before the snapshot the store clients' modules are imported (what
a first request would pay for), but nothing is opened.

The hooks come from `snapshot_restore_py`, which Lambda's managed Python runtimes include; anywhere
else (tests, make dev) it is absent and `register()` does nothing.
"""

from __future__ import annotations

import importlib

# What a first request imports, warmed into the snapshot (no connection is made by importing them).
WARM_MODULES = ("redis", "psycopg", "psycopg_pool", "functions.adapters.redis", "functions.adapters.postgres")


def before_snapshot() -> None:
    for name in WARM_MODULES:
        importlib.import_module(name)


def after_restore() -> None:
    from .. import wiring

    wiring.reset()


def register() -> bool:
    """Register the hooks when the runtime offers them; whether it did."""
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True
