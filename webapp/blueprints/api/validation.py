"""Reading JSON request bodies for the API: one place that turns bad input into a 400."""
from flask import request

from webapp import validators
from webapp.errors import ApiError


def json_body(allowed: set[str] | None = None, *, required: bool = True) -> dict:
    """The request's JSON object; unknown fields, non-JSON or a non-object body → ApiError.
    The body was read, and its size and time bounded, before the request began
    (webapp/request_bodies.py)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise ApiError(400, "invalid_json", "The body is empty; send a JSON object.")
        return {}
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.")
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # thousands of nested brackets: bad input, not a server error
        data = None
    if data is None:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object.")
    problems = validators.json_problems(data)
    if problems:
        raise ApiError(400, "validation_error", "Some values cannot be stored; see `fields`.", problems)
    if allowed is not None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ApiError(400, "validation_error", "Unknown fields in the body.",
                           {name: "Unknown field." for name in unknown})
    return data


def query_number(name: str, *, default: int | None = None, minimum: int = 0,
                 maximum: int = validators.MAX_INTEGER) -> int | None:
    """A whole-number query argument within [minimum, maximum] (`default` when absent); 400
    `invalid_filter` naming it otherwise. The one parser of numbers in query strings."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    try:
        return validators.whole_number(raw, minimum=minimum, maximum=maximum)
    except ValueError as error:
        raise ApiError(400, "invalid_filter", f"{name} {error}.", {name: f"Must be a whole number from {minimum} "
                                                                        f"to {maximum}."}) from None


def query_id(name: str) -> int | None:
    """An id in a query argument (a row's id: 1 … validators.MAX_ID), or None when absent."""
    return query_number(name, minimum=1, maximum=validators.MAX_ID)


def page_limit(default: int = 50, maximum: int = 200) -> int:
    return query_number("limit", default=default, minimum=1, maximum=maximum)
