"""Simulated users of draft_session, and the check that nothing they were told was saved got lost.

A user opens a draft, autosaves it (`topic` and `description` always from the same save, so a torn
write shows), materializes it after a few saves, and starts over. Every reply is recorded: what was
acknowledged, what was only attempted (a 503 may or may not have landed), and any reply outside the
documented set. `verify()` then reads everything back after the stores are up again.

The same users drive the handler in-process (fault tests) or the dev server over HTTP (load tests):
only `send` differs. Every loop is bounded in count and in time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

# (status, json, headers) of one reply
Send = Callable[[str, str, str, Optional[dict]], tuple[int, Optional[dict], dict]]

# What a user may be answered while a store is down: anything else is a failure.
EXPECTED = {
    "create": {201, 503},
    "save": {200, 503},
    "materialize": {200, 201, 503},
}
MATERIALIZE_FORM = {"lessonDuration": 45}


@dataclass
class Draft:
    sid: str
    storage: str
    acked: int = 0  # highest save number answered 200
    attempted: int = 0  # highest save number sent
    course_id: Optional[str] = None  # set once a materialize was answered 200/201
    materialize_tries: int = 0
    save_first: bool = False  # after a failed submit the user edits again before retrying


@dataclass
class SimUser:
    user_id: str
    token: str
    saves_per_draft: int = 5
    drafts: list[Draft] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)  # by kind of call
    acked_saves: int = 0
    extra_form: dict = field(default_factory=dict)  # more fields in each save, for realistic sizes

    @property
    def open_draft(self) -> Optional[Draft]:
        return self.drafts[-1] if self.drafts and self.drafts[-1].course_id is None else None

    def _call(self, send: Send, kind: str, method: str, path: str, body: Optional[dict]):
        start = time.perf_counter()
        try:
            status, payload, headers = send(method, path, self.token, body)
        except Exception as exc:  # a transport error is an error too, never a silent skip
            self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            return 0, None, {}
        self.latencies_ms.setdefault(kind, []).append((time.perf_counter() - start) * 1000)
        self.statuses[f"{kind} {status}"] += 1
        if status not in EXPECTED[kind]:
            self.errors.append(f"{kind} {path}: {status} {str(payload)[:200]}")
        elif status == 503 and not headers.get("retry-after"):
            self.errors.append(f"{kind} {path}: 503 without Retry-After")
        return status, payload, headers

    def step(self, send: Send) -> None:
        """One action: open a draft, save it, or materialize it."""
        draft = self.open_draft
        if draft is None:
            status, payload, _ = self._call(send, "create", "POST", "/drafts", {"formData": {"topic": "save 0"}})
            if status == 201:
                self.drafts.append(Draft(payload["sessionId"], payload["storage"]))
            return
        if draft.acked >= self.saves_per_draft and not draft.save_first:
            draft.materialize_tries += 1
            status, payload, _ = self._call(send, "materialize", "POST", f"/drafts/{draft.sid}/materialize",
                                            {"reason": "submit", "formData": MATERIALIZE_FORM})
            if status in (200, 201):
                if payload.get("sessionId") != draft.sid:
                    self.errors.append(f"materialize {draft.sid}: answered for {payload.get('sessionId')}")
                draft.course_id = payload["courseId"]
            else:
                draft.save_first = True
            return
        draft.save_first = False
        n = draft.attempted + 1
        draft.attempted = n
        status, payload, _ = self._call(send, "save", "PATCH", f"/drafts/{draft.sid}",
                                        {"formData": {**self.extra_form, "topic": f"save {n}",
                                                      "description": f"{draft.sid}:{n}"}})
        if status == 200:
            got = payload["formData"]
            if got.get("topic") != f"save {n}" or got.get("description") != f"{draft.sid}:{n}":
                self.errors.append(f"save {draft.sid}: answered {got} for save {n}")
            draft.acked = n
            self.acked_saves += 1


class Crowd:
    """Users driven each in its own thread until `stop()` (or their step and time budgets run out)."""

    def __init__(self, users: list[SimUser], send: Send, *, pause: float = 0.0, max_steps: int = 10_000,
                 deadline_s: float = 120.0):
        self.users, self.send, self.pause = users, send, pause
        self.max_steps, self.deadline_s = max_steps, deadline_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Crowd:
        end = time.monotonic() + self.deadline_s

        def loop(user: SimUser, offset: float):
            self._stop.wait(offset)  # spread the users over one pause, as real tabs are
            for _ in range(self.max_steps):
                if self._stop.is_set() or time.monotonic() > end:
                    return
                user.step(self.send)
                if self.pause:
                    self._stop.wait(self.pause)

        n = len(self.users)
        self._threads = [threading.Thread(target=loop, args=(u, self.pause * i / n), daemon=True)
                         for i, u in enumerate(self.users)]
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)
        alive = [t for t in self._threads if t.is_alive()]
        assert not alive, f"{len(alive)} simulated users did not stop"

    def count(self, key: str) -> int:
        return sum(u.statuses[key] for u in self.users)


def wait_until(predicate: Callable[[], bool], *, timeout: float = 60.0, what: str = "condition",
               crowd: Optional[Crowd] = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    seen = f"; replies so far: {dict(totals(crowd.users))}; errors: {[u.errors[:3] for u in crowd.users]}" if crowd else ""
    raise AssertionError(f"timed out waiting for {what}{seen}")


def _save_number(value: Optional[str]) -> int:
    return int(value.split(" ")[1]) if value else 0


def verify(users: list[SimUser], send: Send, db) -> dict:
    """Nothing lost, nothing duplicated: every acknowledged save readable, one row per materialized draft."""
    problems: list[str] = []
    drafts = materialized = 0
    for user in users:
        problems += user.errors
        for d in user.drafts:
            drafts += 1
            rows = db.execute("SELECT id, settings->'draftForm' FROM courses WHERE draft_session_id = %s",
                              (d.sid,)).fetchall()
            if d.course_id is not None:
                materialized += 1
                if len(rows) != 1 or str(rows[0][0]) != d.course_id:
                    problems.append(f"{d.sid}: materialized as {d.course_id}, rows {rows}")
                    continue
                form = rows[0][1]
            else:
                # Still open: readable through the API, and (unless it lives in the database) no row.
                if d.storage == "redis" and rows:
                    problems.append(f"{d.sid}: not materialized but has rows {rows}")
                status, payload, _ = send("GET", f"/drafts/{d.sid}", user.token, None)
                if status != 200:
                    problems.append(f"{d.sid}: acknowledged saves up to {d.acked}, now {status}")
                    continue
                form = payload["formData"]
            n = _save_number(form.get("topic"))
            if not (d.acked <= n <= d.attempted):
                problems.append(f"{d.sid}: holds save {n}, acknowledged {d.acked}, attempted {d.attempted}")
            elif n and form.get("description") != f"{d.sid}:{n}":
                problems.append(f"{d.sid}: torn save: {form}")
            if d.course_id is not None and form.get("lessonDuration") != MATERIALIZE_FORM["lessonDuration"]:
                problems.append(f"{d.sid}: the submit's final values are missing from the row: {form}")
    assert not problems, "\n".join(problems[:30])
    return {"drafts": drafts, "materialized": materialized, "acked_saves": sum(u.acked_saves for u in users)}


def handler_send(handler) -> Send:
    """Send through the function's handler, in this process (a warm Lambda container)."""
    from tests.conftest import call

    def send(method, path, token, body):
        reply = call(handler, method, path, token=token, body=body)
        return reply.status, reply.json, reply.headers

    return send


def percentiles(users: list[SimUser], kind: Optional[str] = None) -> dict:
    values = sorted(v for u in users for k, vs in u.latencies_ms.items() if kind in (None, k) for v in vs)
    if not values:
        return {"count": 0}

    def pick(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    return {"count": len(values), "p50Ms": pick(0.50), "p99Ms": pick(0.99), "maxMs": round(values[-1], 1)}


def totals(users: list[SimUser]) -> Counter:
    out: Counter = Counter()
    for user in users:
        out.update(user.statuses)
    return out


def create_burst(barrier, token: str, count: int, results) -> None:
    """In a process of its own (a Lambda container of its own): wait for the others, then open
    `count` drafts as fast as it can and report the statuses. Module-level, so `spawn` can find it."""
    import json as _json

    from devtools.events import function_url_event
    from functions.draft_session.app import handler

    event = function_url_event("POST", "/drafts", headers={"authorization": f"Bearer {token}",
                                                           "content-type": "application/json"}, body=b"{}")
    warm = function_url_event("GET", "/drafts", headers={"authorization": f"Bearer {token}"})
    handler(warm, None)  # imports, clients and the token check done before the barrier
    statuses = []
    try:
        barrier.wait(60)
        for _ in range(count):
            reply = handler(event, None)
            body = _json.loads(reply["body"]) if reply.get("body") else {}
            statuses.append((reply["statusCode"], (body.get("error") or {}).get("code"),
                             (reply.get("headers") or {}).get("Retry-After")))
    finally:
        results.put(statuses)
