"""Responses in the contract's shape: JSON serialized once, the one error body, replay headers."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Optional

from aws_lambda_powertools.event_handler import Response

from ..errors import ApiError

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

JSON = "application/json"
REPLAYED = "Idempotent-Replayed"


def dumps(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


def replay_headers(replayed: bool) -> dict[str, str]:
    return {REPLAYED: "true"} if replayed else {}


def json_response(status: int, body: Any, headers: Optional[dict[str, str]] = None) -> Response[str]:
    # Serialized here, once: a dict body would first be walked by the resolver's jsonable_encoder and
    # then dumped anyway. (The routes are annotated Response[str]: Powertools checks only that this is text.)
    return Response(status_code=status, content_type=JSON, body=dumps(body), headers=headers or {})


def no_content(headers: Optional[dict[str, str]] = None) -> Response[str]:
    return Response(status_code=204, content_type=None, body="", headers=headers or {})


def error_response(err: ApiError) -> Response[str]:
    body: dict[str, Any] = {"code": err.code, "message": err.message}
    if err.details:
        body["details"] = err.details
    return json_response(err.status, {"error": body}, {**err.headers, **replay_headers(err.replayed)})


def ok(status: int, model: type, description: str = "Success") -> dict[int, OpenAPIResponse]:
    """An OpenAPI `responses` entry (documented, not re-validated on every response)."""
    return {status: {"description": description, "content": {JSON: {"model": model}}}}


def as_lambda(response: Response[Any]) -> dict[str, Any]:
    """A Response as the Function URL's answer (the shape Powertools' resolver returned)."""
    headers = {k: v if isinstance(v, str) else ",".join(v) for k, v in (response.headers or {}).items()}
    return {
        "statusCode": response.status_code,
        "body": response.body if isinstance(response.body, str) else dumps(response.body),
        "isBase64Encoded": False,
        "headers": headers,
        "cookies": [],
    }
