"""The dev server is as strict as a Function URL: repeated headers joined (never "the last wins"),
chunked bodies read, framing that could smuggle a request refused, Content-Length checked, and every
refusal in the contract's shape, never an HTML page or a hung worker."""

from __future__ import annotations

import json
import socket

import pytest

from tests.conftest import ADMIN_TOKEN, JWT_SECRET
from tests.dev_server import DevServer, HttpClient, wait_ready


@pytest.fixture(scope="module")
def dev_server(pg_server, redis_server):
    server = DevServer({"DATABASE_URL": pg_server.url, "REDIS_URL": redis_server.url,
                        "SUPABASE_JWT_SECRET": JWT_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN})
    yield server
    server.stop()


def raw(server: DevServer, request: bytes, timeout: float = 20) -> tuple[int, dict, bytes]:
    """Send bytes as they are; the one answer (status, headers, body). A hang fails the test."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"closed without an answer: {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", 0))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
    return status, headers, rest[:length]


def contract_error(body: bytes) -> dict:
    payload = json.loads(body)
    assert set(payload) == {"error"} and {"code", "message"} <= set(payload["error"]), payload
    return payload["error"]


def test_two_authorization_headers_are_joined_not_the_last_one_taken(dev_server, make_user):
    user = make_user()
    wait_ready(dev_server, user.token)
    for first, second in ((user.token, "garbage"), ("garbage", user.token)):
        status, _, body = raw(dev_server, (
            "GET /draft_session/drafts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {first}\r\nAuthorization: Bearer {second}\r\nConnection: close\r\n\r\n").encode())
        assert status == 401 and contract_error(body)["code"] == "unauthorized"


def test_a_chunked_body_is_read(dev_server, make_user):
    user = make_user()
    payload = json.dumps({"formData": {"topic": "по кусочкам"}}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:7], payload[7:])) + b"0\r\n\r\n"
    status, _, body = raw(dev_server, (
        "POST /draft_session/drafts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {user.token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + chunks)
    assert status == 201 and json.loads(body)["formData"] == {"topic": "по кусочкам"}


def test_a_request_hidden_in_a_body_never_runs(dev_server, make_user):
    user = make_user()
    client = HttpClient(dev_server)
    _, session, _ = client.send("POST", "/drafts", user.token, {})
    hidden = (f"DELETE /draft_session/drafts/{session['sessionId']} HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {user.token}\r\n\r\n").encode()
    smuggled = b"0\r\n\r\n" + hidden
    status, headers, body = raw(dev_server, (
        "POST /draft_session/drafts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {user.token}\r\nContent-Length: {len(smuggled)}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n").encode() + smuggled)
    assert status == 400 and contract_error(body)["code"] == "bad_request"
    assert headers.get("connection", "").lower() == "close"
    assert client.send("GET", f"/drafts/{session['sessionId']}", user.token, None)[0] == 200


@pytest.mark.parametrize("length", ["-1", "abc", "1, 2", "99999999999"])
def test_a_bad_content_length_is_refused_at_once(dev_server, length):
    status, _, body = raw(dev_server, (
        "POST /draft_session/drafts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode())
    assert status in (400, 413) and contract_error(body)["code"] in ("bad_request", "payload_too_large")


@pytest.mark.parametrize("request_line", [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1 extra words\r\n\r\n",
                                          b"GET /" + b"x" * 70000 + b" HTTP/1.1\r\n\r\n"])
def test_a_malformed_request_gets_the_contracts_shape_not_an_html_page(dev_server, request_line):
    status, headers, body = raw(dev_server, request_line)
    assert 400 <= status < 500 and headers["content-type"] == "application/json"
    assert contract_error(body)["code"] == "bad_request"
