"""/api/v1/endpoints (filled in by its issue)."""
from webapp.blueprints.api import bp  # noqa: F401
