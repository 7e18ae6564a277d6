"""Settings → Audit log: who did what in this workspace, newest first."""
from flask import render_template
from flask_login import login_required

from webapp.blueprints.navigation import page_number
from webapp.blueprints.settings import bp
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.tenancy import scoped

EVENTS_PER_PAGE = 50


@bp.route("/audit-log")
@login_required
def audit_log():
    page = db.paginate(scoped(AuditEvent).order_by(AuditEvent.id.desc()),
                       page=page_number(), per_page=EVENTS_PER_PAGE, error_out=False)
    return render_template("settings/audit_log.html", page=page)
