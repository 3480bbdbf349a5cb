"""The token attack matrix: every forged, stale or malformed credential is a 401 in the contract's
shape (never a 500, never a 403 that would confirm the user), against HS256 and against a real JWKS
served over loopback HTTP; and the admin token is compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from functions.draft_session.app import handler
from functions.platform import auth
from functions.platform.auth import Authenticator
from functions.platform.settings import load_settings
from tests.conftest import ADMIN_TOKEN, JWT_SECRET, call
from tests.hung_store import HungStore

# The HS512 case signs with the project's HS256 secret on purpose; PyJWT warns that it is short for HS512.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_token(header: dict, payload: dict, signature: bytes = b"") -> str:
    """A token assembled by hand, as an attacker would (PyJWT refuses to build most of these)."""
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)])


def forged_hs256(payload: dict, secret: bytes, **header) -> str:
    """HS256 with any bytes as the secret: the classic key confusion signs with the RSA public key."""
    signing_input = ".".join([_b64(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode()),
                              _b64(json.dumps(payload).encode())])
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def claims(user_id, **extra) -> dict:
    now = int(time.time())
    out = {"sub": str(user_id), "aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 3600}
    out.update(extra)
    return {k: v for k, v in out.items() if v is not None}


class JwksServer:
    """The project's JWKS endpoint, on loopback; counts fetches. `keys`: the JWKS's keys (default: an
    RSA and an EC key, kids rsa-1 and ec-1)."""

    def __init__(self, keys=None):
        keys = keys or [
            {**RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True), "kid": "rsa-1", "alg": "RS256", "use": "sig"},
            {**ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True), "kid": "ec-1", "alg": "ES256", "use": "sig"}]
        body = json.dumps({"keys": keys}).encode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.fetches = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/auth/v1/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


@pytest.fixture
def jwks(jwks_server, settings_env):
    settings_env(SUPABASE_JWKS_URL=jwks_server.url)
    jwks_server.fetches = 0
    return jwks_server


def rs256(payload, kid="rsa-1", key=RSA_KEY, **header):
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid, **header})


def es256(payload, kid="ec-1", key=EC_KEY):
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid})


def hs256(payload, secret=JWT_SECRET, **header):
    return jwt.encode(payload, secret, algorithm="HS256", headers=header or None)


def assert_unauthorized(reply) -> None:
    assert reply.status == 401, reply
    assert reply.json["error"]["code"] == "unauthorized", reply
    assert set(reply.json) == {"error"}
    for leak in (JWT_SECRET, "Traceback", "BEGIN PUBLIC KEY"):
        assert leak not in reply.text


def list_with(token=None, headers=None):
    return call(handler, "GET", "/drafts", token=token, headers=headers)


# --- positive controls: the matrix below fails for the attack, not for a broken setup ---

def test_valid_tokens_of_each_kind_are_accepted(make_user, jwks):
    user = make_user()
    for token in (hs256(claims(user.id)), rs256(claims(user.id)), es256(claims(user.id))):
        reply = list_with(token)
        assert reply.status == 200, reply


# --- the matrix ---

def matrix(user_id) -> dict:
    now = int(time.time())
    return {
        "expired": hs256(claims(user_id, exp=now - 60)),
        "expired (RS256)": rs256(claims(user_id, exp=now - 60)),
        "nbf in the future": hs256(claims(user_id, nbf=now + 600)),
        "nbf in the future (ES256)": es256(claims(user_id, nbf=now + 600)),
        "wrong aud": hs256(claims(user_id, aud="anon")),
        "aud list without ours": hs256(claims(user_id, aud=["anon", "service"])),
        "no aud": hs256(claims(user_id, aud=None)),
        "no exp": hs256(claims(user_id, exp=None)),
        "exp not a number": hs256(claims(user_id, exp="tomorrow")),
        "sub not a uuid": hs256(claims(user_id, sub="admin")),
        "sub missing": hs256(claims(user_id, sub=None)),
        "wrong HS256 secret": hs256(claims(user_id), secret="not-the-secret-but-long-enough-0123456789"),
        "service_role with a wrong secret": hs256(claims(user_id, role="service_role"),
                                                  secret="not-the-secret-but-long-enough-0123456789"),
        "alg none": raw_token({"alg": "none", "typ": "JWT"}, claims(user_id)),
        "alg None": raw_token({"alg": "None", "typ": "JWT"}, claims(user_id)),
        "alg nOnE with a signature": raw_token({"alg": "nOnE"}, claims(user_id), b"sig"),
        "alg missing": raw_token({"typ": "JWT"}, claims(user_id), b"sig"),
        "alg a list": raw_token({"alg": ["HS256"]}, claims(user_id), b"sig"),
        "alg HS512": jwt.encode(claims(user_id), JWT_SECRET, algorithm="HS512"),
        "HS256 signed with the RSA public key": forged_hs256(claims(user_id), RSA_PUBLIC_PEM, kid="rsa-1"),
        "RS256 with an unknown kid": rs256(claims(user_id), kid="rotated-away", key=ATTACKER_RSA),
        "RS256 with a known kid, another key": rs256(claims(user_id), key=ATTACKER_RSA),
        "RS256 header on the EC key's kid": rs256(claims(user_id), kid="ec-1"),
        "RS256 without kid": jwt.encode(claims(user_id), RSA_KEY, algorithm="RS256"),
        "kid not a string": raw_token({"alg": "RS256", "kid": 12}, claims(user_id), b"sig"),
        "kid path traversal": rs256(claims(user_id), kid="../../../../etc/passwd", key=ATTACKER_RSA),
        "jku to an attacker's JWKS": rs256(claims(user_id), kid="evil", key=ATTACKER_RSA,
                                           jku="http://127.0.0.1:9/jwks.json"),
        "payload swapped under a valid signature": _swap_payload(hs256(claims(user_id)), claims(user_id, role="service_role")),
        "signature stripped": hs256(claims(user_id)).rsplit(".", 1)[0] + ".",
        "header not an object": ".".join([_b64(b'"x"'), _b64(json.dumps(claims(user_id)).encode()), _b64(b"s")]),
        "payload not JSON": ".".join([_b64(b'{"alg":"HS256"}'), _b64(b"\xff\xfe"), _b64(b"s")]),
        "garbage": "garbage",
        "three dots": "...",
        "non-ASCII": "ключ.токен.подпись",
    }


def _swap_payload(token: str, payload: dict) -> str:
    head, _, sig = token.split(".")
    return ".".join([head, _b64(json.dumps(payload).encode()), sig])


CASES = list(matrix(uuid.uuid4()))


@pytest.mark.parametrize("case", CASES)
def test_the_token_attack_matrix_is_401(make_user, jwks, case):
    user = make_user()
    assert_unauthorized(list_with(matrix(user.id)[case]))


@pytest.mark.parametrize("case", ["HS256 signed with the RSA public key", "alg none", "alg HS512"])
def test_symmetric_tricks_fail_too_when_only_jwks_is_configured(make_user, jwks, settings_env, case):
    # No HS256 secret at all: an HS256 token must not be verified with anything else.
    settings_env(SUPABASE_JWT_SECRET="", SUPABASE_JWKS_URL=jwks.url)
    user = make_user()
    assert_unauthorized(list_with(matrix(user.id)[case]))
    assert list_with(rs256(claims(user.id))).status == 200


def test_issuer_is_checked_when_configured(make_user, settings_env):
    settings_env(JWT_ISSUER="https://project.supabase.co/auth/v1")
    user = make_user()
    assert_unauthorized(list_with(hs256(claims(user.id, iss="https://evil.example/auth/v1"))))
    assert_unauthorized(list_with(hs256(claims(user.id))))  # no iss at all
    assert list_with(hs256(claims(user.id, iss="https://project.supabase.co/auth/v1"))).status == 200


@pytest.mark.parametrize("header", [
    "Token {t}", "Basic {t}", "{t}", "Bearer", "Bearer ", "Bearer  ", "bearer{t}", "Bearer\t{t}x",
])
def test_the_authorization_header_must_be_bearer(make_user, header):
    user = make_user()
    assert_unauthorized(list_with(headers={"authorization": header.format(t=user.token)}))


def test_no_authorization_header_is_401():
    assert_unauthorized(list_with())


def test_a_one_megabyte_authorization_header_is_401_without_parsing(make_user):
    assert_unauthorized(list_with("A" * (1 << 20)))
    # a megabyte made of a real token's parts: refused on length, before any base64 or JSON work
    user = make_user()
    head, payload, sig = user.token.split(".")
    assert_unauthorized(list_with(".".join([head, payload + "A" * (1 << 20), sig])))


def test_a_one_megabyte_unrelated_header_is_ignored(make_user):
    user = make_user()
    reply = call(handler, "GET", "/drafts", token=user.token, headers={"x-junk": "j" * (1 << 20)})
    assert reply.status == 200


def test_an_expired_token_is_refused_even_after_it_was_accepted(make_user, monkeypatch):
    # The verified-token cache must re-check expiry: a token accepted once is not accepted forever.
    user = make_user()
    token = hs256(claims(user.id, exp=int(time.time()) + 30))
    assert list_with(token).status == 200
    real = time.time
    monkeypatch.setattr(auth.time, "time", lambda: real() + 3600)
    assert_unauthorized(list_with(token))


def test_a_refused_token_is_refused_every_time(make_user):
    user = make_user()
    bad = hs256(claims(user.id), secret="not-the-secret-but-long-enough-0123456789")
    for _ in range(3):
        assert_unauthorized(list_with(bad))


# --- the JWKS endpoint is not an amplifier ---

def test_a_flood_of_unknown_kids_does_not_refetch_the_jwks_each_time(make_user, jwks):
    user = make_user()
    assert list_with(rs256(claims(user.id))).status == 200
    before = jwks.fetches
    for i in range(50):
        assert_unauthorized(list_with(rs256(claims(user.id), kid=f"unknown-{i}", key=ATTACKER_RSA)))
    # PyJWKClient refetches for an unknown kid at most once per cooldown (30 s by default).
    assert jwks.fetches - before <= 1


def test_a_jku_header_is_never_fetched(make_user, jwks):
    with HungStore() as attacker:  # counts connections; any fetch would show here
        user = make_user()
        token = rs256(claims(user.id), kid="evil", key=ATTACKER_RSA, jku=attacker.url("http", "/jwks.json"),
                      x5u=attacker.url("http", "/cert.pem"))
        assert_unauthorized(list_with(token))
        assert attacker.accepted == 0


def test_a_hung_jwks_endpoint_is_503_then_recovers(make_user, jwks, settings_env):
    user = make_user()
    with HungStore(target=jwks.httpd.server_address[1]) as proxy:
        settings_env(SUPABASE_JWKS_URL=proxy.url("http", "/jwks.json"), STORE_TIMEOUT_SECONDS="1")
        proxy.hang()
        reply = list_with(rs256(claims(user.id)))
        assert reply.status == 503 and reply.json["error"]["code"] == "unavailable", reply
        assert reply.headers["retry-after"]
        # HS256 users are not held up by the JWKS being down.
        assert list_with(hs256(claims(user.id))).status == 200
        proxy.heal()
        assert list_with(rs256(claims(user.id))).status == 200


# --- the admin token ---

def test_the_admin_token_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = auth.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    authenticator = Authenticator(load_settings(admin_token=ADMIN_TOKEN, supabase_jwt_secret=JWT_SECRET))
    assert authenticator.authenticate({"authorization": f"Bearer {ADMIN_TOKEN}"}).is_admin
    for guess in (ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", ADMIN_TOKEN.upper(), "x" * len(ADMIN_TOKEN)):
        with pytest.raises(auth.Unauthorized):
            authenticator.authenticate({"authorization": f"Bearer {guess}"})
    # every comparison went through hmac.compare_digest (a `==` would stop at the first wrong byte)
    assert len(calls) == 5
    assert all(b == ADMIN_TOKEN.encode() for _, b in calls)


def test_without_admin_token_configured_nothing_is_admin():
    authenticator = Authenticator(load_settings(admin_token="", supabase_jwt_secret=JWT_SECRET))
    for guess in ("", "None", "null", ADMIN_TOKEN):
        with pytest.raises(auth.Unauthorized):
            authenticator.authenticate({"authorization": f"Bearer {guess}"})


def test_a_non_ascii_admin_guess_is_401_not_500():
    # compare_digest refuses non-ASCII str; the guess must be compared as bytes.
    authenticator = Authenticator(load_settings(admin_token=ADMIN_TOKEN, supabase_jwt_secret=JWT_SECRET))
    with pytest.raises(auth.Unauthorized):
        authenticator.authenticate({"authorization": "Bearer ключ-администратора"})
