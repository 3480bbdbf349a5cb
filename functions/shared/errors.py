"""The errors of the domain and of the stores, free of HTTP: the HTTP layer maps them to statuses."""

from __future__ import annotations

from typing import Any, Optional


class ApiError(Exception):
    """An outcome the caller must see, with the contract's status, code and message."""

    status = 400
    code = "bad_request"

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
    """A backing store timed out or refused the connection. Nothing was changed by the failed call."""

    def __init__(self, store: str, cause: Optional[BaseException] = None):
        super().__init__(f"{store} unavailable: {type(cause).__name__ if cause else 'error'}")
        self.store = store
        self.cause = cause
