from flask import Blueprint

bp = Blueprint("auth", __name__)

from webapp.blueprints.auth import invites, routes  # noqa: E402,F401
