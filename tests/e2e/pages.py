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


# --- cases both pages (plain and React) must pass the same way ---

def check_two_tabs_are_two_sessions(context, url: str, api, db):
    """Two tabs of one browser: two sessions, each with its own form, and no course row. Returns the second."""
    first, second = open_form(context, url), open_form(context, url)
    first.fill('[name="topic"]', "Первая вкладка")
    second.fill('[name="topic"]', "Вторая вкладка")
    wait_state(first, "saved")
    wait_state(second, "saved")
    ids = {session_id(first), session_id(second)}
    assert len(ids) == 2
    assert {s["sessionId"] for s in api.sessions()} == ids
    assert {api.session(i)["formData"]["topic"] for i in ids} == {"Первая вкладка", "Вторая вкладка"}
    assert course_rows(db) == []
    return second


def check_a_submit_in_one_tab_closes_the_other(context, url: str, db):
    """Tab one submits; tab two (the same session) edits: it says "already submitted", names the course,
    locks the form, and the course keeps tab one's form. Returns tab two."""
    first = open_form(context, url)
    first.fill('[name="topic"]', "Отправлено в первой вкладке")
    wait_state(first, "saved")
    second = duplicate_tab(context, first, url)
    assert session_id(second) == session_id(first)
    first.click('button:has-text("Создать курс")')
    wait_state(first, "materialized")
    course_id, title = course_rows(db)[0][:2]

    second.fill('[name="description"]', "Правка после отправки")  # its save meets 409 already_materialized
    second.wait_for_selector("#result:has-text('уже отправлен')")
    wait_state(second, "materialized")
    assert second.get_attribute("#result", "data-course-id") == str(course_id)
    assert second.is_disabled('[name="description"]')
    assert [(r[0], r[1]) for r in course_rows(db)] == [(course_id, title)]  # nothing changed, no second row
    assert db.execute("SELECT settings->'draftForm'->>'topic', settings->'draftForm'->>'description' "
                      "FROM courses").fetchone() == (title, None)  # the form the course kept: tab one's
    return second


def check_a_file_upload_materializes_first(page, db):
    """Uploading a file (before any submit) creates the course first: when the upload request leaves,
    the row of this tab's session is already committed, made for 'file_upload'. Returns its id."""
    sid = session_id(page)
    page.fill('[name="topic"]', "Курс с материалами")
    seen_at_upload = []

    def upload(route, request):
        course_id = request.url.rstrip("/").rsplit("/", 1)[-1]  # the platform's upload names the course
        seen_at_upload.append(db.execute(
            "SELECT id, draft_session_id, settings->>'materializedBy' FROM courses WHERE id = %s",
            (course_id,)).fetchall())
        route.continue_()

    page.route("**/dev-upload/**", upload)
    page.set_input_files('input[type="file"]', files=[
        {"name": "lesson-plan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n% tiny test file\n"}])
    page.wait_for_selector("text=Файл загружен")
    assert len(seen_at_upload) == 1 and len(seen_at_upload[0]) == 1, seen_at_upload
    course_id, draft_session_id, reason = seen_at_upload[0][0]
    assert (str(draft_session_id), reason) == (sid, "file_upload")
    assert len(course_rows(db)) == 1
    return course_id
