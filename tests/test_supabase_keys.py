"""The keys Supabase issues, as it issues them (issue 13).

- The project's API keys are HS256 JWTs signed with the project's JWT secret, shaped
  `{"iss": "supabase", "ref", "role", "iat", "exp"}` with no `sub` and no `aud`: the service_role key
  is an administrator (the scheduler and admin scripts use it), the anon key, public in every
  browser, identifies no one (401).
- Access tokens of a project on asymmetric signing keys are ES256 with a `kid`, verified through the
  project's JWKS (`/auth/v1/.well-known/jwks.json`, here a loopback server in Supabase's shape), while
  the API keys stay HS256 on the legacy secret: both at once is the real configuration.
"""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from functions.cleanup_drafts.app import handler as cleanup_handler
from functions.draft_session.app import handler as draft_handler
from functions.purge_course.app import handler as purge_handler
from tests.conftest import JWT_SECRET, call
from tests.test_hostile_tokens import JwksServer, assert_unauthorized

REF = "abcdefghijklmnopqrst"
ISSUER = f"https://{REF}.supabase.co/auth/v1"
SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())
STANDBY_KEY = ec.generate_private_key(ec.SECP256R1())
SIGNING_KID, STANDBY_KID = str(uuid.uuid4()), str(uuid.uuid4())


def api_key(role: str, *, secret: str = JWT_SECRET) -> str:
    """A project API key exactly as Supabase mints it (years of validity, no sub, no aud)."""
    now = int(time.time())
    return jwt.encode({"iss": "supabase", "ref": REF, "role": role, "iat": now, "exp": now + 10 * 365 * 86400},
                      secret, algorithm="HS256")


def access_token(user_id, *, key=SIGNING_KEY, kid=SIGNING_KID) -> str:
    """An access token as Supabase Auth signs it with an asymmetric key."""
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": str(user_id), "aud": "authenticated", "exp": now + 3600, "iat": now,
              "email": "user@example.com", "phone": "", "app_metadata": {"provider": "email", "providers": ["email"]},
              "user_metadata": {}, "role": "authenticated", "aal": "aal1",
              "amr": [{"method": "password", "timestamp": now}], "session_id": str(uuid.uuid4()),
              "is_anonymous": False}
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": "JWT"})


def supabase_jwk(key, kid: str) -> dict:
    """A key of Supabase's JWKS, in its shape (key_ops and ext included)."""
    return {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "alg": "ES256", "use": "sig",
            "key_ops": ["verify"], "ext": True}


@pytest.fixture(scope="module")
def supabase_jwks():
    server = JwksServer(keys=[supabase_jwk(SIGNING_KEY, SIGNING_KID), supabase_jwk(STANDBY_KEY, STANDBY_KID)])
    yield server
    server.close()


@pytest.fixture
def project(supabase_jwks, settings_env):
    """Settings as a Supabase project on asymmetric keys has them: JWKS, legacy secret, issuer."""
    settings_env(SUPABASE_JWKS_URL=supabase_jwks.url, SUPABASE_JWT_SECRET=JWT_SECRET, JWT_ISSUER=ISSUER)


ADMIN_CALLS = {
    "POST /cleanup": (cleanup_handler, "POST", "/cleanup", {"dryRun": True}),
    "GET /health": (cleanup_handler, "GET", "/health", None),
    "POST /purges/retry": (purge_handler, "POST", "/purges/retry", None),
}


@pytest.mark.parametrize("endpoint", list(ADMIN_CALLS))
def test_the_service_role_key_as_issued_is_an_admin(project, endpoint):
    handler, method, path, body = ADMIN_CALLS[endpoint]
    reply = call(handler, method, path, token=api_key("service_role"), body=body)
    assert reply.status == 200, reply


@pytest.mark.parametrize("endpoint", list(ADMIN_CALLS))
def test_the_anon_key_is_no_admin(project, endpoint):
    handler, method, path, body = ADMIN_CALLS[endpoint]
    reply = call(handler, method, path, token=api_key("anon"), body=body)
    assert_unauthorized(reply)
    assert "anon key" in reply.json["error"]["message"]


def test_the_anon_key_is_no_user_either(project):
    assert_unauthorized(call(draft_handler, "GET", "/drafts", token=api_key("anon")))


def test_a_service_role_key_of_another_project_is_refused(project):
    forged = api_key("service_role", secret="another-projects-secret-0123456789abcdef")
    assert_unauthorized(call(cleanup_handler, "GET", "/health", token=forged))


def test_a_service_role_key_from_another_issuer_is_refused(project):
    now = int(time.time())
    token = jwt.encode({"iss": "https://evil.example/auth/v1", "role": "service_role", "iat": now, "exp": now + 60},
                       JWT_SECRET, algorithm="HS256")
    assert_unauthorized(call(cleanup_handler, "GET", "/health", token=token))


def test_an_expired_service_role_key_is_refused(project):
    now = int(time.time())
    token = jwt.encode({"iss": "supabase", "ref": REF, "role": "service_role", "iat": now - 7200, "exp": now - 3600},
                       JWT_SECRET, algorithm="HS256")
    assert_unauthorized(call(cleanup_handler, "GET", "/health", token=token))


@pytest.mark.parametrize("kid_key", ["signing", "standby"])
def test_access_tokens_on_asymmetric_keys_verify_through_the_jwks(project, make_user, kid_key):
    user = make_user()
    key, kid = (SIGNING_KEY, SIGNING_KID) if kid_key == "signing" else (STANDBY_KEY, STANDBY_KID)
    created = call(draft_handler, "POST", "/drafts", token=access_token(user.id, key=key, kid=kid))
    assert created.status == 201, created
    assert call(draft_handler, "GET", "/drafts", token=access_token(user.id, key=key, kid=kid)).status == 200


def test_an_access_token_signed_by_a_key_not_in_the_jwks_is_refused(project, make_user):
    user = make_user()
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert_unauthorized(call(draft_handler, "GET", "/drafts", token=access_token(user.id, key=stranger)))
    assert_unauthorized(call(draft_handler, "GET", "/drafts",
                             token=access_token(user.id, key=stranger, kid=str(uuid.uuid4()))))
