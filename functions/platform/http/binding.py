"""A route's arguments from its request, validated by the models directly.

Powertools' resolver declares the routes (its decorators, its OpenAPI document from their
signatures), but calling one through it costs about 0.15 ms a request (make bench, issue 18): the
validation middleware rebuilds each request's parameters field by field, the dependency solver
walks each Depends() again. A route's signature does not change, so it is read once, here, into
one validator per parameter; a request then costs one pydantic call per parameter.

The rules are the resolver's: path and query parameters and the body are all validated and their
errors reported together (loc `("path" | "query" | "body", ...)`, the error table words them); the
dependencies (who the caller is, the Idempotency-Key) are resolved after, only for a valid request.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qsl

from pydantic import TypeAdapter, ValidationError

REQUIRED = inspect.Parameter.empty


def loads(text: str) -> Any:
    """json.loads, where a body nested too deep or a number too long is invalid JSON (a 400), not a crash."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:  # e.g. 30,000 nested '[' or a 5,000-digit integer
        raise json.JSONDecodeError(f"unparseable body ({type(exc).__name__})", "", 0) from None


@dataclass(frozen=True)
class _Param:
    name: str
    source: str  # path, query, body or depends
    adapter: Optional[TypeAdapter[Any]]
    default: Any
    dependency: Optional[Callable[[], Any]] = None


class Invalid(Exception):
    """The request's parameters did not validate: pydantic's errors, each located as the resolver does."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__(f"{len(errors)} validation errors")
        self.errors = errors


def _marker(hint: Any) -> tuple[Any, Any]:
    """(the type, the Powertools marker: Body(), Query(), Depends() or None) of an annotation."""
    from aws_lambda_powertools.event_handler.depends import Depends
    from aws_lambda_powertools.event_handler.openapi.params import Body, Query

    if typing.get_origin(hint) is typing.Annotated:
        base, *metadata = typing.get_args(hint)
        for meta in metadata:
            if isinstance(meta, (Body, Query, Depends)):
                return base, meta
    return hint, None


def _params(fn: Callable[..., Any], path_names: set[str]) -> list[_Param]:
    from aws_lambda_powertools.event_handler.depends import Depends
    from aws_lambda_powertools.event_handler.openapi.params import Body, Query

    hints = typing.get_type_hints(fn, include_extras=True)
    params = []
    for name, parameter in inspect.signature(fn).parameters.items():
        base, marker = _marker(hints[name])
        if isinstance(marker, Depends):
            params.append(_Param(name, "depends", None, REQUIRED, marker.dependency))
            continue
        source = "body" if isinstance(marker, Body) else "query" if isinstance(marker, Query) else (
            "path" if name in path_names else None)
        if source is None:
            raise TypeError(f"{fn.__name__}({name}): neither a path parameter, Query(), Body() nor Depends()")
        params.append(_Param(name, source, TypeAdapter(base), parameter.default))
    return params


def _located(exc: ValidationError, *prefix: str) -> list[dict[str, Any]]:
    return [{**dict(e), "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False)]


Binder = Callable[[dict[str, str], str, Optional[str]], dict[str, Any]]


def binder(fn: Callable[..., Any], path_names: set[str]) -> Binder:
    """A function of (path parameters, raw query string, body text) -> the route's keyword arguments,
    raising Invalid with every parameter's errors."""
    params = _params(fn, path_names)

    def bind(path: dict[str, str], raw_query: str, body: Optional[str]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        query: Optional[dict[str, str]] = None
        for p in params:
            if p.source == "depends":
                continue
            assert p.adapter is not None
            if p.source == "path":
                raw: Any = path.get(p.name)
            elif p.source == "query":
                if query is None:
                    query = dict(parse_qsl(raw_query or "", keep_blank_values=True))
                raw = query.get(p.name, REQUIRED)
            else:  # the body: absent is its default, or missing
                if not body:
                    raw = REQUIRED
                else:
                    try:
                        raw = loads(body)
                    except json.JSONDecodeError as exc:
                        errors.append({"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}})
                        continue
            if raw is REQUIRED:
                if p.default is REQUIRED:
                    errors.append({"type": "missing", "loc": (p.source,) if p.source == "body" else (p.source, p.name),
                                   "msg": "Field required", "input": None})
                else:
                    kwargs[p.name] = p.default
                continue
            try:
                kwargs[p.name] = p.adapter.validate_python(raw)
            except ValidationError as exc:
                errors += _located(exc, p.source) if p.source == "body" else _located(exc, p.source, p.name)
        if errors:
            raise Invalid(errors)
        for p in params:
            if p.dependency is not None:
                kwargs[p.name] = p.dependency()
        return kwargs

    return bind
