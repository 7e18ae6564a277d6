"""What each API key scope may call, checked once per request where the API authenticates the
key (`webapp/blueprints/api/__init__.py`), never view by view: a route added later is `full`
only until someone puts it on the `ingest` list on purpose."""
from webapp.errors import ApiError

# A cron host's key: report a run, finish it, read runs back, and check the key with /me.
INGEST_ENDPOINTS = frozenset({"api.report_run", "api.finish_run", "api.show_run", "api.list_runs", "api.me"})
SCOPE_ENDPOINTS = {"ingest": INGEST_ENDPOINTS}  # a scope not listed here (`full`) may call every route
# The same routes as the OpenAPI document names them (tests/accounts/test_api_key_scopes.py holds
# the two lists to the URL map).
INGEST_OPERATIONS = frozenset({("post", "/runs"), ("post", "/runs/{run_id}/finish"), ("get", "/runs/{run_id}"),
                               ("get", "/runs"), ("get", "/me")})


def require_scope(scope: str, endpoint: str | None) -> None:
    """Raise 403 `insufficient_scope` when a key of `scope` may not call `endpoint`. No endpoint
    (an unknown path or method) is let through to answer its own 404 or 405."""
    allowed = SCOPE_ENDPOINTS.get(scope)
    if allowed is None or endpoint is None or endpoint in allowed:
        return
    raise ApiError(403, "insufficient_scope",
                   f"This API key has scope {scope}, which only reports, finishes and reads runs: "
                   "this request needs an API key with scope full (Settings → API keys).")
