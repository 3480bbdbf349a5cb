"""The Function URL event (payload format 2.0) Lambda sends for an HTTP request.

The dev server and the tests build events here, so what runs locally is what runs in AWS.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Optional
from urllib.parse import parse_qsl

TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


def function_url_event(method: str, raw_path: str, *, query: str = "", headers: Optional[Mapping[str, str]] = None,
                       body: Optional[bytes] = None, source_ip: str = "127.0.0.1") -> dict:
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = hdrs.get("content-type", "")
    is_text = body is None or not content_type or content_type.startswith(TEXT_TYPES)
    if body is None or body == b"":
        encoded, b64 = None, False
    elif is_text:
        try:
            encoded, b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            encoded, b64 = base64.b64encode(body).decode(), True
    else:
        encoded, b64 = base64.b64encode(body).decode(), True
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):  # repeated: comma-joined, as Lambda does
        params[name] = f"{params[name]},{value}" if name in params else value
    now = datetime.now(UTC)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "cookies": None,
        "headers": hdrs,
        "queryStringParameters": params or None,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": hdrs.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {"method": method.upper(), "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": hdrs.get("user-agent", "")},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "body": encoded,
        "isBase64Encoded": b64,
    }
