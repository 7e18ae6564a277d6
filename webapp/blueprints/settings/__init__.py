from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")

from webapp.blueprints.settings import (  # noqa: E402,F401,E501
    account,
    api_keys,
    audit_log,
    deliveries,
    endpoints,
    invites,
    landing,
    members,
    rules,
    silences,
)
