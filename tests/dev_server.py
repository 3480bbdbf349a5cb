"""The dev server (`make dev`) as a child process over the test run's stores, for tests that talk
HTTP to it: schemathesis and the load runs. It listens on a free loopback port only."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from devtools.localstores import _wait_port, free_port

ROOT = Path(__file__).resolve().parent.parent


class DevServer:
    def __init__(self, env: dict[str, str], *, wait: bool = True):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.state = Path(tempfile.mkdtemp(prefix="devserver-"))
        self.log = (self.state / "devserver.log").open("w+")
        full_env = {**os.environ, **env, "DEV_HOST": "127.0.0.1", "DEV_PORT": str(self.port),
                    "DEV_PAGE_PORT": "0",  # any free port: a developer's own `make dev` may hold 8001
                    "STORAGE_URL": f"file://{self.state / 'uploads'}", "QDRANT_PATH": str(self.state / "qdrant"),
                    "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "devtools.devserver"], cwd=ROOT, env=full_env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        if not wait:
            return
        try:
            _wait_port(self.port, timeout=60)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"the dev server did not start:\n{self.output()[-3000:]}") from None

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def connection(self, timeout: float = 30) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)


class HttpClient:
    """One keep-alive connection (one browser tab); reconnects once if the server closed it."""

    def __init__(self, server: DevServer, prefix: str = "/draft_session"):
        self.server, self.prefix = server, prefix
        self.conn: Optional[http.client.HTTPConnection] = None
        self.reconnects = 0  # a keep-alive connection the server had closed (reported, not hidden)

    def send(self, method: str, path: str, token: Optional[str], body: Optional[dict]):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self.server.connection()
            try:
                self.conn.request(method, self.prefix + path, body=data, headers=headers)
                reply = self.conn.getresponse()
                raw = reply.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                self.reconnects += 1
                if attempt == 2:
                    raise
        payload = json.loads(raw) if raw else None
        return reply.status, payload, {k.lower(): v for k, v in reply.getheaders()}

    def close(self):
        if self.conn is not None:
            self.conn.close()


def wait_ready(server: DevServer, token: str, timeout: float = 60) -> None:
    """The port opens before the handlers are imported: wait for a real answer."""
    client = HttpClient(server)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                status, _, _ = client.send("GET", "/drafts", token, None)
                if status == 200:
                    return
            except OSError:
                client.close()
                client.conn = None
            time.sleep(0.2)
    finally:
        client.close()
    raise RuntimeError(f"the dev server never answered 200:\n{server.output()[-3000:]}")
