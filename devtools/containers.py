"""Lambda's containers, locally: worker processes that each run one invocation at a time.

In AWS, requests that arrive together go to different containers of a function, each with its own
module state, clients and caches, running side by side. The dev server hands every request to one
of DEV_CONCURRENCY such workers (processes, started with `spawn` so that none inherits another's
sockets), so what races in production races under `make dev` and its tests too. A worker is warm
from its first request on, like a container. With qdrant-client's local mode (QDRANT_PATH, the
default of `make dev`), the two functions that use Qdrant share one worker: local mode allows one
process per directory.
"""

from __future__ import annotations

import importlib
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Optional

FUNCTIONS = ("draft_session", "purge_course", "cleanup_drafts")
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 64


def concurrency_of(value: Optional[str]) -> int:
    """DEV_CONCURRENCY: how many requests run at once (ValueError naming the variable if malformed)."""
    if value is None or value == "":
        return DEFAULT_CONCURRENCY
    try:
        n = int(value)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_CONCURRENCY:
        raise ValueError(f"DEV_CONCURRENCY must be a whole number from 1 to {MAX_CONCURRENCY}, not {value!r}")
    return n


def _warm() -> None:
    """Each worker imports the functions once, as a container's init does."""
    for name in FUNCTIONS:
        try:
            importlib.import_module(f"functions.{name}.app")
        except ModuleNotFoundError:
            pass


def _invoke(name: str, event: dict) -> dict:
    return importlib.import_module(f"functions.{name}.app").handler(event, None)


def _ping() -> int:
    import os

    return os.getpid()


class _Pool:
    """Workers that serve some functions; restarted if one dies (as a container can)."""

    def __init__(self, workers: int):
        self.workers = workers
        self._lock = threading.Lock()
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm)
        for _ in range(self.workers):
            pool.submit(_ping)  # start every worker now, not on the first burst of requests
        return pool

    def invoke(self, name: str, event: dict) -> dict:
        executor = self._executor
        try:
            return executor.submit(_invoke, name, event).result()
        except BrokenProcessPool:
            with self._lock:  # this request's answer is lost; the next ones get fresh workers
                if self._executor is executor:
                    self._executor = self._start()
            raise

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


# The functions that open Qdrant: qdrant-client's local mode (QDRANT_PATH) lets one process use a
# directory, so with it they share a single worker (the hourly cleanup runs one at a time in AWS too).
QDRANT_USERS = ("purge_course", "cleanup_drafts")


class Containers:
    def __init__(self, workers: int, *, local_qdrant: bool):
        self.workers = workers
        self.draft = _Pool(workers)
        self.qdrant = _Pool(1) if local_qdrant else self.draft

    def invoke(self, name: str, event: dict) -> dict:
        return (self.qdrant if name in QDRANT_USERS else self.draft).invoke(name, event)

    def close(self) -> None:
        for pool in {id(p): p for p in (self.draft, self.qdrant)}.values():
            pool.close()
