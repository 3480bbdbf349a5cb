"""The routes of a function as the project knows them: method, path, the query parameters each takes
and whether it takes a body, read from the route function's own signature when it is registered.

The HTTP layer answers from this table before the resolver runs anything: 404 for an unknown path,
405 (with Allow) for a known path and another method, and 400 for a query parameter the route does
not take or one given twice, or a body where the route takes none (API.md: a destructive call never
acts on input it did not understand; `?dryrun=true` is a 400, never a purge).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar
from urllib.parse import parse_qsl

from ..errors import BadRequest, MethodNotAllowed, NotFound
from .binding import Binder, binder


@dataclass(frozen=True)
class Route:
    method: str
    rule: str  # "/drafts/<session_id>"
    pattern: re.Pattern[str]
    query: tuple[str, ...]  # the query parameters it takes
    body: bool  # whether it takes a body
    operation: str  # its name in logs and metrics: the `message` of its log line, the `operation` dimension
    fn: Callable[..., Any] = field(compare=False, repr=False)  # the route function
    bind: Binder = field(compare=False, repr=False)  # (path params, query, body) -> its arguments, validated


def _compile(rule: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"<(\w+)>", r"(?P<\1>[^/]+)", re.escape(rule)) + "$")


def _marked(hint: Any, kind: type) -> bool:
    return any(isinstance(meta, kind) for meta in getattr(hint, "__metadata__", ()))


F = TypeVar("F", bound=Callable[..., Any])


def operation(name: str) -> Callable[[F], F]:
    """Name a route's operation (under its @app.get/post/...): the `message` of its log line and the
    `operation` dimension of its metrics, set before anything runs, so a 401 or a 503 counts against
    the operation the caller tried. Unnamed, a route's operation is its function's name."""
    def mark(fn: F) -> F:
        fn.operation = name  # type: ignore[attr-defined]
        return fn
    return mark


def route_of(method: str, rule: str, fn: Callable[..., Any]) -> Route:
    from aws_lambda_powertools.event_handler.openapi.params import Body, Query

    hints = typing.get_type_hints(fn, include_extras=True)
    hints.pop("return", None)
    query = tuple(name for name, hint in hints.items() if _marked(hint, Query))
    return Route(method.upper(), rule, _compile(rule), query, any(_marked(h, Body) for h in hints.values()),
                 getattr(fn, "operation", fn.__name__), fn, binder(fn, set(re.findall(r"<(\w+)>", rule))))


@dataclass
class RouteTable:
    routes: list[Route] = field(default_factory=list)

    def add(self, method: str, rule: str, fn: Callable[..., Any]) -> None:
        self.routes.append(route_of(method, rule, fn))

    def operation_of(self, method: str, path: str) -> Optional[str]:
        """The operation a request is for, if any (named before it is authenticated, so that a 401
        counts against the operation the caller tried)."""
        for found in self.routes:
            if found.method == method.upper() and found.pattern.match(path):
                return found.operation
        return None

    def find(self, method: str, path: str) -> Route:
        """The route of this request; NotFound, or MethodNotAllowed naming the methods the path takes."""
        matching = [r for r in self.routes if r.pattern.match(path)]
        for found in matching:
            if found.method == method.upper():
                return found
        if matching:
            allowed = ", ".join(sorted({r.method for r in matching}))
            err = MethodNotAllowed(f"{method.upper()} is not allowed here; use {allowed}.")
            err.headers["Allow"] = allowed
            raise err
        raise NotFound("No such endpoint.")

    @staticmethod
    def check(route: Route, raw_query: str, has_body: bool) -> None:
        """BadRequest for anything in the URL or the body that the route does not take."""
        names = [name for name, _ in parse_qsl(raw_query or "", keep_blank_values=True)]
        problems = [{"field": name, "message": "unknown query parameter"
                     + (f"; this endpoint takes {', '.join(route.query)}" if route.query else
                        "; this endpoint takes none")}
                    for name in dict.fromkeys(names) if name not in route.query]
        problems += [{"field": name, "message": "given more than once"}
                     for name in dict.fromkeys(names) if name in route.query and names.count(name) > 1]
        if problems:
            raise BadRequest("The URL has query parameters this endpoint does not take.", details=problems)
        if has_body and not route.body:
            raise BadRequest("This endpoint takes no body.", details=[{"field": "body", "message": "not allowed"}])
