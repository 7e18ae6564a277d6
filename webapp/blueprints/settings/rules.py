"""Settings → Alerts → Rules (placeholder until its issue lands)."""
from flask import render_template
from flask_login import login_required

from webapp.blueprints.settings import bp


@bp.route("/alerts/rules")
@login_required
def rules():
    return render_template("placeholder.html", title="Rules",
                           message="This page arrives with its issue; nothing to configure yet.")
