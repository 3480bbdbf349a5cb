"""CORS as the Function URL applies it (AWS answers preflights and adds the headers; the function
never does). The dev server emulates it from the same settings: one place for the CORS config,
template.yaml's FunctionUrlConfig Cors (methods, headers, exposed headers, max age, and which
functions have it at all), with the origins of CORS_ALLOW_ORIGINS (the template's
`CorsAllowOrigins` parameter)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


def _load_template(path: Path) -> dict:
    """template.yaml as data; CloudFormation's short tags (!Ref X) become their plain values."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader, _suffix, node):
        if isinstance(node, yaml.ScalarNode):
            return loader.construct_scalar(node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)

    Loader.add_multi_constructor("!", tagged)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 - SafeLoader subclass


def function_url_cors(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """{function name: its FunctionUrlConfig Cors block} for every function of the template that has one."""
    resources = _load_template(path).get("Resources", {})
    found = {}
    for resource in resources.values():
        props = resource.get("Properties") or {}
        cors = (props.get("FunctionUrlConfig") or {}).get("Cors")
        if resource.get("Type") == "AWS::Serverless::Function" and cors:
            found[props["Handler"].split(".")[1]] = cors  # functions.<name>.app.handler
    return found


def _lower(values: Optional[list]) -> tuple[str, ...]:
    return tuple(str(v).lower() for v in values or ())


@dataclass(frozen=True)
class CorsPolicy:
    origins: tuple[str, ...]
    functions: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...]
    expose: tuple[str, ...]
    max_age: int
    credentials: bool = False

    @classmethod
    def from_template(cls, origins: tuple[str, ...], path: Path = TEMPLATE) -> CorsPolicy:
        blocks = function_url_cors(path)
        if len(blocks) != 1:
            raise ValueError(f"expected one function with a Cors block in {path.name}, found {sorted(blocks)}")
        (name, cors), = blocks.items()
        return cls(origins=origins, functions=(name,), methods=tuple(str(m).upper() for m in cors["AllowMethods"]),
                   headers=_lower(cors.get("AllowHeaders")), expose=_lower(cors.get("ExposeHeaders")),
                   max_age=int(cors.get("MaxAge", 0)), credentials=bool(cors.get("AllowCredentials", False)))

    @classmethod
    def from_environment(cls) -> CorsPolicy:
        raw = os.environ.get("CORS_ALLOW_ORIGINS", "")
        return cls.from_template(tuple(o.strip() for o in raw.split(",") if o.strip()))

    def _allowed(self, function: str, origin: str | None) -> bool:
        return bool(origin) and function in self.functions and ("*" in self.origins or origin in self.origins)

    def headers_for(self, function: str, origin: str | None) -> dict[str, str]:
        """The headers an actual (non-preflight) response gets: one Allow-Origin, never two."""
        if not self._allowed(function, origin):
            return {}
        headers = {"Access-Control-Allow-Origin": "*" if "*" in self.origins else origin, "Vary": "Origin"}
        if self.expose:
            headers["Access-Control-Expose-Headers"] = ", ".join(self.expose)
        if self.credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return headers

    def preflight_headers(self, function: str, origin: str) -> dict[str, str]:
        headers = {**self.headers_for(function, origin), "Access-Control-Allow-Methods": ", ".join(self.methods),
                   "Access-Control-Allow-Headers": ", ".join(self.headers)}
        if self.max_age:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        return headers
