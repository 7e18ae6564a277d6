"""Overview page and the health check."""
import sqlalchemy as sa
from flask import jsonify, redirect, render_template, url_for
from flask_login import current_user, login_required

from webapp.blueprints.dashboard import bp
from webapp.blueprints.run_snippets import report_snippets
from webapp.extensions import db
from webapp.services import first_run, overview
from webapp.services.alerting import job_runs, system_events
from webapp.services.delivery.jobs import scheduler_age_seconds
from webapp.templating import reader_zone
from webapp.tenancy import current_workspace_id

# Every page that explains how to report a run (overview, Jobs, API keys) renders the same snippets.
bp.add_app_template_global(report_snippets)


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.overview"))
    return redirect(url_for("auth.login"))


@bp.route("/overview", endpoint="overview")
@login_required
def overview_page():
    workspace_id = current_workspace_id()
    checklist = first_run.checklist(workspace_id)
    return render_template(
        "dashboard/overview.html", checklist=checklist,
        test_endpoint=None if checklist.complete else first_run.first_endpoint(workspace_id),
        summary=overview.summary(workspace_id),
        chart=overview.stacked_bars(overview.deliveries_per_hour(workspace_id, reader_zone().zone)),
        endpoint_stats=overview.endpoint_stats(workspace_id),
        near_deadline=overview.runs_near_deadline(workspace_id), run_state=job_runs.run_state,
        system_events_cta=not system_events.has_system_rule(workspace_id),
    )


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    age = scheduler_age_seconds()
    return jsonify({"status": "ok", "database": "ok",
                    "scheduler_age_seconds": None if age is None else round(age, 1)})
