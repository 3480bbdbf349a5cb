"""The reference page's /config.json hands out a development token: only to the page itself, on its
own loopback origin, never to a DNS-rebinding page or another site."""

from __future__ import annotations

import http.client
import json

import pytest

from devtools.pageserver import PageServer


@pytest.fixture
def page():
    server = PageServer("127.0.0.1", 0, api_base=lambda host: f"http://{host}:1", token=lambda: "dev-token").start()
    yield server
    server.stop()


def get_config(page, host, origin=None):
    conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
    headers = {"Host": host} | ({"Origin": origin} if origin else {})
    conn.request("GET", "/config.json", headers=headers)
    reply = conn.getresponse()
    body = json.loads(reply.read())
    conn.close()
    return reply.status, body


def test_the_page_itself_gets_its_config(page):
    for host in (f"127.0.0.1:{page.port}", f"localhost:{page.port}"):
        status, body = get_config(page, host, origin=f"http://{host}")
        assert status == 200 and body["token"] == "dev-token"
    assert get_config(page, f"127.0.0.1:{page.port}")[0] == 200  # a same-origin GET sends no Origin


@pytest.mark.parametrize("host,origin", [
    ("evil.example:{port}", None),                      # DNS rebinding: evil.example -> 127.0.0.1
    ("evil.example:{port}", "http://evil.example:{port}"),
    ("127.0.0.1:1", None),                              # not this server's port
    ("127.0.0.1:{port}", "https://evil.example"),       # a cross-site fetch
    ("", None),
])
def test_anyone_else_gets_a_403_and_no_token(page, host, origin):
    status, body = get_config(page, host.format(port=page.port), origin and origin.format(port=page.port))
    assert status == 403 and body["error"]["code"] == "forbidden" and "token" not in json.dumps(body)
