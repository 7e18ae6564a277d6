"""Settings → Alerts → Deliveries (placeholder until its issue lands)."""
from flask import render_template
from flask_login import login_required

from webapp.blueprints.settings import bp


@bp.route("/alerts/deliveries")
@login_required
def deliveries():
    return render_template("placeholder.html", title="Deliveries",
                           message="This page arrives with its issue; nothing to configure yet.")
