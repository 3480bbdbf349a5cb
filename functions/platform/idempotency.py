"""`Idempotency-Key` (API.md): a client's name for one request, so that a retry applies nothing twice.

The key is scoped to the caller by whoever stores it (in the user's Redis slot, or beside the
caller's id in Postgres) and kept hashed. The fingerprint is of the request itself (method, path,
query, canonical JSON body): the same key sent with another request is refused (422).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Optional

from .errors import ValidationFailed

HEADER = "Idempotency-Key"
VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # 1-255 visible ASCII characters


@dataclass(frozen=True)
class Idempotency:
    key_hash: str
    fingerprint: str


class MalformedKey(ValueError):
    pass


def from_request(key: Optional[str], *, method: str, path: str, query: str, body: Any) -> Optional[Idempotency]:
    """The Idempotency of a request, None without the header; MalformedKey if it is not 1-255 visible ASCII."""
    if key is None:
        return None
    if not VALID_KEY.match(key):
        raise MalformedKey("must be 1-255 visible ASCII characters")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if body is not None else ""
    request = "\n".join((method.upper(), path, "&".join(sorted(query.split("&"))) if query else "", canonical))
    return Idempotency(key_hash=_digest(key)[:40], fingerprint=_digest(request)[:40])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def key_reused() -> ValidationFailed:
    """The answer to a key sent before with another request (API.md: 422, the field named)."""
    return ValidationFailed("This Idempotency-Key was used for another request.",
                            details=[{"field": "Idempotency-Key", "code": "key_reused",
                                      "message": "already used for a different request; send a new key"}])
