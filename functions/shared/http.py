"""HTTP translation shared by the three functions: Function URL event in, contract response out.

Routing, request validation and the OpenAPI document come from Powertools' resolver; this module
adds what the contract needs on top: the body limit, authentication before anything else, the one
error shape, 405 for known paths, 503 with Retry-After for a store that is down, and one JSON log
line per invocation.
"""

from __future__ import annotations

import base64
import contextvars
import functools
import json
import logging
import threading
import time
import uuid
from typing import Any, Optional

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestUnsupportedContentType, RequestValidationError

from . import idempotency
from .auth import Authenticator, Principal
from .errors import (
    ApiError,
    BadRequest,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    StoreUnavailable,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)
from .settings import get_settings

JSON = "application/json"
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

# Per-invocation state. A ContextVar keeps it right in the threaded dev server as well as in Lambda.
_principal: contextvars.ContextVar[Optional[Principal]] = contextvars.ContextVar("principal", default=None)
_log_fields: contextvars.ContextVar[Optional[dict]] = contextvars.ContextVar("log_fields", default=None)
_idempotency: contextvars.ContextVar[Optional[idempotency.Idempotency]] = contextvars.ContextVar(
    "idempotency", default=None)
WRITES = ("POST", "PUT", "PATCH", "DELETE")
REPLAYED = "Idempotent-Replayed"


def dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def note(**fields: Any) -> None:
    """Add fields to this invocation's log line (`event` names it: draft_created, course_purged...)."""
    current = _log_fields.get()
    if current is not None:
        current.update({k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in fields.items()})


def current_principal() -> Principal:
    principal = _principal.get()
    if principal is None:  # only reachable if a route is called outside `serve`
        raise Unauthorized("Authentication is required.")
    return principal


def current_user() -> Principal:
    """A route dependency: the caller must be a user (an admin token owns no drafts)."""
    principal = current_principal()
    if principal.user_id is None:
        raise Forbidden("This endpoint needs a user's token.")
    return principal


def current_idempotency() -> Optional[idempotency.Idempotency]:
    """A route dependency: this write's Idempotency-Key (scoped to the caller by the store), or None."""
    return _idempotency.get()


def replay_headers(replayed: bool) -> dict[str, str]:
    return {REPLAYED: "true"} if replayed else {}


def current_admin() -> Principal:
    principal = current_principal()
    if not principal.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return principal


def error_response(err: ApiError) -> Response:
    body: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.details:
        body["details"] = err.details
    return Response(
        status_code=err.status,
        content_type=JSON,
        body={"error": body},
        headers={**err.headers, **replay_headers(err.replayed)},
    )


def json_response(status: int, body: Any, headers: Optional[dict[str, str]] = None) -> Response:
    # Serialized here, once: a dict body would first be walked by the resolver's jsonable_encoder
    # (the routes declare no return model, so nothing is validated) and then dumped anyway.
    return Response(
        status_code=status,
        content_type=JSON,
        body=dumps(body),
        headers=headers or {},
    )


def ok(status: int, model: type, description: str = "Success") -> dict:
    """An OpenAPI `responses` entry (documented, not re-validated on every response)."""
    return {status: {"description": description, "content": {JSON: {"model": model}}}}


def no_content(headers: Optional[dict[str, str]] = None) -> Response:
    return Response(status_code=204, content_type=None, body="", headers=headers or {})


def _field_path(loc: tuple) -> str:
    # ("body", "formData", "estimatedLessons") -> "formData.estimatedLessons"
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else [str(p) for p in loc]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _validation_error(exc: RequestValidationError) -> ApiError:
    errors = exc.errors()
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
    details = [{"field": _field_path(tuple(e.get("loc") or ())), "message": _message(e)} for e in errors]
    if bad_params:
        return BadRequest("A parameter of the URL is malformed.", details=[
            {"field": _field_path(tuple(e.get("loc") or ())), "message": _message(e)} for e in bad_params
        ])
    return ValidationFailed("The request does not match the schema.", details=details)


def _message(err: dict) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    if err.get("type") == "missing":
        return "required"
    return str(err.get("msg", "invalid"))


def _build_dependency_trees_once() -> None:
    """Powertools rebuilds a route's Depends() tree on every request: get_type_hints() evaluates
    every string annotation again (about 40-80 us a request here, make bench). The tree depends
    only on the function, so it is built once per function."""
    from aws_lambda_powertools.event_handler import depends

    if not getattr(depends.build_dependency_tree, "cache_info", None):
        depends.build_dependency_tree = functools.lru_cache(maxsize=None)(depends.build_dependency_tree)


def _loads(text: str) -> Any:
    """json.loads, where a body nested too deep or a number too long is invalid JSON (a 400), not a crash."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:  # e.g. 30,000 nested '[' or a 5,000-digit integer
        raise json.JSONDecodeError(f"unparseable body ({type(exc).__name__})", "", 0) from None


def make_app(title: str) -> LambdaFunctionUrlResolver:
    """A resolver whose every failure is answered in the contract's error shape."""
    _build_dependency_trees_once()
    app = LambdaFunctionUrlResolver(enable_validation=True, serializer=dumps, json_body_deserializer=_loads)
    app.configure_openapi(
        title=title,
        version="1.0.0",
        openapi_version="3.1.0",
        security_schemes={"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        security=[{"bearerAuth": []}],
    )

    @app.exception_handler(ApiError)
    def _api_error(exc: ApiError):
        note(outcome=exc.code)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError):
        err = _validation_error(exc)
        note(outcome=err.code)
        return error_response(err)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_exc: RequestUnsupportedContentType):
        # Powertools answers these itself with a 415 in its own shape; the contract's shape instead.
        err = BadRequest("Send the body as application/json.")
        note(outcome=err.code)
        return error_response(err)

    @app.exception_handler(StoreUnavailable)
    def _store_down(exc: StoreUnavailable):
        return _unavailable(exc, app.current_event.http_method)

    @app.not_found
    def _not_found(_exc: NotFoundError):
        method = app.current_event.http_method.upper()
        path = app.current_event.path
        allowed = sorted({r.method for r in app._static_routes + app._dynamic_routes if r.rule.match(path)})
        if allowed and method not in allowed:
            err = MethodNotAllowed(f"{method} is not allowed here; use {', '.join(allowed)}.")
            err.headers["Allow"] = ", ".join(allowed)
        else:
            err = NotFound("No such endpoint.")
        note(outcome=err.code)
        return error_response(err)

    return app


def _unavailable(exc: StoreUnavailable, method: str) -> Response:
    """503 with Retry-After. A write's answer says what is known of its outcome: "nothing was changed"
    only when that is certain; after a timeout the write may land or have landed (API.md)."""
    note(outcome="unavailable", store=exc.store, cause=type(exc.cause).__name__ if exc.cause else None,
         reason=exc.reason, applied=exc.applied)
    retry = get_settings().retry_after_seconds
    if method.upper() not in WRITES:
        outcome = "Retry shortly."
    elif exc.applied is False:
        outcome = "nothing was changed. Retry shortly."
    else:
        outcome = ("it is not known whether the change was applied. Retrying with the same Idempotency-Key "
                   "is safe.")
    err = Unavailable(f"The {exc.store} store is unavailable; {outcome}", headers={"Retry-After": str(retry)})
    return error_response(err)


def _body_size(event: dict) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4  # close enough for a limit; no need to decode a huge body
    return len(body.encode("utf-8"))


def _is_json(event: dict) -> bool:
    """Only JSON bodies are read. Powertools parses other types itself, and a multipart type made
    it raise ValueError (a 500), even with no body, so anything else is refused before routing."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "").upper()
    if not event.get("body") and method not in ("POST", "PUT", "PATCH"):
        return True
    content_type = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "content-type"), "")
    return not content_type.strip() or content_type.strip().lower().startswith("application/json")


def _method(event: dict) -> str:
    return ((event.get("requestContext") or {}).get("http") or {}).get("method", "")


def _idempotency_of(event: dict) -> Optional[idempotency.Idempotency]:
    """The request's Idempotency-Key (writes only); a malformed one is a 400, before anything is done."""
    if _method(event).upper() not in WRITES:
        return None
    key = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "idempotency-key"), None)
    if key is None:
        return None
    try:
        body = _loads(event["body"]) if event.get("body") else None
    except json.JSONDecodeError:
        return None  # the body is refused as it is anyway (400), key or no key
    try:
        found = idempotency.from_request(key, method=_method(event), path=event.get("rawPath") or "/",
                                         query=event.get("rawQueryString") or "", body=body)
    except idempotency.MalformedKey as exc:
        raise BadRequest("The Idempotency-Key header is malformed.",
                         details=[{"field": idempotency.HEADER, "message": str(exc)}]) from None
    note(idempotencyKey=found.key_hash[:12] if found else None)
    return found


def _decode_base64_body(event: dict) -> dict:
    """Function URLs base64-encode bodies whose content type they do not know as text."""
    if event.get("isBase64Encoded") and event.get("body"):
        try:
            text = base64.b64decode(event["body"]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The body is not UTF-8 JSON.") from None
        event = {**event, "body": text, "isBase64Encoded": False}
    return event


class Service:
    """One function's entry point: `handler(event, context)` over a resolver.

    Lambda runs one invocation at a time per container; the lock gives the threaded dev server
    the same guarantee, since the resolver keeps the current event on itself.
    """

    def __init__(self, name: str, app: LambdaFunctionUrlResolver, *, authenticate: bool = True):
        self.name = name
        self.app = app
        self.authenticate = authenticate
        self.logger = Logger(service=name)
        self._auth: Optional[Authenticator] = None
        self._lock = threading.Lock()

    def authenticator(self) -> Authenticator:
        if self._auth is None:
            self._auth = Authenticator(get_settings())
        return self._auth

    def handle_http(self, event: dict, context: Any) -> dict:
        start = time.perf_counter()
        fields: dict[str, Any] = {"event": f"{self.name}_request"}
        token_f = _log_fields.set(fields)
        token_p = _principal.set(None)
        token_i = _idempotency.set(None)
        try:
            http = (event.get("requestContext") or {}).get("http") or {}
            fields.update(method=http.get("method"), path=event.get("rawPath"))
            response = self._dispatch(event, context)
        finally:
            _principal.reset(token_p)
            _idempotency.reset(token_i)
            _log_fields.reset(token_f)
        status = response.get("statusCode", 500)
        fields.setdefault("outcome", "ok" if status < 400 else "error")
        fields.update(status=status, durationMs=round((time.perf_counter() - start) * 1000, 1))
        log = self.logger.warning if status >= 500 else self.logger.info
        event_name = fields.pop("event")
        log(event_name, extra={(f"{k}_" if k in _RESERVED else k): v for k, v in fields.items()})
        return response

    def _dispatch(self, event: dict, context: Any) -> dict:
        try:
            settings = get_settings()
            if _body_size(event) > settings.draft_max_body_bytes:
                raise PayloadTooLarge(f"The body is over {settings.draft_max_body_bytes} bytes.")
            event = _decode_base64_body(event)
            if self.authenticate:
                headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
                principal = self.authenticator().authenticate(headers)
                _principal.set(principal)
                note(user=principal.label)
            if not _is_json(event):
                raise BadRequest("Send the body as application/json.")
            _idempotency.set(_idempotency_of(event))
            with self._lock:
                return self.app.resolve(event, context)
        except ApiError as exc:
            note(outcome=exc.code)
            return _as_lambda(error_response(exc))
        except StoreUnavailable as exc:
            return _as_lambda(_unavailable(exc, _method(event)))
        except Exception as exc:  # never a stack trace to the caller; the log has it
            self.logger.exception("unhandled_error", extra={"error": type(exc).__name__})
            note(outcome="internal_error")
            err = InternalError("Something went wrong on our side; it has been logged.")
            return _as_lambda(error_response(err))


def _as_lambda(response: Response) -> dict:
    return {
        "statusCode": response.status_code,
        "headers": {"Content-Type": JSON, **(response.headers or {})},
        "body": response.body if isinstance(response.body, str) else dumps(response.body),
        "isBase64Encoded": False,
    }
