"""/api/v1/runs (filled in by its issue)."""
from webapp.blueprints.api import bp  # noqa: F401
