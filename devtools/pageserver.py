"""The reference pages on an origin of their own, as a front end is in production.

`make dev` serves them on DEV_PAGE_PORT next to the API on DEV_PORT: a different port is a different
origin, so every call a page makes is cross-origin and goes through CORS exactly as it would from
the platform's Next.js app to a Function URL. The browser tests start a second one on an origin that
is not allowed. What is served (each a directory of plain files, no sub-paths):

- `/`: the plain page (examples/create-course), which imports the package's build from
- `/lib/draft-session/`: clients/draft-session/dist (`make node-build`);
- `/react/`: the React example's bundle (examples/react-create-course/dist, `make node-build`).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PAGE_DIR = ROOT / "examples" / "create-course"
MOUNTS = {  # URL prefix -> directory; the longest prefix wins
    "/lib/draft-session/": ROOT / "clients" / "draft-session" / "dist",
    "/react/": ROOT / "examples" / "react-create-course" / "dist",
    "/": PAGE_DIR,
}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png",
         ".map": "application/json"}
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

    def own_request(self, host: Optional[str], origin: Optional[str]) -> bool:
        """The request names this server as the browser shows it, and comes from its own page."""
        own = self.origins()
        return bool(host) and f"http://{host}" in own and (origin is None or origin in own)

    def config(self, hostname: str) -> dict:
        return {"apiBase": f"{self.api_base(hostname)}/draft_session", "token": self.token(),
                "uploadUrl": "/dev-upload/{courseId}", "idempotencyKeys": _cors_allows("idempotency-key")}

    def start(self) -> PageServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="page-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _cors_allows(header: str) -> bool:
    """Whether the API's CORS (template.yaml, as the dev server applies it) lets a page send `header`:
    the pages only send an Idempotency-Key once the deployment allows it, or every write would fail."""
    from .cors import CorsPolicy

    return header in CorsPolicy.from_template(()).headers


def _make_handler(page: PageServer):
    class PageHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "course-drafts-page"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            path = urlsplit(self.path).path
            if path == "/config.json":
                # It hands out a development token: only to this page itself. A Host that is not this
                # server's own loopback name (a DNS-rebinding page: evil.example resolving to
                # 127.0.0.1) or another site's Origin gets nothing.
                if not page.own_request(self.headers.get("Host"), self.headers.get("Origin")):
                    body = {"error": {"code": "forbidden", "message": "config.json is only for the page itself, "
                                                                     "opened on its own loopback origin."}}
                    return self._send(403, "application/json", json.dumps(body).encode())
                # The API is addressed by the host name the browser used for the page (127.0.0.1 or
                # localhost): same host, other port, so still another origin.
                hostname = urlsplit(f"//{self.headers.get('Host', '')}").hostname or page.host
                return self._send(200, "application/json", json.dumps(page.config(hostname)).encode())
            if path == "/react":
                return self._redirect("/react/")
            prefix = max((p for p in MOUNTS if path.startswith(p)), key=len)
            directory, name = MOUNTS[prefix], path[len(prefix):] or "index.html"
            target = directory / name
            # Only the mounts' own files: a plain name in the directory, no sub-paths, no dot-files.
            if "/" in name or name.startswith(".") or target.suffix not in TYPES:
                return self._send(404, "text/plain; charset=utf-8", b"not found")
            if not target.is_file():
                built = directory.name == "dist" and not directory.is_dir()
                hint = b"not built yet: run `make node-build` (make dev does)" if built else b"not found"
                return self._send(404, "text/plain; charset=utf-8", hint)
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

        def _redirect(self, location: str):
            self.send_response(308)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, status: int, content_type: str, body: bytes):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return PageHandler
