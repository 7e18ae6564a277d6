"""Alerts list (built out by the rules issue)."""
from flask import render_template
from flask_login import login_required

from webapp.blueprints.dashboard import bp


@bp.route("/alerts")
@login_required
def alerts():
    return render_template("placeholder.html", title="Alerts",
                           message="Alerts raised by your rules will be listed here.")
