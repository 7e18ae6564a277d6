"""/api/v1/alerts (filled in by its issue)."""
from webapp.blueprints.api import bp  # noqa: F401
