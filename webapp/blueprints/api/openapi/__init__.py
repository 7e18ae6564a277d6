"""The OpenAPI 3.1 document of /api/v1, served at `GET /api/v1/openapi.json` without an API key
(it holds no data). Built from Python so that limits and choices come from the services that
enforce them; `python -m webapp.blueprints.api.openapi --markdown` renders docs/api.md from it."""
from functools import cache

from flask import jsonify

from webapp.blueprints.api import bp
from webapp.blueprints.api.openapi.components import SCHEMAS
from webapp.blueprints.api.openapi.operations import PATHS
from webapp.version import __version__

DESCRIPTION = ("Tocsin's JSON API. Authenticate with `Authorization: Bearer <API key>` (Settings → API keys). "
               "Every list answers `{\"items\": [...], \"next_cursor\": \"…\" | null}` and takes `limit` and "
               "`cursor`; every error answers `{\"error\": {\"code\", \"message\", \"fields\"?}}`.")


@cache
def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tocsin API", "version": __version__, "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in ("Runs", "Jobs", "Rules", "Endpoints", "Alerts", "Silences", "Deliveries",
                                              "Workspace")],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "An API key (tk_…) from Settings → API keys."}},
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(document())


# == scopes ==
DESCRIPTION += (" Every key has a scope: `ingest` keys (what a cron host needs) may only report, finish and read "
                "runs and read `GET /me`; `full` keys may call everything. Outside its scope a request answers "
                "403 with code `insufficient_scope`.")
