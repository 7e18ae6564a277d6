"""/api/v1/jobs: list (searchable with `q`), create (before a first run), read, change a job's
name, schedule, grace and pause, and delete it with its runs and alerts. One serialiser for list
and detail."""
from flask import jsonify, request

from webapp.blueprints.api import bp
from webapp.blueprints.api.pagination import keyset_page
from webapp.blueprints.api.validation import json_body
from webapp.errors import ApiError, json_error
from webapp.models import Job
from webapp.services.alerting import job_deletion, job_list, job_runs, job_status
from webapp.services.alerting import jobs as job_service
from webapp.tenancy import current_user_id, current_workspace_id, scoped
from webapp.timeutil import isoformat, utcnow


@bp.errorhandler(job_service.InvalidJob)
def invalid_job(error: job_service.InvalidJob):
    return json_error(400, "validation_error", "The job is not valid; see `fields`.", error.fields)


@bp.errorhandler(job_service.JobExists)
def job_exists(error: job_service.JobExists):
    return json_error(409, "conflict", str(error))


@bp.errorhandler(job_deletion.JobInUse)
def job_in_use(error: job_deletion.JobInUse):
    return json_error(409, "conflict", str(error))


def jobs_json(jobs: list[Job]) -> list[dict]:
    """Jobs as the API shows them, with their status and last run's state (one read of recent runs)."""
    now = utcnow()
    recent = job_runs.recent_runs([job.id for job in jobs])
    items = []
    for job in jobs:
        runs = recent.get(job.id, [])
        items.append({
            "id": job.id, "slug": job.slug, "name": job.name,
            "default_deadline_seconds": job.default_deadline_seconds,
            "schedule": job.schedule, "grace_seconds": job.grace_seconds, "is_paused": job.is_paused,
            "status": job_status.job_status(job, runs, now),
            "next_expected_at": isoformat(job_status.next_expected_at(job)),
            "last_run_status": job_runs.run_state(runs[-1], now) if runs else None,
            "created_at": isoformat(job.created_at),
        })
    return items


def _actor() -> dict:
    return {"user_id": current_user_id(), "client_ip": request.remote_addr}


def _job_or_404(slug: str) -> Job:
    job = job_service.job_by_slug(current_workspace_id(), slug)
    if job is None:
        raise ApiError(404, "not_found", f"No job {slug!r} in this workspace.")
    return job


@bp.get("/jobs")
def list_jobs():
    statement = scoped(Job)
    if query := job_list.search_text(request.args.get("q")):
        statement = statement.where(job_list.matching(query))
    return jsonify(keyset_page(statement, Job, jobs_json))


@bp.post("/jobs")
def create_job():
    job = job_service.create_job(current_workspace_id(), json_body(job_service.CREATE_FIELDS), **_actor())
    return jsonify(jobs_json([job])[0]), 201


@bp.get("/jobs/<slug>")
def get_job(slug):
    return jsonify(jobs_json([_job_or_404(slug)])[0])


@bp.patch("/jobs/<slug>")
def update_job(slug):
    job = _job_or_404(slug)
    job_service.update_job(job, json_body(job_service.UPDATE_FIELDS), **_actor())
    return jsonify(jobs_json([job])[0])


@bp.delete("/jobs/<slug>")
def delete_job(slug):
    job_deletion.delete_job(_job_or_404(slug), **_actor())
    return "", 204
