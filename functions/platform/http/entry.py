"""One function's entry point, `handler(event, context)`: a request from its event to its answer.

In order: the body limit (413), the base64 body a Function URL may send, authentication (401, before
anything else), the route table (404, 405, and 400 for a query parameter or a body the route does
not take), JSON only, the Idempotency-Key; then the route, its arguments validated (binding.py);
then one JSON log line and the invocation's metrics.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Optional

from aws_lambda_powertools import Logger

from .. import idempotency, metrics, snapstart
from ..auth import Authenticator
from ..errors import BadRequest, PayloadTooLarge
from ..settings import get_settings
from . import context
from .binding import loads
from .context import note
from .failures import WRITES, contract_error
from .resolver import ContractResolver
from .responses import as_lambda, error_response

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Service:
    """One function's entry point over its routes. Nothing of a request is kept on the instance
    (context variables hold it), so threads of a test or of the dev server may call it at once."""

    def __init__(self, name: str, app: ContractResolver, authenticator: Callable[[], Authenticator]):
        self.name = name
        self.app = app
        self.authenticator = authenticator  # the process's (functions/wiring.py): its key cache lives there
        self.logger = Logger(service=name)
        snapstart.register()  # one Service per function: its restore hooks, when SnapStart is on

    def handle_http(self, event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
        start = time.perf_counter()
        fields: dict[str, Any] = {"event": f"{self.name}_request"}
        tokens = (context.log_fields.set(fields), context.principal.set(None), context.idempotency.set(None),
                  context.lambda_context.set(lambda_context))
        points = metrics.begin()
        try:
            fields.update(method=_method(event), path=event.get("rawPath"))
            fields["event"] = self.app.table.operation_of(_method(event), event.get("rawPath") or "/") or fields["event"]
            response = self._dispatch(event)
        finally:
            context.log_fields.reset(tokens[0])
            context.principal.reset(tokens[1])
            context.idempotency.reset(tokens[2])
            context.lambda_context.reset(tokens[3])
        status = response.get("statusCode", 500)
        elapsed_ms = (time.perf_counter() - start) * 1000
        fields.setdefault("outcome", "ok" if status < 400 else "error")
        fields.update(status=status, durationMs=round(elapsed_ms, 1))
        log = self.logger.warning if status >= 500 else self.logger.info
        event_name = fields.pop("event")
        log(event_name, extra={(f"{k}_" if k in _RESERVED else k): v for k, v in fields.items()})
        # An error is counted when it happens, not as a 0 on every call: the rates divide sums
        # (FILL(errors, 0) / requests), and each point costs the call a few microseconds.
        metrics.record("Requests")
        metrics.record("Latency", round(elapsed_ms, 3))
        if status >= 400:
            metrics.record("ClientErrors" if status < 500 else "Unavailable" if status == 503 else "ServerErrors")
        metrics.flush(points, namespace=get_settings().metrics_namespace, service=self.name,
                      dimensions={"operation": event_name}, per_service=True)
        return response

    def _dispatch(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            limit = get_settings().draft_max_body_bytes
            if _body_size(event) > limit:
                raise PayloadTooLarge(f"The body is over {limit} bytes.")
            event = _decode_base64_body(event)
            headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
            principal = self.authenticator().authenticate(headers)
            context.principal.set(principal)
            note(user=principal.label)
            path = event.get("rawPath") or "/"
            route = self.app.table.find(_method(event), path)
            self.app.table.check(route, event.get("rawQueryString") or "", bool(event.get("body")))
            if not _is_json(event):
                raise BadRequest("Send the body as application/json.")
            context.idempotency.set(_idempotency_of(event))
            match = route.pattern.match(path)
            assert match is not None  # find() matched it
            arguments = route.bind(match.groupdict(), event.get("rawQueryString") or "", event.get("body"))
            return as_lambda(route.fn(**arguments))
        except Exception as exc:  # noqa: BLE001 - every failure is answered through the one error table
            return as_lambda(error_response(contract_error(exc, _method(event), self.logger)))


def _method(event: dict[str, Any]) -> str:
    return str(((event.get("requestContext") or {}).get("http") or {}).get("method", ""))


def _body_size(event: dict[str, Any]) -> int:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return len(body) * 3 // 4  # close enough for a limit; no need to decode a huge body
    return len(body.encode("utf-8"))


def _is_json(event: dict[str, Any]) -> bool:
    """Only JSON bodies are read. Powertools parses other types itself, and a multipart type made
    it raise ValueError (a 500), even with no body, so anything else is refused before routing."""
    if not event.get("body") and _method(event).upper() not in ("POST", "PUT", "PATCH"):
        return True
    content_type = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "content-type"), "")
    return not content_type.strip() or content_type.strip().lower().startswith("application/json")


def _idempotency_of(event: dict[str, Any]) -> Optional[idempotency.Idempotency]:
    """The request's Idempotency-Key (writes only); a malformed one is a 400, before anything is done."""
    if _method(event).upper() not in WRITES:
        return None
    key = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "idempotency-key"), None)
    if key is None:
        return None
    try:
        body = loads(event["body"]) if event.get("body") else None
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


def _decode_base64_body(event: dict[str, Any]) -> dict[str, Any]:
    """Function URLs base64-encode bodies whose content type they do not know as text."""
    if event.get("isBase64Encoded") and event.get("body"):
        try:
            text = base64.b64decode(event["body"]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("The body is not UTF-8 JSON.") from None
        event = {**event, "body": text, "isBase64Encoded": False}
    return event
