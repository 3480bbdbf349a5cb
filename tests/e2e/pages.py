"""What the browser tests of both create-course pages (plain and React) share: waiting for the
draft badge's state, reading the session id, the course rows, polling the server."""

from __future__ import annotations

import json
import time
import uuid

from tests.e2e.conftest import WAIT_MS

STATE = "#draft-state"


def open_form(context, url: str):
    """A new tab on the page, once its draft session is open (created or restored) and saved."""
    page = context.new_page()
    page.goto(url)
    wait_state(page, "saved")
    return page


def wait_state(page, state: str, timeout: float = WAIT_MS) -> None:
    page.wait_for_selector(f'{STATE}[data-state="{state}"]', timeout=timeout)


def session_id(page) -> str:
    text = page.inner_text("#session-id")
    uuid.UUID(text)  # the page shows the id it holds
    return text


def course_rows(db) -> list[tuple]:
    return db.execute("SELECT id, title, draft_session_id, user_id, status, generation_status, "
                      "settings->>'materializedBy' FROM courses").fetchall()


def eventually(check, *, timeout: float = 20.0, interval: float = 0.2):
    """Poll the server until `check` returns a truthy value (an upper bound, not a timing claim)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def duplicate_tab(context, page, url: str):
    """A second tab holding the same session, as Chrome's "Duplicate tab" makes (it copies sessionStorage)."""
    stored = page.evaluate("sessionStorage.getItem('course-draft')")
    twin = context.new_page()
    twin.add_init_script(f"sessionStorage.setItem('course-draft', {json.dumps(stored)})")
    twin.goto(url)
    wait_state(twin, "saved")
    return twin
