"""What one invocation knows about its request: the caller, its Idempotency-Key, its log fields.

Context variables, so that each invocation (and each thread of a test) sees its own. The route
dependencies below read them; `note()` adds fields to the invocation's one log line.
"""

from __future__ import annotations

import contextvars
import uuid
from typing import Any, Optional

from ..auth import Principal
from ..errors import Forbidden, Unauthorized
from ..idempotency import Idempotency

principal: contextvars.ContextVar[Optional[Principal]] = contextvars.ContextVar("principal", default=None)
log_fields: contextvars.ContextVar[Optional[dict[str, Any]]] = contextvars.ContextVar("log_fields", default=None)
idempotency: contextvars.ContextVar[Optional[Idempotency]] = contextvars.ContextVar("idempotency", default=None)
lambda_context: contextvars.ContextVar[Any] = contextvars.ContextVar("lambda_context", default=None)  # Lambda's, or None


def note(**fields: Any) -> None:
    """Add fields to this invocation's log line (`event` names it: draft_created, course_purged...)."""
    current = log_fields.get()
    if current is not None:
        current.update({k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in fields.items()})


def current_principal() -> Principal:
    found = principal.get()
    if found is None:  # only reachable if a route is called outside the entry point
        raise Unauthorized("Authentication is required.")
    return found


def current_user() -> Principal:
    """A route dependency: the caller must be a user (an admin token owns no drafts)."""
    found = current_principal()
    if found.user_id is None:
        raise Forbidden("This endpoint needs a user's token.")
    return found


def current_admin() -> Principal:
    found = current_principal()
    if not found.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return found


def current_idempotency() -> Optional[Idempotency]:
    """A route dependency: this write's Idempotency-Key (scoped to the caller by the store), or None."""
    return idempotency.get()
