"""Jobs pages: every job with its status and recent runs (down and late first, then in natural
order; searchable), and one job's strip of runs and missed slots, schedule, run history and
alerts, with its rename and schedule forms and its delete confirmation."""
import json

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.blueprints.dashboard import bp
from webapp.blueprints.dashboard.job_forms import NameForm, ScheduleForm
from webapp.blueprints.form_errors import show_errors
from webapp.blueprints.navigation import page_number
from webapp.blueprints.settings.forms import ConfirmForm
from webapp.extensions import db
from webapp.models import Job
from webapp.services.alerting import job_deletion, job_list, job_status
from webapp.services.alerting import job_runs as jobs_service
from webapp.services.alerting import jobs as job_service
from webapp.services.alerting.raising import format_duration
from webapp.services.alerting.schedule_words import preview, schedule_words
from webapp.tenancy import scoped
from webapp.timeutil import utcnow

JOBS_PER_PAGE = 50
RUNS_PER_PAGE = 50


def _preview(job: Job, now) -> str:
    return preview(job.schedule, job.grace_seconds, job.expected_at, job.missing_after, now, is_paused=job.is_paused)


def _strip_label(runs, now) -> str:
    """"Last 20 runs: 17 succeeded, 2 failed, 1 running" (and how many timed out, when any)."""
    states = [jobs_service.run_state(run, now) for run in runs]
    failed = sum(state in ("failed", "verification failed") for state in states)
    text = (f"Last {len(runs)} runs: {states.count('succeeded')} succeeded, {failed} failed, "
            f"{states.count('running')} running")
    return text + (f", {states.count('timed out')} timed out" if "timed out" in states else "")


def _helpers(now) -> dict:
    return {"strip_label": lambda runs: _strip_label(runs, now), "run_state": lambda run: jobs_service.run_state(run, now), "state_class": jobs_service.state_class,
            "format_duration": format_duration, "schedule_words": schedule_words, "now": now,
            "preview": lambda job: _preview(job, now)}


@bp.app_template_filter("metadata_json")
def metadata_json(value) -> str:
    """Run metadata as people read it (job page, alert page): indented, non-ASCII as itself and,
    unlike `tojson`, `<` as `<` (autoescaping makes it safe)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


@bp.route("/jobs")
@login_required
def jobs():
    now = utcnow()
    query = job_list.search_text(request.args.get("q"))
    statement = scoped(Job).where(job_list.matching(query)) if query else scoped(Job)
    page = job_list.ordered_page(statement, now, page_number(), JOBS_PER_PAGE)
    rows = [(row, job_status.job_status(row.job, row.recent, now)) for row in jobs_service.summaries(page.items)]
    return render_template("dashboard/jobs.html", page=page, rows=rows, query=query,
                           searchable=bool(query) or page.total > 0,
                           base_url=current_app.config["TOCSIN_BASE_URL"], **_helpers(now))


def _job_or_404(slug: str) -> Job:
    job = db.session.scalar(scoped(Job).where(Job.slug == slug))
    if job is None:
        abort(404)
    return job


def _render_detail(job: Job, form: ScheduleForm, name_form: NameForm | None = None):
    now = utcnow()
    runs = db.paginate(jobs_service.runs_of(job), page=page_number(),
                       per_page=RUNS_PER_PAGE, error_out=False)
    recent = jobs_service.recent_runs([job.id]).get(job.id, [])
    if name_form is None:
        name_form = NameForm(formdata=None, data={"name": job.name if job.name != job.slug else ""})
    return render_template("dashboard/job_detail.html", job=job, runs=runs, form=form, name_form=name_form,
                           status=job_status.job_status(job, recent, now),
                           strip=jobs_service.strip(job, recent, now), alerts=jobs_service.alerts_of(job),
                           **_helpers(now))


def _schedule_form(job: Job) -> ScheduleForm:
    form = ScheduleForm(formdata=None)
    form.fill_from(job)
    return form


@bp.route("/jobs/<slug>")
@login_required
def job_detail(slug):
    job = _job_or_404(slug)
    return _render_detail(job, _schedule_form(job))


@bp.route("/jobs/<slug>/schedule", methods=["POST"])
@login_required
def job_schedule(slug):
    job = _job_or_404(slug)
    form = ScheduleForm()
    if form.validate_on_submit():
        try:
            changed = job_service.update_job(job, form.service_input(), user_id=current_user.id,
                                             client_ip=request.remote_addr)
        except job_service.InvalidJob as error:  # refused before anything was changed
            show_errors(form, form.field_errors(error.fields))
        else:
            flash(f"Schedule saved: {_preview(job, utcnow())}." if changed else "Nothing changed.", "success")
            return redirect(url_for("dashboard.job_detail", slug=job.slug))
    return _render_detail(job, form)


@bp.route("/jobs/<slug>/name", methods=["POST"])
@login_required
def job_rename(slug):
    job = _job_or_404(slug)
    form = NameForm()
    if form.validate_on_submit():
        try:
            changed = job_service.update_job(job, form.service_input(), user_id=current_user.id,
                                             client_ip=request.remote_addr)
        except job_service.InvalidJob as error:
            show_errors(form, error.fields)
        else:
            flash(f"Job renamed to “{job.name}”." if changed else "Nothing changed.", "success")
            return redirect(url_for("dashboard.job_detail", slug=job.slug))
    return _render_detail(job, _schedule_form(job), form)


@bp.route("/jobs/<slug>/delete", methods=["GET", "POST"])
@login_required
def job_delete(slug):
    job = _job_or_404(slug)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = job.name
        try:
            removed = job_deletion.delete_job(job, user_id=current_user.id, client_ip=request.remote_addr)
        except job_deletion.JobInUse as error:
            flash(str(error), "error")
            return redirect(url_for("dashboard.job_delete", slug=slug))
        flash(f"Job “{name}” deleted with {removed.words()}.", "success")
        return redirect(url_for("dashboard.jobs"))
    return render_template("dashboard/job_delete.html", job=job, form=form,
                           deletion=job_deletion.deletion(job))
