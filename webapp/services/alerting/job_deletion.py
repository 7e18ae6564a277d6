"""Deleting a job, shared by the job page and `DELETE /api/v1/jobs/<slug>`.

A job goes with its runs and its alerts (and their delivery history), so no alert is left
pointing at a run that no longer exists. It is refused while one of its alerts is firing, or
while a notice about one is still being sent: deleting then would drop the alert without its
resolution ever reaching the receivers. A later run report of the same slug creates the job
anew (as a first report does). Audited; committed here.
"""
from contextlib import nullcontext
from dataclasses import dataclass

import sqlalchemy as sa

from webapp.database import serialised_writes
from webapp.extensions import db
from webapp.models import Alert, Delivery, DeliveryAttempt, Job, Run
from webapp.services import audit

IN_FLIGHT = ("pending", "sending")


class JobInUse(Exception):
    """The job has firing alerts or deliveries in flight (the API answers 409 `conflict`)."""


@dataclass(frozen=True)
class Deletion:
    """What deleting a job removes, and what stops it (for the confirm page and the refusal)."""

    runs: int
    alerts: int
    firing_alerts: int
    deliveries: int
    deliveries_in_flight: int

    @property
    def allowed(self) -> bool:
        return not (self.firing_alerts or self.deliveries_in_flight)

    def words(self) -> str:
        """"3 runs and 1 alert": what went with the job."""
        return f"{_count(self.runs, 'run')} and {_count(self.alerts, 'alert')}"

    def refusal(self) -> str:
        reasons = []
        if self.firing_alerts:
            reasons.append(f"{_count(self.firing_alerts, 'alert')} still firing (resolve {_them(self.firing_alerts)} first)")
        if self.deliveries_in_flight:
            reasons.append(f"{_count(self.deliveries_in_flight, 'delivery', 'deliveries')} of its alerts still "
                           "being sent (wait until they are delivered or dead)")
        return "The job cannot be deleted: " + "; ".join(reasons) + "."


def _count(number: int, word: str, plural: str | None = None) -> str:
    return f"{number} {word if number == 1 else plural or word + 's'}"


def _them(number: int) -> str:
    return "it" if number == 1 else "them"


def _alerts_of(job: Job) -> sa.Select:
    """Ids of the job's alerts, and of any alert raised for one of its runs."""
    run_ids = sa.select(Run.id).where(Run.job_id == job.id)
    return sa.select(Alert.id).where(Alert.workspace_id == job.workspace_id,
                                     sa.or_(Alert.job_id == job.id, Alert.run_id.in_(run_ids)))


def _count_of(statement: sa.Select) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery())) or 0


def deletion(job: Job) -> Deletion:
    """Counts of what deleting `job` would remove (a handful of COUNT queries)."""
    alert_ids = _alerts_of(job)
    deliveries = sa.select(Delivery.id).where(Delivery.alert_id.in_(alert_ids))
    return Deletion(
        runs=_count_of(sa.select(Run.id).where(Run.job_id == job.id)),
        alerts=_count_of(alert_ids),
        firing_alerts=_count_of(alert_ids.where(Alert.state == "firing")),
        deliveries=_count_of(deliveries),
        deliveries_in_flight=_count_of(deliveries.where(Delivery.status.in_(IN_FLIGHT))),
    )


def delete_job(job: Job, *, user_id: int | None = None, client_ip: str | None = None,
               commit: bool = True) -> Deletion:
    """Delete the job, its runs, its alerts and their deliveries; raises JobInUse (nothing
    deleted) while an alert fires or a delivery is in flight. Returns what was removed. Commits
    (unless `commit=False`: a configuration import, which holds `serialised_writes` itself and
    commits everything at once)."""
    with serialised_writes() if commit else nullcontext():  # on SQLite no report slips in between check and delete
        removed = deletion(job)
        if not removed.allowed:
            raise JobInUse(removed.refusal())
        slug, job_id, workspace_id = job.slug, job.id, job.workspace_id
        _delete_rows(job)
        audit.record(workspace_id=workspace_id, user_id=user_id, action="job.delete", object_type="job",
                     object_id=job_id, client_ip=client_ip,
                     summary=f"Job {slug} deleted with {removed.words()}")
        if commit:
            db.session.commit()
    return removed


def _delete_rows(job: Job) -> None:
    """Child rows first, by explicit statements: the result does not depend on the database's
    foreign-key cascades being switched on."""
    alert_ids = _alerts_of(job)
    delivery_ids = sa.select(Delivery.id).where(Delivery.alert_id.in_(alert_ids))
    for statement in (
        sa.delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(delivery_ids)),
        sa.delete(Delivery).where(Delivery.id.in_(delivery_ids)),
        sa.delete(Alert).where(Alert.id.in_(alert_ids)),
        sa.delete(Run).where(Run.job_id == job.id),
        sa.delete(Job).where(Job.id == job.id, Job.workspace_id == job.workspace_id),
    ):
        db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.expunge(job)  # gone: the commit must not try to refresh it
