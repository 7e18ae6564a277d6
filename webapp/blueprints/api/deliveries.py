"""/api/v1/deliveries (filled in by its issue)."""
from webapp.blueprints.api import bp  # noqa: F401
