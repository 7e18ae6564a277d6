"""Settings → Alerts → Endpoints (placeholder until its issue lands)."""
from flask import render_template
from flask_login import login_required

from webapp.blueprints.settings import bp


@bp.route("/alerts/endpoints")
@login_required
def endpoints():
    return render_template("placeholder.html", title="Endpoints",
                           message="This page arrives with its issue; nothing to configure yet.")
