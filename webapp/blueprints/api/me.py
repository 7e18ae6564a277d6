from flask import g, jsonify

from webapp.blueprints.api import bp
from webapp.extensions import db
from webapp.models import Workspace
from webapp.tenancy import current_workspace_id


@bp.get("/me")
def me():
    workspace = db.session.get(Workspace, current_workspace_id())
    return jsonify({"workspace": {"id": workspace.id, "name": workspace.name}, "scope": g.api_key_scope})
