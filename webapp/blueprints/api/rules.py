"""/api/v1/rules (filled in by its issue)."""
from webapp.blueprints.api import bp  # noqa: F401
