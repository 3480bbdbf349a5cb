"""Who is calling: a Supabase user (JWT verified locally) or an administrator / the scheduler.

The user id is the token's `sub`, never a value from the body or the path.

Supabase's API keys are JWTs signed with the project's JWT secret, shaped unlike access tokens:
`{"iss": "supabase", "ref": ..., "role": "service_role" | "anon", "iat", "exp"}`, no `sub`, no
`aud`. The service_role key is an administrator as it is; the anon key, which every browser has,
identifies no one: 401 wherever it is sent.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from .errors import StoreUnavailable, Unauthorized
from .settings import Settings


@contextlib.contextmanager
def _without_cryptography() -> Iterator[None]:
    """PyJWT imports cryptography whenever it can (about 35 ms of a cold start, the most of PyJWT's
    import). Without SUPABASE_JWKS_URL only HS256 tokens are verified, which takes hmac alone, so the
    functions import PyJWT as if cryptography were not installed; with it, as usual."""
    keep_out = not os.environ.get("SUPABASE_JWKS_URL") and not {"jwt", "cryptography"} & sys.modules.keys()
    if keep_out:
        sys.modules["cryptography"] = None  # type: ignore[assignment]  # `import cryptography` fails
    try:
        yield
    finally:
        if keep_out:
            del sys.modules["cryptography"]  # nothing else is kept from it


with _without_cryptography():
    import jwt

MAX_TOKEN_CHARS = 8192  # Supabase tokens are ~1 KB; anything far larger is an attack or a mistake.
ASYMMETRIC = ("RS256", "ES256")
LEEWAY_SECONDS = 5
API_KEY_ISSUER = "supabase"  # the `iss` of the project's anon and service_role keys
VERIFIED_TOKENS_KEPT = 1024  # per container; a full cache is simply emptied


@dataclass(frozen=True)
class Principal:
    user_id: Optional[uuid.UUID]  # None for the admin token
    is_admin: bool  # ADMIN_TOKEN or a service_role JWT

    @property
    def label(self) -> str:
        return str(self.user_id) if self.user_id else "admin"


class Authenticator:
    def __init__(self, settings: Settings):
        if settings.supabase_jwks_url and not jwt.algorithms.has_crypto:
            raise RuntimeError("SUPABASE_JWKS_URL is set after PyJWT was imported without cryptography: set it in "
                               "the environment the process starts with")
        self._settings = settings
        self._jwks: Optional[jwt.PyJWKClient] = None
        self._verified: dict[str, tuple[dict[str, Any], int]] = {}  # token -> (claims, exp)

    def _jwks_client(self, url: str) -> jwt.PyJWKClient:
        if self._jwks is None:
            # Keys are cached for the container's life; an unknown kid triggers one refetch.
            self._jwks = jwt.PyJWKClient(
                url,
                cache_keys=True,
                lifespan=600,
                timeout=int(self._settings.store_timeout_seconds) or 1,
            )
        return self._jwks

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        token = bearer_token(headers)
        admin_token = self._settings.admin_token
        if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
            return Principal(user_id=None, is_admin=True)
        claims = self._verify_jwt(token)
        if claims.get("role") == "anon":
            raise Unauthorized("Supabase's anon key identifies no user: send the user's access token.")
        if claims.get("role") == "service_role":
            return Principal(user_id=_optional_uuid(claims.get("sub")), is_admin=True)
        user_id = _optional_uuid(claims.get("sub"))
        if user_id is None:
            raise Unauthorized("The token has no valid user id (sub).")
        return Principal(user_id=user_id, is_admin=False)

    def _verify_jwt(self, token: str) -> dict[str, Any]:
        # A tab autosaves with one access token for up to an hour. Its signature and claims were
        # checked when first seen and cannot change; only expiry can, so that is checked again
        # (PyJWT's rule and leeway). Verifying anew cost more than the Redis call it guards
        # (make bench). Failures are not kept: a bad token is verified, and refused, every time.
        cached = self._verified.get(token)
        if cached is not None:
            if cached[1] <= time.time() - LEEWAY_SECONDS:
                self._verified.pop(token, None)
                raise Unauthorized("The token has expired.")
            return cached[0]
        claims = self._verify_uncached(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified.clear()
        self._verified[token] = (claims, int(claims["exp"]))
        return claims

    def _verify_uncached(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("The bearer token is malformed.") from None
        alg = header.get("alg")
        key = self._key_for(alg, token)
        assert isinstance(alg, str)  # _key_for refused any other than HS256 and those of ASYMMETRIC
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],  # exactly the one family the key was chosen for: no confusion
                leeway=LEEWAY_SECONDS,
                **self._claim_checks(token),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The token was rejected: {_reason(exc)}.") from None

    def _claim_checks(self, token: str) -> dict[str, Any]:
        """What the claims must say. An API key (role anon / service_role) has no `aud` and is issued
        by "supabase"; an access token carries JWT_AUDIENCE and, if set, JWT_ISSUER. The role read
        here unverified only picks the checks: the signature is verified either way."""
        try:
            role = jwt.decode(token, options={"verify_signature": False}).get("role")
        except jwt.PyJWTError:
            role = None
        issuer = self._settings.jwt_issuer
        if role in ("anon", "service_role"):
            return {"issuer": [API_KEY_ISSUER, issuer] if issuer else None,
                    "options": {"require": ["exp"], "verify_aud": False, "verify_iss": bool(issuer)}}
        return {"audience": self._settings.jwt_audience, "issuer": issuer,
                "options": {"require": ["exp"], "verify_iss": bool(issuer)}}

    def _key_for(self, alg: Optional[str], token: str) -> Any:  # the secret, or PyJWT's key (PyJWK.key: Any)
        settings = self._settings
        if alg == "HS256" and settings.supabase_jwt_secret:
            return settings.supabase_jwt_secret
        if alg in ASYMMETRIC and settings.supabase_jwks_url:
            try:
                signing_key = self._jwks_client(settings.supabase_jwks_url).get_signing_key_from_jwt(token)
            except jwt.PyJWKClientConnectionError as exc:
                raise StoreUnavailable("jwks", exc) from None
            except jwt.PyJWTError:
                raise Unauthorized("The token's signing key is unknown.") from None
            # A header naming RS256 on an EC key's kid (or the reverse) made PyJWT raise TypeError: a 500.
            if signing_key.algorithm_name != alg:
                raise Unauthorized("The token's algorithm does not match its signing key.")
            return signing_key.key
        raise Unauthorized(f"Tokens signed with {alg!r} are not accepted.")


def bearer_token(headers: Mapping[str, str]) -> str:
    raw = headers.get("authorization") or ""
    scheme, _, token = raw.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.")
    if len(token) > MAX_TOKEN_CHARS:
        raise Unauthorized("The bearer token is too long.")
    return token


def _optional_uuid(value: object) -> Optional[uuid.UUID]:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _reason(exc: Exception) -> str:
    # PyJWT messages name the failed check (audience, issuer, signature) and never the key.
    return str(exc).rstrip(".") or type(exc).__name__
