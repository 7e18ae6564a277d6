from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from webapp.blueprints.dashboard import alerts, jobs, metrics, routes  # noqa: E402,F401
