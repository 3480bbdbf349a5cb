"""Validation errors (pydantic's) as the contract's details: one per field, each with a stable machine `code` a
front end can translate, a `message` a person can act on ("at most 500 characters"), and the
`limit` where one applies. Never pydantic's own wording ("String should match pattern '^[^@...'")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Patterns of the wire models that mean something to a person (functions/draft_session/models.py).
EMAIL = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
LANGUAGE = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$"
NO_NUL = r"^[^\x00]*$"
PATTERNS = {
    EMAIL: ("not_email", "must be an email address"),
    LANGUAGE: ("not_language_tag", "must be a language tag such as ru or en-US"),
    NO_NUL: ("nul_character", "must not contain the NUL character"),
}
TYPES = {
    "string_type": ("not_string", "must be text"),
    "int_type": ("not_integer", "must be a whole number"),
    "int_parsing": ("not_integer", "must be a whole number"),
    "int_from_float": ("not_integer", "must be a whole number"),
    "bool_type": ("not_boolean", "must be true or false"),
    "bool_parsing": ("not_boolean", "must be true or false"),
    "list_type": ("not_list", "must be a list"),
    "model_type": ("not_object", "must be an object"),
    "model_attributes_type": ("not_object", "must be an object"),
    "dict_type": ("not_object", "must be an object"),
    "uuid_parsing": ("not_uuid", "must be a UUID"),
    "uuid_type": ("not_uuid", "must be a UUID"),
    "extra_forbidden": ("unknown_field", "is not a field of this request"),
    "missing": ("required", "is required"),
}


def field_path(loc: tuple[int | str, ...]) -> str:
    # ("body", "formData", "estimatedLessons") -> "formData.estimatedLessons"
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "query", "path") else [str(p) for p in loc]
    return ".".join(parts) or str(loc[0] if loc else "body")


def detail(err: Mapping[str, Any]) -> dict[str, Any]:
    """One pydantic error as {"field", "code", "message"[, "limit"]}."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    out: dict[str, Any] = {"field": field_path(tuple(err.get("loc") or ()))}
    if kind == "string_too_long":
        out.update(code="too_long", message=f"at most {ctx['max_length']} characters", limit=ctx["max_length"])
    elif kind == "string_too_short":
        out.update(code="too_short", message=f"at least {ctx['min_length']} characters", limit=ctx["min_length"])
    elif kind == "too_long":
        out.update(code="too_many_items", message=f"at most {ctx['max_length']} items", limit=ctx["max_length"])
    elif kind == "too_short":
        out.update(code="too_few_items", message=f"at least {ctx['min_length']} items", limit=ctx["min_length"])
    elif kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        out.update(code="too_small", message=f"must be at least {bound}" if "ge" in ctx else f"must be more than {bound}",
                   limit=bound)
    elif kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        out.update(code="too_large", message=f"must be at most {bound}" if "le" in ctx else f"must be less than {bound}",
                   limit=bound)
    elif kind == "literal_error":
        out.update(code="invalid_choice", message=f"must be one of {ctx.get('expected', 'the listed values')}")
    elif kind == "string_pattern_mismatch":
        code, message = PATTERNS.get(ctx.get("pattern", ""), ("invalid_format", "is not in the expected format"))
        out.update(code=code, message=message)
    elif kind in TYPES:
        code, message = TYPES[kind]
        out.update(code=code, message=message)
    else:
        out.update(code="invalid", message="is not a valid value")
    return out
