"""/api/v1/runs: jobs report runs; alerts are sent after the service's commit (jobs: `jobs.py`)."""
from flask import current_app, jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import keyset_page
from webapp.blueprints.api.validation import json_body
from webapp.errors import ApiError, json_error
from webapp.models import RUN_STATUSES, Job, Run
from webapp.services.alerting import ingest
from webapp.services.alerting.report_validation import FINISH_FIELDS, REPORT_FIELDS, InvalidReport
from webapp.services.delivery import pool
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404, scoped
from webapp.timeutil import isoformat


@bp.errorhandler(InvalidReport)
def invalid_report(error: InvalidReport):
    return json_error(400, "validation_error", error.message, error.fields)


@bp.errorhandler(ingest.RunAlreadyFinished)
def run_already_finished(error: ingest.RunAlreadyFinished):
    return json_error(409, "conflict", str(error))


def run_json(run: Run, job_slug: str | None = None) -> dict:
    """A run as the API shows it; `job_slug` saves loading the job (a new run outside the session)."""
    return {
        "id": run.id, "job": job_slug or run.job.slug, "external_id": run.external_id, "status": run.status,
        "started_at": isoformat(run.started_at), "deadline_at": isoformat(run.deadline_at),
        "finished_at": isoformat(run.finished_at), "timed_out_at": isoformat(run.timed_out_at),
        "duration_ms": run.duration_ms, "message": run.message, "metadata": run.run_metadata,
        "created_at": isoformat(run.created_at),
    }


@bp.post("/runs")
def report_run():
    data = json_body(REPORT_FIELDS)
    reported = ingest.report_run(current_workspace_id(), data, user_id=current_user_id(),
                                 client_ip=request.remote_addr)
    pool.send_after_commit(current_app._get_current_object(), reported.delivery_ids, current_workspace_id())
    return jsonify(run_json(reported.run, reported.job_slug)), 201 if reported.created else 200


@bp.post("/runs/<run_id>/finish")
def finish_run(run_id):
    run = get_or_404(Run, run_id)
    delivery_ids = ingest.finish_run(run, json_body(FINISH_FIELDS))
    pool.send_after_commit(current_app._get_current_object(), delivery_ids, current_workspace_id())
    return jsonify(run_json(run))


@bp.get("/runs/<run_id>")
def show_run(run_id):
    return jsonify(run_json(get_or_404(Run, run_id)))


@bp.get("/runs")
def list_runs():
    statement = scoped(Run)
    if slug := request.args.get("job"):
        statement = statement.join(Job, Job.id == Run.job_id).where(Job.slug == slug.lower())
    if status := request.args.get("status"):
        if status not in RUN_STATUSES:
            raise ApiError(400, "invalid_filter", f"Unknown status {status!r}.",
                           {"status": "One of: " + ", ".join(RUN_STATUSES) + "."})
        statement = statement.where(Run.status == status)
    return jsonify(keyset_page(statement, Run, lambda runs: [run_json(run) for run in runs]))
