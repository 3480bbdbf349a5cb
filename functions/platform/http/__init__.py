"""HTTP for the functions, one job per module: context (the request's caller, key and log fields),
responses, failures (the one error table), validation (schema errors for people), routes (the
project's route table), resolver (Powertools' resolver), entry (the handler around it)."""

from . import context
from .context import current_admin, current_idempotency, current_principal, current_user, note
from .entry import Service
from .resolver import ContractResolver, make_app
from .responses import json_response, no_content, ok, replay_headers
from .routes import operation

__all__ = ["ContractResolver", "Service", "context", "current_admin", "current_idempotency", "current_principal",
           "current_user", "json_response", "make_app", "no_content", "note", "ok", "operation",
           "replay_headers"]
