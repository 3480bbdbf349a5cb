"""Browser tests of the reference page (examples/create-course) against `make dev`'s own server.

The browser is Debian's chromium, driven by Playwright's Python client through executable_path
(no browser is ever downloaded). The dev server runs as a subprocess over the throwaway Postgres
and Redis of tests/conftest.py, with the page on an origin of its own, so every API call is
cross-origin as in production. Screenshots and the dev server's log go to test-output/e2e/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.devserver import DEV_ORG, DEV_USER
from devtools.localstores import free_port
from tests.conftest import ADMIN_TOKEN, JWT_SECRET, user_token

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("TEST_OUTPUT_DIR") or ROOT / "test-output") / "e2e"
# No network here: background networking, updates and QUIC would only produce errors and noise.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
WAIT_MS = 30_000  # an upper bound for a page to reach a state, not a speed expectation


def _browser_unavailable(reason: str):
    message = (f"the browser tests need Debian's chromium and the playwright package: {reason}. "
               "Install with `bash scripts/system-deps.sh chromium` (as root) and `make venv`.")
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(message, pytrace=False)  # CI must not pass without having run them
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        sync_playwright, problem = None, f"cannot import playwright ({exc})"
    if sync_playwright is None:
        _browser_unavailable(problem)
    executable = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not executable:
        _browser_unavailable("no chromium on PATH")
    playwright = sync_playwright().start()
    args = CHROMIUM_ARGS + (["--no-sandbox"] if os.geteuid() == 0 else [])  # the sandbox refuses root
    chromium, problem = None, ""
    try:
        chromium = playwright.chromium.launch(executable_path=executable, args=args)
    except Exception as exc:  # noqa: BLE001 - any launch failure means the same thing here
        problem = f"{executable} did not start ({str(exc).strip().splitlines()[0]})"
    if chromium is None:
        playwright.stop()
        _browser_unavailable(problem)
    yield chromium
    chromium.close()
    playwright.stop()


@dataclass
class DevServer:
    api: str   # http://127.0.0.1:PORT (the three functions under /<name>)
    page: str  # the reference page, another origin

    @property
    def draft_api(self) -> str:
        return f"{self.api}/draft_session"


@pytest.fixture(scope="module")  # stopped after the browser tests: the rest of the suite runs without it
def dev_server(pg_server, redis_server):
    """`python -m devtools.devserver` (what `make dev` runs), on the test stores and free ports."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    api_port, page_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url,
           "SUPABASE_JWT_SECRET": JWT_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN, "STORE_TIMEOUT_SECONDS": "2",
           "DEV_HOST": "127.0.0.1", "DEV_PORT": str(api_port), "DEV_PAGE_PORT": str(page_port),
           "PYTHONUNBUFFERED": "1"}
    for name in ("CORS_ALLOW_ORIGINS", "DEV_WITH_STANDIN_BASELINE"):
        env.pop(name, None)  # the dev default (the page's origin is allowed) is part of what is tested
    log_path = OUTPUT / "devserver.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "devtools.devserver"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    server = DevServer(api=f"http://127.0.0.1:{api_port}", page=f"http://127.0.0.1:{page_port}/")
    try:
        _wait_ready(proc, f"{server.page}config.json", log_path)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(proc: subprocess.Popen, url: str, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the dev server exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the dev server did not serve {url} in {timeout}s:\n{log_path.read_text()[-3000:]}", pytrace=False)


@pytest.fixture
def dev_user(clean_stores, db):
    """The user of the dev server's development token, in its organization (the stores are emptied per test)."""
    db.execute("INSERT INTO organizations (id, name) VALUES (%s, 'Dev organization')", (DEV_ORG,))
    db.execute("INSERT INTO users (id, organization_id, email, role) VALUES (%s, %s, 'dev@example.com', 'admin')",
               (DEV_USER, DEV_ORG))
    return DEV_USER


class Api:
    """What the server holds, asked over HTTP as any client would (no CORS: not a browser)."""

    def __init__(self, base: str):
        self.base = base
        self.token = user_token(DEV_USER)

    def request(self, method: str, path: str, body=None) -> tuple[int, dict | None]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None

    def sessions(self) -> list[dict]:
        status, body = self.request("GET", "/drafts")
        assert status == 200, body
        return body["sessions"]

    def session(self, session_id: str) -> dict:
        status, body = self.request("GET", f"/drafts/{session_id}")
        assert status == 200, body
        return body


@pytest.fixture
def api(dev_server, dev_user) -> Api:
    return Api(dev_server.draft_api)


@pytest.fixture
def context(browser):
    """One browser profile: its tabs share cookies but each tab has its own sessionStorage."""
    ctx = browser.new_context(viewport={"width": 900, "height": 1000}, locale="ru-RU")
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def output_dir() -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    return OUTPUT
