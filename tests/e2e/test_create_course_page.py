"""The create-course form in a real browser: the spec's E2E cases (seeds 000, 5.3) and the session
behaviour of 3.2, through examples/create-course (the package clients/draft-session's build) against
`make dev`'s server."""

from __future__ import annotations

import time

from devtools.devserver import DEV_USER
from devtools.pageserver import PageServer
from tests.conftest import user_token
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


def watch_network(context, page) -> list[tuple[str, dict]]:
    """Chromium's own network events (they include CORS preflights and CORS failures)."""
    events: list[tuple[str, dict]] = []
    cdp = context.new_cdp_session(page)
    for name in ("Network.requestWillBeSent", "Network.responseReceived", "Network.loadingFailed"):
        cdp.on(name, lambda params, name=name: events.append((name, params)))
    cdp.send("Network.enable")
    return events


# --- the spec's three cases (5.3) ---

def test_visiting_the_form_adds_no_course_row(context, dev_server, api, db):
    page = open_form(context, dev_server.page)
    assert page.inner_text("h1") == "Создать новый курс"
    assert [s["sessionId"] for s in api.sessions()] == [session_id(page)]  # the visit opened a session...
    assert course_rows(db) == []  # ...and created no course


def test_submit_adds_exactly_one_course_row(context, dev_server, api, db, output_dir):
    page = open_form(context, dev_server.page)
    sid = session_id(page)
    page.fill('[name="topic"]', "E2E Test Course")
    page.fill('[name="email"]', "test@example.com")
    page.click('button:has-text("Создать курс")')
    page.wait_for_selector("text=Курс создан")
    page.screenshot(path=str(output_dir / "after-submit.png"), full_page=True)

    rows = course_rows(db)
    assert len(rows) == 1
    course_id, title, draft_session_id, user_id, status, generation_status, reason = rows[0]
    assert (title, str(draft_session_id), user_id, status, generation_status, reason) == (
        "E2E Test Course", sid, DEV_USER, "draft", None, "submit")
    assert page.get_attribute("#result", "data-course-id") == str(course_id)
    assert api.sessions() == []  # the session went away once the row was committed

    page.click('button:has-text("Создать курс")')  # a second click answers the same course
    wait_state(page, "materialized")
    assert len(course_rows(db)) == 1


def test_file_upload_materializes_the_course_first(context, dev_server, api, db, output_dir):
    page = open_form(context, dev_server.page)
    course_id = check_a_file_upload_materializes_first(page, db)
    page.screenshot(path=str(output_dir / "after-upload.png"), full_page=True)

    page.click('button:has-text("Создать курс")')  # submit after the upload: the same course, no second row
    wait_state(page, "materialized")
    assert [r[0] for r in course_rows(db)] == [course_id]


def test_a_reload_shows_a_submitted_draft_as_submitted(context, dev_server, api, db):
    page = open_form(context, dev_server.page)
    page.fill('[name="topic"]', "Отправлен до перезагрузки")
    page.click('button:has-text("Создать курс")')
    wait_state(page, "materialized")
    course_id = page.get_attribute("#result", "data-course-id")

    page.reload()
    wait_state(page, "materialized")
    assert page.get_attribute("#result", "data-course-id") == course_id
    assert "Курс создан" in page.inner_text("#result")
    assert api.sessions() == [] and len(course_rows(db)) == 1  # no fresh session behind the submitted one


def test_a_submit_in_another_tab_is_explained_and_changes_nothing(context, dev_server, api, db, output_dir):
    second = check_a_submit_in_one_tab_closes_the_other(context, dev_server.page, db)
    second.screenshot(path=str(output_dir / "already-submitted.png"), full_page=True)


# --- the session's life in a browser (3.2) ---

def test_reload_restores_the_same_session_and_form_without_a_row(context, dev_server, api, db):
    page = open_form(context, dev_server.page)
    sid = session_id(page)
    page.fill('[name="topic"]', "Перезагрузка")
    page.fill('[name="description"]', "Форма переживает F5")
    page.select_option('[name="language"]', "ru")
    page.check('input[name="formats"][value="video"]')
    wait_state(page, "saved")
    assert api.session(sid)["formData"] == {"topic": "Перезагрузка", "description": "Форма переживает F5",
                                            "language": "ru", "formats": ["video"]}

    page.reload()
    wait_state(page, "saved")
    assert session_id(page) == sid
    assert page.input_value('[name="topic"]') == "Перезагрузка"
    assert page.input_value('[name="description"]') == "Форма переживает F5"
    assert page.input_value('[name="language"]') == "ru"
    assert page.is_checked('input[name="formats"][value="video"]')
    assert [s["sessionId"] for s in api.sessions()] == [sid]
    assert course_rows(db) == []


def test_two_tabs_hold_two_sessions_and_no_rows(context, dev_server, api, db):
    check_two_tabs_are_two_sessions(context, dev_server.page, api, db)


def test_closing_the_tab_before_the_autosave_keeps_the_last_keystrokes(context, dev_server, api, db):
    page = context.new_page()
    page.clock.install()  # the page's timers under the test's control...
    page.goto(dev_server.page)
    wait_state(page, "saved")
    sid = session_id(page)
    page.clock.pause_at(int(time.time() * 1000) + 1000)  # ...and stopped: the 3 s autosave cannot run
    page.fill('[name="topic"]', "Последние нажатия")
    assert page.get_attribute(STATE, "data-state") == "pending"
    page.close(run_before_unload=True)  # the user closes the tab before the autosave

    saved = eventually(lambda: api.session(sid)["formData"].get("topic"))
    assert saved == "Последние нажатия"  # sent by the keepalive request on pagehide
    assert course_rows(db) == []


def test_redis_down_shows_offline_and_the_edits_arrive_once_it_is_back(
        context, dev_server, api, db, redis_server, output_dir):
    page = open_form(context, dev_server.page)
    redis_server.stop()
    try:
        page.fill('[name="topic"]', "Набрано без Redis")
        wait_state(page, "offline")  # the autosave got 503 and keeps retrying after Retry-After
        assert "Нет связи" in page.inner_text(STATE)
        assert page.input_value('[name="topic"]') == "Набрано без Redis"  # nothing on screen is lost
        page.screenshot(path=str(output_dir / "offline.png"), full_page=True)
    finally:
        redis_server.start()

    wait_state(page, "saved", timeout=60_000)
    sid = session_id(page)  # this test Redis keeps no data: the session came back as a new one
    assert api.session(sid)["formData"] == {"topic": "Набрано без Redis"}
    assert course_rows(db) == []  # Redis was down only for saves, which never create a row


def test_an_expired_session_is_replaced_keeping_what_is_on_screen(context, dev_server, api, db):
    page = open_form(context, dev_server.page)
    old = session_id(page)
    page.fill('[name="topic"]', "До истечения")
    wait_state(page, "saved")
    assert api.request("DELETE", f"/drafts/{old}")[0] == 204  # as if its TTL ran out

    page.fill('[name="description"]', "После истечения")
    wait_state(page, "saved")
    new = session_id(page)
    assert new != old
    assert api.session(new)["formData"] == {"topic": "До истечения", "description": "После истечения"}
    assert course_rows(db) == []


def test_a_version_conflict_merges_the_other_writer_and_saves_ours(context, dev_server, api, db):
    page = open_form(context, dev_server.page)
    sid = session_id(page)
    status, _ = api.request("PATCH", f"/drafts/{sid}", {"formData": {"targetAudience": "студенты"}})
    assert status == 200  # another tab (or device) wrote: the page's version is now stale

    page.fill('[name="topic"]', "Конфликт версий")
    wait_state(page, "saved")
    assert api.session(sid)["formData"] == {"targetAudience": "студенты", "topic": "Конфликт версий"}
    assert page.input_value('[name="targetAudience"]') == "студенты"  # the other write is shown too


# --- CORS, as the browser enforces it ---

def test_cors_preflight_passes_from_the_page_origin(context, dev_server, api):
    page = context.new_page()
    network = watch_network(context, page)
    page.goto(dev_server.page)
    wait_state(page, "saved")

    api_calls = [p for name, p in network if name == "Network.responseReceived"
                 and p["response"]["url"].startswith(dev_server.draft_api)]
    preflights = [p["response"] for p in api_calls if p["type"] == "Preflight"]
    assert preflights and all(r["status"] == 204 for r in preflights)
    assert {k.lower(): v for k, v in preflights[0]["headers"].items()}["access-control-allow-origin"] \
        == dev_server.page.rstrip("/")
    assert any(p["response"]["status"] == 201 for p in api_calls if p["type"] == "Fetch")
    assert not [p for name, p in network if name == "Network.loadingFailed" and p.get("corsErrorStatus")]


def test_cors_preflight_fails_from_an_origin_not_allowed(context, dev_server, api, db):
    other = PageServer("127.0.0.1", 0, api_base=lambda host: dev_server.api,
                       token=lambda: user_token(DEV_USER)).start()
    try:
        page = context.new_page()
        network = watch_network(context, page)
        page.goto(other.url)  # the same page, served from an origin CORS_ALLOW_ORIGINS does not name
        wait_state(page, "offline")
        blocked = [p for name, p in network if name == "Network.loadingFailed" and p.get("corsErrorStatus")]
        preflights = [p["response"] for name, p in network
                      if name == "Network.responseReceived" and p["type"] == "Preflight"]
        thrown = page.evaluate("""async (url) => {
            try { await fetch(url, {headers: {Authorization: 'Bearer x'}}); return 'passed'; }
            catch (err) { return err.name; }
        }""", f"{dev_server.draft_api}/drafts")
    finally:
        other.stop()

    assert blocked, "the browser should have blocked the call"
    assert preflights and all(r["status"] == 403 for r in preflights)
    assert thrown == "TypeError"  # what a page's fetch sees of a CORS refusal
    assert api.sessions() == []  # the POST behind the refused preflight never ran
    assert course_rows(db) == []
