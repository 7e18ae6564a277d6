"""Reading JSON request bodies for the API: one place that turns bad input into a 400."""
from flask import request

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
    if allowed is not None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ApiError(400, "validation_error", "Unknown fields in the body.",
                           {name: "Unknown field." for name in unknown})
    return data


def page_limit(default: int = 50, maximum: int = 200) -> int:
    raw = request.args.get("limit", default)
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, "invalid_filter", "limit must be a whole number.", {"limit": "Not a number."}) from None
    if not 1 <= limit <= maximum:
        raise ApiError(400, "invalid_filter", f"limit must be between 1 and {maximum}.",
                       {"limit": f"Between 1 and {maximum}."})
    return limit
