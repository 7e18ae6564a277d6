"""Settings itself: a page that lists the settings pages, and the Alerts section's address,
which opens its first tab (Endpoints). Both addresses existed before they were pages, so
bookmarks of `/settings` and `/settings/alerts` keep working."""
from flask import redirect, render_template, url_for
from flask_login import login_required

from webapp.blueprints.settings import bp


@bp.route("")
@login_required
def index():
    return render_template("settings/index.html")


@bp.route("/alerts")
@login_required
def alerts():
    return redirect(url_for("settings.endpoints"))
