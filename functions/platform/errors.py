"""The errors of the domain and of the stores, free of HTTP: the HTTP layer maps them to statuses."""

from __future__ import annotations

from typing import Any, Optional


class ApiError(Exception):
    """An outcome the caller must see, with the contract's status, code and message."""

    status = 400
    code = "bad_request"
    replayed = False  # the stored first answer of an Idempotency-Key, given again

    def __init__(
        self,
        message: str,
        *,
        details: Optional[list[dict[str, Any]]] = None,
        headers: Optional[dict[str, str]] = None,
    ):
        super().__init__(message)
        self.message = message
        self.details = details
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"


class VersionConflict(ApiError):
    status, code = 409, "version_conflict"


class AlreadyMaterialized(ApiError):
    """A save or discard of a session whose course exists or is being created (API.md)."""

    status, code = 409, "already_materialized"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class ValidationFailed(ApiError):
    status, code = 422, "validation_error"


class RateLimited(ApiError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: Optional[str] = None):
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        if code:
            self.code = code


class Unavailable(ApiError):
    """The answer to a StoreUnavailable: 503 with Retry-After."""

    status, code = 503, "unavailable"


class InternalError(ApiError):
    """A bug: the caller gets this, the log gets the stack trace."""

    status, code = 500, "internal_error"


class StoreUnavailable(Exception):
    """A backing store failed: it timed out, refused the connection or answered with an error.

    applied: False when the failed call certainly changed nothing (refused, an error reply, a
    transaction rolled back); None when that is not known (a timeout, a connection lost after the
    request was sent): the write may have landed, so the caller must not answer "nothing changed".
    reason: a short snake_case cause for the log (timeout, connection_refused, out_of_memory,
    authentication_failed, tls_verification_failed, ...).
    misconfigured: the deployment is wrong (bad password, untrusted certificate, a cluster not
    configured as one), not the store down: logged at error level, and no fallback hides it.
    """

    def __init__(self, store: str, cause: Optional[BaseException] = None, *, applied: Optional[bool] = None,
                 reason: Optional[str] = None, misconfigured: bool = False):
        super().__init__(f"{store} unavailable: {reason or (type(cause).__name__ if cause else 'error')}")
        self.store = store
        self.cause = cause
        self.applied = applied
        self.reason = reason
        self.misconfigured = misconfigured
