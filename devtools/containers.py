"""Lambda's containers, locally: worker processes that each run one invocation at a time.

In AWS, requests that arrive together go to different containers of a function, each with its own
module state, clients and caches, running side by side. The dev server hands every request to one
of DEV_CONCURRENCY such workers (processes, started with `spawn` so that none inherits another's
sockets), so what races in production races under `make dev` and its tests too. A worker is warm
from its first request on, like a container.
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


class Containers:
    def __init__(self, workers: int):
        self.workers = workers
        self._lock = threading.Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_warm)
        for _ in range(self.workers):
            pool.submit(_ping)  # start every worker now, not on the first burst of requests
        return pool

    def invoke(self, name: str, event: dict) -> dict:
        pool = self._pool
        try:
            return pool.submit(_invoke, name, event).result()
        except BrokenProcessPool:
            # A worker died (as a container can): start fresh ones; this request's answer is lost.
            with self._lock:
                if self._pool is pool:
                    self._pool = self._start()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
