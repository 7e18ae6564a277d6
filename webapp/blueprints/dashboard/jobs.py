"""Jobs pages (built out by the rules issue)."""
from flask import render_template
from flask_login import login_required

from webapp.blueprints.dashboard import bp


@bp.route("/jobs")
@login_required
def jobs():
    return render_template("placeholder.html", title="Jobs",
                           message="Jobs appear here once they report runs through the API.")
