"""`make dev`: the three functions on one local HTTP server, over real (embedded) stores.

Each HTTP request becomes the Function URL event Lambda would send (devtools.events) and goes to
the same `functions.<name>.app.handler`, under the prefix `/<name>`. CORS is emulated here, from the
same settings template.yaml gives the Function URL, because in AWS the function adds no CORS header.
The reference page (examples/create-course) is served on DEV_PAGE_PORT, another origin, by
devtools.pageserver, so its calls go through that CORS as a front end's do.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from functions.platform.settings import ConfigError, load_settings

from . import localstores, migrate
from .containers import Containers, concurrency_of
from .cors import CorsPolicy
from .events import function_url_event
from .pageserver import PageServer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
FUNCTIONS = ("draft_session", "purge_course", "cleanup_drafts")
DEV_USER = uuid.UUID("00000000-0000-4000-8000-00000000d001")
DEV_ORG = uuid.UUID("00000000-0000-4000-8000-00000000a001")


def _has_function(name: str) -> bool:
    return importlib.util.find_spec(f"functions.{name}.app") is not None


def _handler_of(name: str):
    """The function run in this process (tests that need no containers), or None if it does not exist."""
    if not _has_function(name):
        return None
    handler = importlib.import_module(f"functions.{name}.app").handler
    return lambda event: handler(event, None)


class DevServer:
    """The stores, the secrets and the HTTP server of one `make dev` run."""

    def __init__(self, host: str, port: int, page_port: Optional[int] = None, concurrency: int = 4):
        self.host, self.port = host, port
        self.concurrency = concurrency
        self.page_port = page_port  # the reference page's own origin (examples/create-course)
        self.page: Optional[PageServer] = None
        self.stores: list = []

    # --- stores ---

    def start_stores(self) -> None:
        DATA.mkdir(exist_ok=True)
        embedded_pg = not os.environ.get("DATABASE_URL")
        if embedded_pg:
            pg = localstores.LocalPostgres(DATA / "postgres", port=_stable_port("pg"), durable=True)
            if not pg.running():
                pg.start()
            self.stores.append(pg)
            os.environ["DATABASE_URL"] = pg.url
            print(f"postgres: embedded in .data/postgres on port {pg.port}")
        if not os.environ.get("REDIS_URL"):
            rd = localstores.LocalRedis(DATA / "redis", port=_stable_port("redis"), durable=True).start()
            self.stores.append(rd)
            os.environ["REDIS_URL"] = rd.url
            print(f"redis: embedded in .data/redis on port {rd.port}")
        os.environ.setdefault("QDRANT_PATH", str(DATA / "qdrant"))
        os.environ.setdefault("STORAGE_URL", f"file://{DATA / 'uploads'}")
        with_baseline = embedded_pg or os.environ.get("DEV_WITH_STANDIN_BASELINE") == "1"
        _check_database(os.environ["DATABASE_URL"], with_baseline)
        migrate.apply(os.environ["DATABASE_URL"], with_baseline=with_baseline)
        if with_baseline:
            self._seed_dev_user()

    def _seed_dev_user(self) -> None:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            conn.execute("INSERT INTO organizations (id, name) VALUES (%s, 'Dev organization') ON CONFLICT DO NOTHING",
                         (DEV_ORG,))
            conn.execute("INSERT INTO users (id, organization_id, email, role) VALUES (%s, %s, 'dev@example.com', 'admin')"
                         " ON CONFLICT DO NOTHING", (DEV_USER, DEV_ORG))

    def stop_stores(self) -> None:
        for store in reversed(self.stores):
            store.stop()

    # --- secrets ---

    def ensure_secrets(self) -> None:
        """A development JWT secret and admin token, kept in .data/ so tokens survive restarts."""
        DATA.mkdir(exist_ok=True)
        path = DATA / "dev-secrets.json"
        saved = json.loads(path.read_text()) if path.exists() else {}
        saved.setdefault("SUPABASE_JWT_SECRET", secrets.token_urlsafe(32))
        saved.setdefault("ADMIN_TOKEN", secrets.token_urlsafe(24))
        path.write_text(json.dumps(saved))
        os.chmod(path, 0o600)
        for key, value in saved.items():
            os.environ.setdefault(key, value)

    def dev_token(self) -> Optional[str]:
        secret = os.environ.get("SUPABASE_JWT_SECRET")
        if not secret:
            return None
        import jwt

        now = int(time.time())
        return jwt.encode({"sub": str(DEV_USER), "aud": os.environ.get("JWT_AUDIENCE", "authenticated"),
                           "role": "authenticated", "iat": now, "exp": now + 30 * 86400}, secret, algorithm="HS256")

    # --- HTTP ---

    def serve(self) -> None:
        if self.page_port is not None:
            self.page = PageServer(self.host, self.page_port, api_base=lambda hostname: f"http://{hostname}:{self.port}",
                                   token=self.dev_token)
            if not os.environ.get("CORS_ALLOW_ORIGINS"):  # dev default: the page's origin may call the API
                os.environ["CORS_ALLOW_ORIGINS"] = ",".join(self.page.origins())
        cors = CorsPolicy.from_environment()
        # After the stores: the workers inherit their URLs.
        containers = Containers(self.concurrency, local_qdrant=bool(os.environ.get("QDRANT_PATH"))
                                and not os.environ.get("QDRANT_URL"))
        handlers = {name: (lambda event, _name=name: containers.invoke(_name, event)) if _has_function(name) else None
                    for name in FUNCTIONS}
        httpd = ThreadingHTTPServer((self.host, self.port), _make_request_handler(handlers, cors))
        httpd.daemon_threads = True
        self.port = httpd.server_address[1]
        if self.page:
            self.page.start()
        self.print_banner()
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=httpd.shutdown).start())
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            httpd.server_close()
            containers.close()

    def print_banner(self) -> None:
        base = f"http://{self.host}:{self.port}"
        token = self.dev_token()
        admin = os.environ.get("ADMIN_TOKEN", "")
        page = (f"Reference page (create-course form, on its own origin): {self.page.url}\n"
                f"  CORS_ALLOW_ORIGINS={os.environ.get('CORS_ALLOW_ORIGINS', '')}\n") if self.page else ""
        print(f"""
Serving on {base}: /draft_session, /purge_course, /cleanup_drafts ({self.concurrency} requests at once,
  each in a worker process of its own, as Lambda containers: DEV_CONCURRENCY)
{page}Development user token (30 days):
  export TOKEN='{token}'
  export ADMIN_TOKEN='{admin}'

# open a draft session, autosave, read it, materialize it (the course row appears only now)
  SID=$(curl -s -X POST {base}/draft_session/drafts -H "Authorization: Bearer $TOKEN" \\
        -H 'Content-Type: application/json' -d '{{"formData": {{"topic": "Python для начинающих"}}}}' \\
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessionId"])')
  curl -s -w '\n' -X PATCH {base}/draft_session/drafts/$SID -H "Authorization: Bearer $TOKEN" \\
        -H 'Content-Type: application/json' -d '{{"formData": {{"language": "ru", "estimatedLessons": 12}}}}'
  curl -s -w '\n' {base}/draft_session/drafts/$SID -H "Authorization: Bearer $TOKEN"
  curl -s -w '\n' {base}/draft_session/drafts -H "Authorization: Bearer $TOKEN"
  curl -s -w '\n' -X POST {base}/draft_session/drafts/$SID/materialize -H "Authorization: Bearer $TOKEN" \\
        -H 'Content-Type: application/json' -d '{{"reason": "submit"}}'
""", flush=True)


def _stable_port(kind: str) -> int:
    """The embedded stores keep their port across runs (it is saved in .data/), so URLs stay valid."""
    path = DATA / f"{kind}.port"
    if path.exists():
        port = int(path.read_text())
    else:
        port = localstores.free_port()
        path.write_text(str(port))
    return port


def _openapi_document(path: str, host: Optional[str]) -> Optional[bytes]:
    """GET /openapi.json: every function, paths under /<name> (what docs/openapi.json holds);
    GET /<name>/openapi.json: one function, paths as its Function URL serves them. Both generated
    from the running code (devtools.openapi), so they follow a route as soon as it changes."""
    from . import openapi

    if path == "/openapi.json":
        document = openapi.generate()
        if host:
            document["servers"] = [{"url": f"http://{host}", "description": "this dev server"}]
    else:
        name, _, rest = path.lstrip("/").partition("/")
        if rest != "openapi.json" or name not in openapi.function_names():
            return None
        document = {**openapi.function_document(name), "servers": [{"url": f"/{name}"}]}
    return openapi.render(document).encode()


MAX_REQUEST_BYTES = 6 * 1024 * 1024  # a Function URL refuses larger requests before the function runs


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _make_request_handler(handlers: dict, cors: CorsPolicy):
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "course-drafts-dev"

        def log_message(self, fmt, *args):  # the functions log one JSON line each; keep stderr quiet
            pass

        def _dispatch(self):
            parts = urlsplit(self.path)
            name, _, rest = parts.path.lstrip("/").partition("/")
            handler = handlers.get(name)
            origin = self.headers.get("Origin")
            cors_headers = cors.headers_for(name, origin)
            if self.command in ("GET", "HEAD"):
                document = _openapi_document(parts.path, self.headers.get("Host"))
                if document is not None:
                    return self._send(200, {"Content-Type": "application/json", **cors_headers}, document)
            if self.command == "OPTIONS" and origin:  # a preflight: answered by the Function URL, not the code
                status = 204 if cors_headers else 403
                return self._send(status, cors.preflight_headers(name, origin) if cors_headers else {}, b"")
            if handler is None:
                body = json.dumps({"error": {"code": "not_found", "message": f"No function at /{name}."}}).encode()
                return self._send(404, {"Content-Type": "application/json"}, body)
            try:
                body = self._read_body()
            except _Refused as refused:
                self.close_connection = True  # the framing is not to be trusted: read nothing more
                return self._send_error_body(refused.status, refused.message, cors_headers)
            event = function_url_event(self.command, "/" + rest, query=parts.query, headers=self._joined_headers(),
                                       body=body, source_ip=self.client_address[0])
            try:
                result = handler(event)
            except Exception as exc:  # a worker died mid-request (a container that crashed)
                body = json.dumps({"error": {"code": "internal_error",
                                             "message": f"The function's worker failed ({type(exc).__name__})."}})
                return self._send(500, {"Content-Type": "application/json", **cors_headers}, body.encode())
            payload = result.get("body") or ""
            data = (__import__("base64").b64decode(payload) if result.get("isBase64Encoded") else payload.encode())
            headers = {k: v for k, v in (result.get("headers") or {}).items()}
            headers.update(cors_headers)
            self._send(result.get("statusCode", 200), headers, data)

        def _joined_headers(self) -> dict[str, str]:
            """Repeated headers joined with commas, as a Function URL does: two Authorization headers
            become one value no token matches (401), never "the last one wins"."""
            return {key.lower(): ",".join(self.headers.get_all(key) or []) for key in dict.fromkeys(self.headers.keys())}

        def _read_body(self) -> Optional[bytes]:
            encodings = self.headers.get_all("Transfer-Encoding") or []
            lengths = self.headers.get_all("Content-Length") or []
            if encodings:
                if lengths:  # both: the classic request-smuggling shape
                    raise _Refused(400, "Send either Content-Length or Transfer-Encoding, not both.")
                if [e.strip().lower() for e in ",".join(encodings).split(",")] != ["chunked"]:
                    raise _Refused(400, "Only Transfer-Encoding: chunked is understood.")
                return self._read_chunked()
            if not lengths:
                return None
            if len(set(lengths)) > 1 or not lengths[0].strip().isdigit():
                raise _Refused(400, "Content-Length must be one whole number of bytes.")
            length = int(lengths[0])
            if length > MAX_REQUEST_BYTES:
                raise _Refused(413, f"The body is over {MAX_REQUEST_BYTES} bytes (a Function URL's limit).")
            return self.rfile.read(length) if length else None

        def _read_chunked(self) -> Optional[bytes]:
            body = bytearray()
            while True:
                line = self.rfile.readline(1024)
                size_text = line.split(b";", 1)[0].strip()
                if not line.endswith(b"\n") or not size_text or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
                    raise _Refused(400, "The chunked body is malformed.")
                size = int(size_text, 16)
                if len(body) + size > MAX_REQUEST_BYTES:
                    raise _Refused(413, f"The body is over {MAX_REQUEST_BYTES} bytes (a Function URL's limit).")
                if size == 0:
                    while self.rfile.readline(1024).strip():  # trailers, if any
                        pass
                    return bytes(body) or None
                body += self.rfile.read(size)
                if self.rfile.readline(3).strip():
                    raise _Refused(400, "The chunked body is malformed.")

        def _send_error_body(self, status: int, message: str, headers: Optional[dict] = None):
            code = "payload_too_large" if status == 413 else ("bad_request" if status < 500 else "internal_error")
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            return self._send(status, {"Content-Type": "application/json", **(headers or {})}, body)

        def send_error(self, code, message=None, explain=None):
            # http.server's own refusals (a malformed request line, an oversized header) in the
            # contract's shape, not an HTML page.
            self.close_connection = True
            if self.request_version == "HTTP/0.9":  # set when the request line itself is unreadable
                self.request_version = "HTTP/1.1"
            self._send_error_body(code, message or "The request is malformed.")

        def _send(self, status: int, headers: dict, body: bytes):
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_OPTIONS = do_HEAD = _dispatch

        def __getattr__(self, name: str):
            # Any other method (TRACE, QUERY...) goes to the function too, which answers 405 in the
            # contract's shape, instead of http.server's 501 HTML page.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

    return RequestHandler


class CannotStart(Exception):
    """One sentence for the person who ran `make dev`: what is wrong and what to set."""


def _port_of(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise CannotStart(f"{name} must be a port number from 0 to 65535 (got {value!r})")
    return int(value)


def _check_free(host: str, port: int, name: str) -> None:
    if port == 0:
        return
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise CannotStart(f"{host}:{port} is already in use ({name}): stop what holds it, or set {name} "
                              "to another port") from None


def _check_database(url: str, with_baseline: bool) -> None:
    """The platform's tables are there (or will be made), and no migration is newer than this code."""
    import psycopg

    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
            has_courses = conn.execute("SELECT to_regclass('public.courses') IS NOT NULL").fetchone()[0]
            newer = migrate.unknown_applied(conn)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CannotStart(f"cannot reach the database of DATABASE_URL ({first})") from None
    if newer:
        raise CannotStart(f"the database has migrations this code does not know ({', '.join(newer)}): "
                          "run a checkout at least as new as the one that applied them")
    if not has_courses and not with_baseline:
        raise CannotStart("the database of DATABASE_URL has none of the platform's tables (courses, users, ...): "
                          "for a development database, set DEV_WITH_STANDIN_BASELINE=1 to create stand-ins of them")


def main() -> int:
    server: Optional[DevServer] = None
    try:
        host = os.environ.get("DEV_HOST", "127.0.0.1")
        port = _port_of("DEV_PORT", "8000")
        page_port = _port_of("DEV_PAGE_PORT", "8001")  # 0: any free port
        try:
            concurrency = concurrency_of(os.environ.get("DEV_CONCURRENCY"))
        except ValueError as exc:
            raise CannotStart(str(exc)) from None
        try:
            load_settings()  # what each function's container init checks, before any store starts
        except ConfigError as exc:
            raise CannotStart(str(exc)) from None
        _check_free(host, port, "DEV_PORT")
        _check_free(host, page_port, "DEV_PAGE_PORT")
        server = DevServer(host, port, page_port, concurrency)
        server.ensure_secrets()
        server.start_stores()
        server.serve()
    except (CannotStart, localstores.MissingDependency) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.stop_stores()
    return 0


if __name__ == "__main__":
    sys.exit(main())
