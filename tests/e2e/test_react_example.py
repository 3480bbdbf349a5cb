"""The React example (examples/react-create-course: react-hook-form + useDraftSession, bundled by
esbuild with React's development build, so StrictMode mounts every effect twice) in Chromium,
against `make dev`'s functions: the spec's three cases (seeds 000, 5.3), the session's life in a
browser (3.2), another device (12.2), outages, and the races the server's integrity rules settle.
Screenshots of each case go to test-output/e2e/react-*.png."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devtools.devserver import DEV_USER
from tests.e2e.pages import (
    STATE,
    check_a_file_upload_materializes_first,
    check_a_submit_in_one_tab_closes_the_other,
    check_two_tabs_are_two_sessions,
    course_rows,
    eventually,
    open_form,
    session_id,
    wait_state,
)

BUNDLE = Path(__file__).resolve().parents[2] / "examples" / "react-create-course" / "dist" / "index.html"
ALL_FIELDS = {"topic": "React и черновики", "email": "me@example.com", "language": "ru",
              "description": "Курс переживает F5", "targetAudience": "фронтендеры", "writingStyle": "practical",
              "estimatedLessons": 12, "estimatedSections": 3, "lessonDuration": 25, "formats": ["video", "quiz"],
              "learningOutcomes": "Хуки и формы"}


@pytest.fixture(scope="module", autouse=True)
def _bundle_built():
    if not BUNDLE.is_file():
        pytest.fail("the React example is not built: run `make node-build` (make test does)", pytrace=False)


@pytest.fixture
def url(dev_server) -> str:
    return f"{dev_server.page}react/"


@pytest.fixture
def shot(output_dir):
    return lambda page, name: page.screenshot(path=str(output_dir / f"react-{name}.png"), full_page=True)


def writes(page, api_base: str) -> list[dict]:
    """Every write the page sends to the API (preflights aside), with its Idempotency-Key."""
    seen: list[dict] = []

    def record(request):
        if request.url.startswith(api_base) and request.method in ("POST", "PATCH", "DELETE"):
            seen.append({"method": request.method, "path": request.url[len(api_base):],
                         "key": request.headers.get("idempotency-key"), "body": request.post_data})
    page.on("request", record)
    return seen


def fill_all(page) -> None:
    for name, value in ALL_FIELDS.items():
        if name in ("language", "writingStyle"):
            page.select_option(f'[name="{name}"]', value)
        elif name == "formats":
            for item in value:
                page.check(f'input[name="formats"][value="{item}"]')
        else:
            page.fill(f'[name="{name}"]', str(value))


def submit(page) -> None:
    page.click('button:has-text("Создать курс")')
    wait_state(page, "materialized")


def freeze(redis_server):
    """Redis stops answering (SIGSTOP) and keeps its data: what a hung store or a lost network is."""
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    return lambda: os.kill(redis_server.proc.pid, signal.SIGCONT)


# --- the spec's three cases (5.3) ---

def test_a_visit_opens_one_session_and_no_course_row(context, url, api, db, shot):
    page = open_form(context, url)
    assert page.inner_text("h1") == "Создать новый курс"
    # StrictMode's double mount (development build) must not have opened a second session.
    assert [s["sessionId"] for s in api.sessions()] == [session_id(page)]
    assert course_rows(db) == []
    shot(page, "visit")


def test_submit_adds_exactly_one_course_row_and_shows_it_submitted(context, url, api, db, shot):
    page = open_form(context, url)
    sid = session_id(page)
    page.fill('[name="topic"]', "E2E Test Course")
    page.fill('[name="email"]', "test@example.com")
    submit(page)
    page.wait_for_selector("text=Курс создан")
    shot(page, "after-submit")

    rows = course_rows(db)
    assert len(rows) == 1
    course_id, title, draft_session_id, user_id, status, _, reason = rows[0]
    assert (title, str(draft_session_id), user_id, status, reason) == ("E2E Test Course", sid, DEV_USER, "draft", "submit")
    assert page.get_attribute("#result", "data-course-id") == str(course_id)
    assert page.is_disabled('[name="topic"]')  # a submitted form takes no more edits

    page.reload()  # a reload shows the submitted draft as submitted, never as a fresh form
    wait_state(page, "materialized")
    assert page.get_attribute("#result", "data-course-id") == str(course_id)
    assert page.is_disabled('[name="topic"]')
    assert api.sessions() == [] and len(course_rows(db)) == 1


def test_a_file_upload_materializes_the_course_first(context, url, api, db, shot):
    page = open_form(context, url)
    course_id = check_a_file_upload_materializes_first(page, db)
    shot(page, "after-upload")
    submit(page)  # the submit after the upload: the same course
    page.wait_for_selector("text=Курс создан")
    assert [r[0] for r in course_rows(db)] == [course_id]


# --- the session's life in a browser (3.2) ---

def test_reload_keeps_the_session_and_every_field(context, url, api, db, shot):
    page = open_form(context, url)
    sid = session_id(page)
    fill_all(page)
    wait_state(page, "saved")
    assert api.session(sid)["formData"] == ALL_FIELDS

    page.reload()
    wait_state(page, "saved")
    assert session_id(page) == sid
    for name, value in ALL_FIELDS.items():
        if name == "formats":
            assert [page.is_checked(f'input[name="formats"][value="{v}"]') for v in ("text", "video", "audio", "quiz")] \
                == [False, True, False, True]
        else:
            assert page.input_value(f'[name="{name}"]') == str(value), name
    shot(page, "after-reload")
    assert [s["sessionId"] for s in api.sessions()] == [sid]
    assert course_rows(db) == []


def test_two_tabs_are_two_sessions(context, url, api, db, shot):
    shot(check_two_tabs_are_two_sessions(context, url, api, db), "second-tab")


def test_closing_within_3_s_loses_nothing(context, url, api, db, shot):
    page = context.new_page()
    page.clock.install()
    page.goto(url)
    wait_state(page, "saved")
    sid = session_id(page)
    page.clock.pause_at(int(time.time() * 1000) + 1000)  # the 3 s autosave cannot run
    page.fill('[name="topic"]', "Последние нажатия")
    wait_state(page, "pending")
    shot(page, "before-close")
    page.close(run_before_unload=True)

    assert eventually(lambda: api.session(sid)["formData"].get("topic")) == "Последние нажатия"  # pagehide's keepalive
    assert course_rows(db) == []


# --- another device (12.2): offered, resumed, never merged ---

def test_another_device_is_offered_the_draft_and_resumes_it(browser, context, url, api, db, shot):
    laptop = open_form(context, url)
    laptop_sid = session_id(laptop)
    laptop.fill('[name="topic"]', "Начато на ноутбуке")
    laptop.fill('[name="estimatedLessons"]', "8")
    wait_state(laptop, "saved")
    saved_at = api.session(laptop_sid)["updatedAt"]

    phone = browser.new_context(viewport={"width": 420, "height": 900}, locale="ru-RU", timezone_id="Europe/Moscow")
    try:
        page = open_form(phone, url)
        fresh_sid = session_id(page)
        assert fresh_sid != laptop_sid
        offer = page.wait_for_selector("#resume-offer")
        hhmm = dt.datetime.fromisoformat(saved_at.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/Moscow"))
        assert f"Продолжить черновик от {hhmm:%H:%M}?" in offer.inner_text()
        assert "Начато на ноутбуке" in offer.inner_text()
        assert page.input_value('[name="topic"]') == ""  # offered, not merged
        shot(page, "resume-offer")

        page.click('#resume-offer button:has-text("Продолжить")')
        page.wait_for_function(f"document.querySelector('#session-id').textContent === {json.dumps(laptop_sid)}")
        assert page.input_value('[name="topic"]') == "Начато на ноутбуке"
        assert page.input_value('[name="estimatedLessons"]') == "8"
        page.fill('[name="description"]', "Продолжено на телефоне")
        wait_state(page, "saved")
        shot(page, "resumed")
    finally:
        phone.close()

    assert api.session(laptop_sid)["formData"] == {"topic": "Начато на ноутбуке", "estimatedLessons": 8,
                                                  "description": "Продолжено на телефоне"}
    assert [s["sessionId"] for s in api.sessions()] == [laptop_sid]  # the phone's empty fresh session is gone
    assert course_rows(db) == []


# --- outages and races ---

def test_offline_and_back_retries_with_the_same_key_and_makes_no_duplicate(context, url, api, db, redis_server, shot):
    page = open_form(context, url)
    sid = session_id(page)
    sent = writes(page, api.base)
    page.fill('[name="topic"]', "Отправлено без связи")
    wait_state(page, "saved")
    thaw = freeze(redis_server)
    try:
        page.click('button:has-text("Создать курс")')
        wait_state(page, "offline")  # 503 from the store's timeout; the client waits out Retry-After
        assert "Нет связи" in page.inner_text(STATE)
        shot(page, "offline")
    finally:
        thaw()
    wait_state(page, "materialized", timeout=60_000)
    page.wait_for_selector("text=Курс создан")

    rows = course_rows(db)
    assert len(rows) == 1 and str(rows[0][2]) == sid
    tries = [w for w in sent if w["path"].endswith("/materialize")]
    assert len(tries) >= 2, tries  # at least the one that met the outage and its retry
    assert tries[0]["key"], "the write went without an Idempotency-Key"
    assert {w["key"] for w in tries} == {tries[0]["key"]}, "a retry of one submit took another key"
    assert len({w["body"] for w in tries}) == 1


def test_a_submit_in_one_tab_then_an_edit_in_another_says_already_submitted(context, url, api, db, shot):
    second = check_a_submit_in_one_tab_closes_the_other(context, url, db)
    assert second.get_attribute(STATE, "data-already-submitted") == "true"  # the badge says it too
    shot(second, "already-submitted")


def test_a_double_clicked_submit_makes_one_row(context, url, api, db, shot):
    page = open_form(context, url)
    page.fill('[name="topic"]', "Двойной щелчок")
    page.dblclick('button:has-text("Создать курс")')
    wait_state(page, "materialized")
    page.wait_for_selector("text=Курс создан")
    shot(page, "double-click")
    assert len(eventually(lambda: course_rows(db))) == 1
    time.sleep(0.5)  # a late second materialize would land now; there must be none
    assert len(course_rows(db)) == 1


def test_a_version_conflict_is_merged_and_told(context, url, api, db, shot):
    page = open_form(context, url)
    sid = session_id(page)
    assert api.request("PATCH", f"/drafts/{sid}", {"formData": {"targetAudience": "студенты"}})[0] == 200
    page.fill('[name="topic"]', "Конфликт версий")
    page.wait_for_selector("#conflict-notice")
    wait_state(page, "saved")
    assert page.input_value('[name="targetAudience"]') == "студенты"
    assert api.session(sid)["formData"] == {"targetAudience": "студенты", "topic": "Конфликт версий"}
    shot(page, "conflict")


# --- validation, in Russian ---

def test_the_form_checks_speak_russian(context, url, api, db, shot):
    page = open_form(context, url)
    page.click('button:has-text("Создать курс")')
    assert page.wait_for_selector('[data-field="topic"]').inner_text() == "Обязательное поле"
    page.fill('[name="estimatedLessons"]', "500")
    page.click('[name="topic"]')  # leaving the field checks it (mode onTouched)
    assert page.wait_for_selector('[data-field="estimatedLessons"]').inner_text() == "Не больше 200"
    shot(page, "form-checks")
    assert course_rows(db) == []


def test_server_refusals_are_shown_in_russian_by_code(context, url, api, db, shot):
    page = open_form(context, url)
    page.fill('[name="email"]', "не-адрес")  # the browser's own check is off (noValidate): the server decides
    wait_state(page, "invalid")
    message = page.wait_for_selector('[data-field="email"]').inner_text()
    shot(page, "server-refusal")
    assert message == "Введите адрес электронной почты, например name@example.com", message
