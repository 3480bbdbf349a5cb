"""CORS as the Function URL applies it (AWS answers preflights and adds the headers; the function
never does). The dev server emulates it from the same settings: the origins of CORS_ALLOW_ORIGINS
and the methods/headers of draft_session's FunctionUrlConfig in template.yaml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

CORS_FUNCTIONS = ("draft_session",)  # the admin functions are called with curl, not from browsers


@dataclass(frozen=True)
class CorsPolicy:
    origins: tuple[str, ...]
    methods: tuple[str, ...] = ("GET", "POST", "PATCH", "DELETE")
    headers: tuple[str, ...] = ("authorization", "content-type")
    expose: tuple[str, ...] = ("location", "retry-after")
    max_age: int = 600
    functions: tuple[str, ...] = field(default=CORS_FUNCTIONS)

    @classmethod
    def from_environment(cls) -> "CorsPolicy":
        raw = os.environ.get("CORS_ALLOW_ORIGINS", "")
        return cls(origins=tuple(o.strip() for o in raw.split(",") if o.strip()))

    def _allowed(self, function: str, origin: str | None) -> bool:
        return bool(origin) and function in self.functions and ("*" in self.origins or origin in self.origins)

    def headers_for(self, function: str, origin: str | None) -> dict[str, str]:
        """The headers an actual (non-preflight) response gets: one Allow-Origin, never two."""
        if not self._allowed(function, origin):
            return {}
        return {"Access-Control-Allow-Origin": "*" if "*" in self.origins else origin,
                "Access-Control-Expose-Headers": ", ".join(self.expose), "Vary": "Origin"}

    def preflight_headers(self, function: str, origin: str) -> dict[str, str]:
        return {**self.headers_for(function, origin),
                "Access-Control-Allow-Methods": ", ".join(self.methods),
                "Access-Control-Allow-Headers": ", ".join(self.headers),
                "Access-Control-Max-Age": str(self.max_age)}
