"""The one error table: whatever a request's handling raises becomes the contract's error here.

The model is httpx's `map_exceptions`: one map, used by the resolver's exception handler and by the
entry point alike, so a store failure is answered the same way wherever it surfaces.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Optional, Union

from .. import validation
from ..errors import ApiError, BadRequest, InternalError, StoreUnavailable, Unavailable, ValidationFailed
from ..settings import get_settings
from .binding import Invalid
from .context import note

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

log = logging.getLogger(__name__)
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def contract_error(exc: BaseException, method: str,
                   logger: Optional[Union[logging.Logger, Logger]] = None) -> ApiError:
    """The contract's error for `exc` (noted on the log line as the outcome)."""
    if isinstance(exc, ApiError):
        err = exc
    elif isinstance(exc, StoreUnavailable):
        err = unavailable(exc, method)
    elif isinstance(exc, Invalid):
        err = invalid(exc.errors)
    else:  # a bug: never a stack trace to the caller; the log has it
        (logger or log).exception("unhandled_error", extra={"error": type(exc).__name__})
        err = InternalError("Something went wrong on our side; it has been logged.")
    note(outcome=err.code)
    return err


def unavailable(exc: StoreUnavailable, method: str) -> Unavailable:
    """503 with Retry-After. A write's answer says what is known of its outcome: "nothing was changed"
    only when that is certain; after a timeout the write may land or have landed (API.md)."""
    note(store=exc.store, cause=type(exc.cause).__name__ if exc.cause else None, reason=exc.reason,
         applied=exc.applied)
    if method.upper() not in WRITES:
        outcome = "Retry shortly."
    elif exc.applied is False:
        outcome = "nothing was changed. Retry shortly."
    else:
        outcome = ("it is not known whether the change was applied. Retrying with the same Idempotency-Key "
                   "is safe.")
    return Unavailable(f"The {exc.store} store is unavailable; {outcome}",
                       headers={"Retry-After": str(get_settings().retry_after_seconds)})


def invalid(errors: list[dict[str, Any]]) -> ApiError:
    """The errors of a request's validation as the contract's 400 or 422."""
    for err in errors:
        loc = tuple(err.get("loc") or ())
        kind = err.get("type", "")
        if kind == "json_invalid":
            return BadRequest("The body is not valid JSON.")
        if kind == "unsupported_content_type":
            return BadRequest("Send the body as application/json.")
        if loc[:1] == ("body",) and len(loc) <= 1 and kind in ("model_attributes_type", "dict_type", "model_type", "missing"):
            return BadRequest("The body must be a JSON object.")
    bad_params = [e for e in errors if tuple(e.get("loc") or ())[:1] in (("query",), ("path",))]
    if bad_params:
        return BadRequest("A parameter of the URL is malformed.", details=[validation.detail(e) for e in bad_params])
    return ValidationFailed("The request does not match the schema.", details=[validation.detail(e) for e in errors])
