"""Powertools' resolver, as the functions use it: the route decorators and the OpenAPI document
from their signatures. Requests do not go through it: every route is also recorded in the
project's own table (routes.py), whose entries the entry point calls with arguments validated by
binding.py (issue 18: a third of a request's time went to the resolver's per-request machinery)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver

from .binding import loads
from .responses import dumps
from .routes import RouteTable

F = TypeVar("F", bound=Callable[..., Any])


class ContractResolver(LambdaFunctionUrlResolver):
    """Powertools' resolver that also records each route in the project's own table (routes.py)."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.table = RouteTable()

    def route(self, rule: str, method: Any, *args: Any, **kwargs: Any) -> Callable[[F], F]:
        register = super().route(rule, method, *args, **kwargs)

        def decorator(fn: F) -> F:
            for each in ((method,) if isinstance(method, str) else method):
                self.table.add(each, rule, fn)
            return register(fn)

        return decorator


def make_app(title: str) -> ContractResolver:
    """A resolver for a function's routes and its OpenAPI document."""
    app = ContractResolver(enable_validation=True, serializer=dumps, json_body_deserializer=loads)
    app.configure_openapi(
        title=title,
        version="1.0.0",
        openapi_version="3.1.0",
        # (ignore: Powertools annotates its scheme models, and validates a plain dict into one)
        security_schemes={"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},  # type: ignore[dict-item]
        security=[{"bearerAuth": []}],
    )
    return app
