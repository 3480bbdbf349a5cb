"""Several Lambda containers of one function, as separate processes, for tests that race them.

Each container is a process of its own (started with `spawn`: its own imports, clients, pools and
caches, as a container has) that runs one invocation at a time. `race()` hands one event to each
container and releases them together through a barrier, optionally each after a random pause of up
to `jitter_ms`, so that the requests meet in every order and at every point of each other.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from typing import Optional

_CTX = multiprocessing.get_context("spawn")


def _serve(conn, barrier, module: str) -> None:
    import importlib
    import logging

    logging.disable(logging.CRITICAL)  # the JSON log lines are not what these tests read
    handler = importlib.import_module(module).handler
    conn.send("ready")
    while True:
        message = conn.recv()
        if message is None:
            return
        event, jitter_ms, seed = message
        barrier.wait(60)
        if jitter_ms:
            time.sleep(random.Random(seed).uniform(0, jitter_ms) / 1000)
        try:
            reply = handler(event, None)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            reply = {"statusCode": -1, "body": f"{type(exc).__name__}: {exc}"}
        conn.send(reply)


class Fleet:
    """n warm containers of the function `module` (e.g. "functions.draft_session.app")."""

    def __init__(self, n: int, module: str = "functions.draft_session.app"):
        self.barrier = _CTX.Barrier(n)
        self.pipes = []
        self.procs = []
        for _ in range(n):
            parent, child = _CTX.Pipe()
            proc = _CTX.Process(target=_serve, args=(child, self.barrier, module), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            if not pipe.poll(120) or pipe.recv() != "ready":
                self.close()
                raise RuntimeError("a container did not start")

    def race(self, events: list[dict], *, jitter_ms: float = 0, seed: Optional[int] = None,
             timeout: float = 60) -> list[dict]:
        """Invoke events[i] on container i, all released at once; the replies, in order."""
        if len(events) != len(self.pipes):
            raise ValueError("one event per container")
        rng = random.Random(seed)
        for pipe, event in zip(self.pipes, events):
            pipe.send((event, jitter_ms, rng.random()))
        replies = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("a container did not answer")
            replies.append(pipe.recv())
        return replies

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
