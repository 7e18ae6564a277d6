"""Settings → Audit log, newest first."""
from flask import render_template, request
from flask_login import login_required

from webapp.blueprints.settings import bp
from webapp.extensions import db
from webapp.models import AuditEvent
from webapp.tenancy import scoped


@bp.route("/audit-log")
@login_required
def audit_log():
    page = db.paginate(scoped(AuditEvent).order_by(AuditEvent.id.desc()),
                       page=request.args.get("page", 1, type=int), per_page=50, error_out=False)
    return render_template("settings/audit_log.html", page=page)
