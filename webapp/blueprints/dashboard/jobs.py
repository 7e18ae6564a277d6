"""Jobs pages: every job with its recent runs, and one job's run history and alerts."""
from flask import abort, current_app, render_template, request
from flask_login import login_required

from webapp.blueprints.dashboard import bp
from webapp.extensions import db
from webapp.models import Job
from webapp.services.alerting import job_runs as jobs_service
from webapp.services.alerting.raising import format_duration
from webapp.tenancy import scoped

JOBS_PER_PAGE = 50
RUNS_PER_PAGE = 50


@bp.route("/jobs")
@login_required
def jobs():
    page = db.paginate(scoped(Job).order_by(Job.slug), page=request.args.get("page", 1, type=int),
                       per_page=JOBS_PER_PAGE, error_out=False)
    return render_template("dashboard/jobs.html", page=page, rows=jobs_service.summaries(list(page.items)),
                           run_state=jobs_service.run_state, format_duration=format_duration,
                           base_url=current_app.config["TOCSIN_BASE_URL"])


@bp.route("/jobs/<slug>")
@login_required
def job_detail(slug):
    job = db.session.scalar(scoped(Job).where(Job.slug == slug))
    if job is None:
        abort(404)
    runs = db.paginate(jobs_service.runs_of(job), page=request.args.get("page", 1, type=int),
                       per_page=RUNS_PER_PAGE, error_out=False)
    return render_template("dashboard/job_detail.html", job=job, runs=runs,
                           alerts=jobs_service.alerts_of(job), run_state=jobs_service.run_state,
                           format_duration=format_duration)
