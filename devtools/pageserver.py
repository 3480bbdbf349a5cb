"""The reference page (examples/create-course) on an origin of its own, as a front end is in production.

`make dev` serves it on DEV_PAGE_PORT next to the API on DEV_PORT: a different port is a different
origin, so every call the page makes is cross-origin and goes through CORS exactly as it would from
the platform's Next.js app to a Function URL. The browser tests start a second one on an origin that
is not allowed.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlsplit

PAGE_DIR = Path(__file__).resolve().parent.parent / "examples" / "create-course"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}
UPLOAD_PATH = re.compile(r"^/dev-upload/([0-9a-fA-F-]{36})$")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1", "")


class PageServer:
    """Static files of PAGE_DIR, a config.json for page.js, and a stand-in upload endpoint."""

    def __init__(self, host: str, port: int, *, api_base: Callable[[str], str], token: Callable[[], Optional[str]]):
        self.host = host
        self.api_base, self.token = api_base, token  # callables: known only once the API listens
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread: Optional[threading.Thread] = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}/"

    def origins(self) -> list[str]:
        """The origins a browser shows for this page: both loopback spellings when it is local."""
        if self.host in LOOPBACK:
            return [f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"]
        return [f"http://{self.host}:{self.port}"]

    def config(self, hostname: str) -> dict:
        return {"apiBase": f"{self.api_base(hostname)}/draft_session", "token": self.token(),
                "uploadUrl": "/dev-upload/{courseId}"}

    def start(self) -> "PageServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="page-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _make_handler(page: PageServer):
    class PageHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "course-drafts-page"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            path = urlsplit(self.path).path
            if path == "/config.json":
                # The API is addressed by the host name the browser used for the page (127.0.0.1 or
                # localhost): same host, other port, so still another origin.
                hostname = urlsplit(f"//{self.headers.get('Host', '')}").hostname or page.host
                return self._send(200, "application/json", json.dumps(page.config(hostname)).encode())
            name = "index.html" if path == "/" else path.lstrip("/")
            target = PAGE_DIR / name
            # Only the page's own files: a plain name in PAGE_DIR, no sub-paths, no dot-files.
            if "/" in name or name.startswith(".") or target.suffix not in TYPES or not target.is_file():
                return self._send(404, "text/plain; charset=utf-8", b"not found")
            self._send(200, TYPES[target.suffix], target.read_bytes())

        def do_POST(self):
            match = UPLOAD_PATH.match(urlsplit(self.path).path)
            if not match:
                return self._send(404, "text/plain; charset=utf-8", b"not found")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_UPLOAD_BYTES:
                self.close_connection = True
                return self._send(413, "application/json", b'{"error": "too large"}')
            received = 0
            while received < length:  # read and drop: the real upload is the platform's, not ours
                chunk = self.rfile.read(min(65536, length - received))
                if not chunk:
                    break
                received += len(chunk)
            body = {"courseId": match.group(1), "bytes": received, "stored": False}
            self._send(200, "application/json", json.dumps(body).encode())

        def _send(self, status: int, content_type: str, body: bytes):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return PageHandler
