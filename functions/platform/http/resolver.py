"""Powertools' resolver, as the functions use it: routing, request validation and the OpenAPI
document from Powertools; every failure answered through the one error table (failures.py); every
route also recorded in the project's own route table (routes.py)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from ..errors import ApiError, NotFound
from .failures import contract_error
from .responses import dumps, error_response
from .routes import RouteTable

F = TypeVar("F", bound=Callable[..., Any])


def loads(text: str) -> Any:
    """json.loads, where a body nested too deep or a number too long is invalid JSON (a 400), not a crash."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError) as exc:  # e.g. 30,000 nested '[' or a 5,000-digit integer
        raise json.JSONDecodeError(f"unparseable body ({type(exc).__name__})", "", 0) from None


def _build_dependency_trees_once() -> None:
    """Powertools rebuilds a route's Depends() tree on every request: get_type_hints() evaluates
    every string annotation again (about 40-80 us a request here, make bench). The tree depends
    only on the function, so it is built once per function."""
    from aws_lambda_powertools.event_handler import depends

    if not getattr(depends.build_dependency_tree, "cache_info", None):
        depends.build_dependency_tree = functools.lru_cache(maxsize=None)(depends.build_dependency_tree)


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
    """A resolver whose every failure is answered in the contract's error shape."""
    _build_dependency_trees_once()
    app = ContractResolver(enable_validation=True, serializer=dumps, json_body_deserializer=loads)
    app.configure_openapi(
        title=title,
        version="1.0.0",
        openapi_version="3.1.0",
        # (ignore: Powertools annotates its scheme models, and validates a plain dict into one)
        security_schemes={"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},  # type: ignore[dict-item]
        security=[{"bearerAuth": []}],
    )

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]  # Powertools leaves it unannotated
    def _failed(exc: Exception) -> Response[str]:
        return error_response(contract_error(exc, app.current_event.http_method))

    @app.not_found
    def _not_found(_exc: NotFoundError) -> Response[str]:
        # Only reached if the resolver's own matching disagrees with the table's (the entry checks first).
        try:
            app.table.find(app.current_event.http_method, app.current_event.path)
            err: ApiError = NotFound("No such endpoint.")
        except ApiError as refused:
            err = refused
        return error_response(contract_error(err, app.current_event.http_method))

    return app
