"""/api/v1/runs and /api/v1/jobs: jobs report runs; alerts are sent after the commit."""
import logging

from flask import current_app, jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import keyset_page
from webapp.blueprints.api.validation import json_body
from webapp.database import serialised_writes
from webapp.errors import ApiError
from webapp.extensions import db
from webapp.models import RUN_STATUSES, Job, Run
from webapp.services import ingest
from webapp.services import jobs as jobs_service
from webapp.tenancy import current_user_id, current_workspace_id, get_or_404, scoped
from webapp.timeutil import isoformat

log = logging.getLogger(__name__)


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
    data = json_body(ingest.REPORT_FIELDS)
    with serialised_writes():  # on SQLite this process's threads queue here, not in the busy handler
        reported = ingest.report_run(
            current_workspace_id(), data, user_id=current_user_id(), client_ip=request.remote_addr)
        body = run_json(reported.run, reported.job_slug)  # before the commit, which expires a run in the session
        db.session.commit()
    _send_first_attempts(reported.delivery_ids)
    return jsonify(body), 201 if reported.created else 200


@bp.post("/runs/<run_id>/finish")
def finish_run(run_id):
    run = get_or_404(Run, run_id)
    data = json_body(ingest.FINISH_FIELDS)
    with serialised_writes():
        delivery_ids = ingest.finish_run(run, data)
        db.session.commit()
    _send_first_attempts(delivery_ids)
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


@bp.get("/jobs")
def list_jobs():
    return jsonify(keyset_page(scoped(Job), Job, _jobs_json))


def _jobs_json(jobs: list[Job]) -> list[dict]:
    statuses = jobs_service.last_run_statuses([job.id for job in jobs])
    return [{"id": job.id, "slug": job.slug, "name": job.name,
             "default_deadline_seconds": job.default_deadline_seconds,
             "last_run_status": statuses.get(job.id), "created_at": isoformat(job.created_at)}
            for job in jobs]


def _send_first_attempts(delivery_ids: list[int]) -> None:
    """Hand new deliveries to the in-process pool; the response never waits for the sends.
    Deliveries that are not submitted stay pending, and the retry sweep picks them up."""
    if not delivery_ids:
        return
    try:
        from webapp.services import dispatch
    except ImportError:
        log.warning("no dispatch module: %d deliveries wait for the retry sweep", len(delivery_ids))
        return
    try:
        dispatch.submit(current_app._get_current_object(), delivery_ids)
    except Exception:
        log.exception("could not submit deliveries %s; the retry sweep will send them", delivery_ids)
