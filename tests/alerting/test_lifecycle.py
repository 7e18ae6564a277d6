"""The alert lifecycle end to end over real HTTP: a failure fires one alert (one `alert.fired`
POST), more failures are counted on it, the next success resolves it (one signed
`alert.resolved` POST), and `repeat_interval_seconds` repeats it until someone acknowledges it.
The repeat sweep is driven with its clock moved, never with sleeps."""
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from webapp.models import Alert, Delivery, Job, Run
from webapp.services.alerting import lifecycle, raising, sweeps
from webapp.services.delivery import pool
from webapp.timeutil import utcnow


@pytest.fixture
def app_config():
    """Room for every first attempt at once (the retry job, which sends the rest, does not run here)."""
    return {"TOCSIN_ENDPOINT_CONCURRENCY": 50, "TOCSIN_ENDPOINT_RATE": 1000}


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


@pytest.fixture
def hook(api, receiver) -> dict:
    """An endpoint on the loopback receiver: {"id", "secret"}."""
    response = api.post("/endpoints", json={"name": "Ops webhook", "url": receiver.url()})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_rule(api, hook, **fields) -> dict:
    body = {"name": "Nightly failures", "event": "run_failed", "severity": "critical",
            "endpoint_ids": [hook["id"]], "cooldown_seconds": 300, **fields}
    response = api.post("/rules", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def report(api, status, job="nightly-report", **fields):
    response = api.post("/runs", json={"job": job, "status": status, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def settle(db):
    assert pool.wait_idle(10)
    db.session.expire_all()


def alerts(db) -> list[Alert]:
    return db.session.scalars(sa.select(Alert).order_by(Alert.id)).unique().all()


def verified(request, hook) -> dict:
    return Webhook(hook["secret"]).verify(request.body, request.headers)


def test_failed_run_fires_one_alert_with_one_alert_fired_post(api, db, receiver, hook):
    make_rule(api, hook)
    report(api, "failed", message="exit code 3")

    [request] = receiver.wait_for(1)
    settle(db)
    [alert] = alerts(db)
    assert alert.state == "firing" and alert.resolved_at is None
    payload = verified(request, hook)
    assert payload["type"] == "alert.fired"
    assert request.headers["x-tocsin-event"] == "alert.fired"
    assert request.headers["x-tocsin-alert-type"] == "run_failed"
    assert payload["data"]["alert"]["state"] == "firing" and payload["data"]["alert"]["resolved_at"] is None
    assert len(receiver.requests) == 1


def test_more_failures_grow_the_firing_alerts_repeat_count_without_a_new_alert_or_post(api, db, receiver, hook):
    make_rule(api, hook)
    for _ in range(3):
        report(api, "failed")

    receiver.wait_for(1)
    settle(db)
    [alert] = alerts(db)
    assert (alert.state, alert.repeat_count) == ("firing", 3)
    assert len(receiver.requests) == 1


def test_next_success_resolves_the_alert_and_posts_exactly_one_signed_alert_resolved(api, db, receiver, hook):
    make_rule(api, hook)  # the workspace's only rule is a run_failed one: a success must still resolve
    report(api, "failed")
    report(api, "failed")
    receiver.wait_for(1)

    report(api, "succeeded", duration_ms=1200)
    [fired, resolved] = receiver.wait_for(2)
    report(api, "succeeded")  # nothing left to resolve
    settle(db)

    [alert] = alerts(db)
    assert alert.state == "resolved" and alert.resolved_at is not None and alert.resolved_by_id is None
    assert alert.next_repeat_at is None
    payload = verified(resolved, hook)
    assert payload["type"] == "alert.resolved"
    assert resolved.headers["x-tocsin-event"] == "alert.resolved"
    assert resolved.headers["x-tocsin-alert-type"] == "run_failed"
    assert payload["data"]["alert"]["id"] == str(alert.id) == verified(fired, hook)["data"]["alert"]["id"]
    assert payload["data"]["alert"]["state"] == "resolved"
    assert payload["data"]["alert"]["resolved_at"] is not None
    assert resolved.headers["webhook-id"] != fired.headers["webhook-id"]  # a delivery of its own
    assert len(receiver.requests) == 2
    events = [delivery.event for delivery in db.session.scalars(sa.select(Delivery).order_by(Delivery.id))]
    assert events == ["alert.fired", "alert.resolved"]


def test_a_failure_after_resolution_opens_a_new_alert_with_its_own_alert_fired(api, db, receiver, hook):
    make_rule(api, hook)  # cooldown 300 s: the new failure falls inside it, yet the resolved alert stays closed
    report(api, "failed")
    report(api, "succeeded")
    report(api, "failed")

    requests = receiver.wait_for(3)
    settle(db)
    first, second = alerts(db)
    assert (first.state, first.repeat_count) == ("resolved", 1)
    assert (second.state, second.repeat_count) == ("firing", 1)
    # Sent by parallel threads: the resolution and the new failure may arrive in either order.
    sent = sorted((verified(request, hook)["type"], verified(request, hook)["data"]["alert"]["id"])
                  for request in requests)
    assert sent == [("alert.fired", str(first.id)), ("alert.fired", str(second.id)),
                    ("alert.resolved", str(first.id))]


def test_cooldown_zero_opens_an_alert_per_failure_and_a_success_resolves_them_all(api, db, receiver, hook):
    make_rule(api, hook, cooldown_seconds=0)
    report(api, "failed")
    report(api, "failed")
    receiver.wait_for(2)
    report(api, "succeeded")

    requests = receiver.wait_for(4)
    settle(db)
    assert [alert.state for alert in alerts(db)] == ["resolved", "resolved"]
    assert sorted(verified(request, hook)["type"] for request in requests) == [
        "alert.fired", "alert.fired", "alert.resolved", "alert.resolved"]


def test_notify_on_resolve_false_resolves_without_a_post(api, db, receiver, hook):
    make_rule(api, hook, notify_on_resolve=False)
    report(api, "failed")
    receiver.wait_for(1)
    report(api, "succeeded")
    settle(db)

    assert [alert.state for alert in alerts(db)] == ["resolved"]
    assert len(receiver.requests) == 1


def test_a_success_resolves_only_its_own_jobs_alerts(api, db, receiver, hook):
    make_rule(api, hook)
    report(api, "failed", job="nightly-report")
    report(api, "failed", job="billing")
    receiver.wait_for(2)
    report(api, "succeeded", job="billing")
    receiver.wait_for(3)
    settle(db)

    states = {alert.job.slug: alert.state for alert in alerts(db)}
    assert states == {"nightly-report": "firing", "billing": "resolved"}


def test_a_run_under_the_slow_threshold_resolves_that_rules_slow_alert(api, db, receiver, hook):
    make_rule(api, hook, name="Slow", event="run_slow", threshold_seconds=60)
    report(api, "succeeded", duration_ms=90_000)
    receiver.wait_for(1)
    report(api, "succeeded", duration_ms=70_000)  # still slow: counted on the firing alert
    report(api, "failed", duration_ms=60_000)  # exactly the threshold is not slower than it

    [_, resolved] = receiver.wait_for(2)
    settle(db)
    [alert] = alerts(db)
    assert (alert.type, alert.state, alert.repeat_count) == ("run_slow", "resolved", 2)
    assert verified(resolved, hook)["type"] == "alert.resolved"
    assert resolved.headers["x-tocsin-alert-type"] == "run_slow"


def test_a_timed_out_jobs_next_success_resolves_the_timeout_alert(app, api, db, receiver, hook):
    rule = make_rule(api, hook, name="Overdue", event="run_timed_out")
    report(api, "succeeded", job="nightly-report")  # creates the job
    job = db.session.scalar(sa.select(Job).where(Job.slug == "nightly-report"))
    now = utcnow()
    db.session.add(Run(workspace_id=job.workspace_id, job_id=job.id, status="running",
                       started_at=now - timedelta(minutes=5), deadline_at=now - timedelta(seconds=1)))
    db.session.commit()
    assert sweeps.sweep_deadlines(app) == 1
    receiver.wait_for(1)

    report(api, "succeeded", job="nightly-report")
    [_, resolved] = receiver.wait_for(2)
    settle(db)
    [alert] = alerts(db)
    assert (alert.rule_id, alert.type, alert.state) == (rule["id"], "run_timed_out", "resolved")
    assert verified(resolved, hook)["type"] == "alert.resolved"


def test_a_success_asks_about_the_rules_it_can_resolve_a_failure_only_about_those_it_can_trigger():
    assert set(raising.events_for("succeeded")) >= set(lifecycle.RESOLVED_BY_SUCCESS) | {"run_succeeded",
                                                                                          "run_slow"}
    assert raising.events_for("failed") == raising.finished_events("failed")
    assert raising.events_for("running") == ()


# --- repeats ------------------------------------------------------------------------------------

def firing_alert(api, db, receiver, hook, **rule_fields) -> Alert:
    make_rule(api, hook, repeat_interval_seconds=10, **rule_fields)
    report(api, "failed")
    receiver.wait_for(1)
    settle(db)
    [alert] = alerts(db)
    return alert


def test_repeat_interval_sends_alert_repeated_until_acknowledged(app, api, db, receiver, hook):
    alert = firing_alert(api, db, receiver, hook)
    first_due = alert.next_repeat_at
    assert first_due == alert.created_at + timedelta(seconds=10)

    assert lifecycle.sweep_repeats(app, now=first_due - timedelta(seconds=1)) == 0  # not yet due
    assert lifecycle.sweep_repeats(app, now=first_due) == 1
    [_, repeated] = receiver.wait_for(2)
    payload = verified(repeated, hook)
    assert payload["type"] == "alert.repeated" and repeated.headers["x-tocsin-event"] == "alert.repeated"
    assert payload["data"]["alert"]["id"] == str(alert.id) and payload["data"]["alert"]["state"] == "firing"
    assert lifecycle.sweep_repeats(app, now=first_due) == 0  # that moment was taken once
    settle(db)
    assert db.session.get(Alert, alert.id).next_repeat_at == first_due + timedelta(seconds=10)

    assert lifecycle.sweep_repeats(app, now=first_due + timedelta(seconds=10)) == 1
    receiver.wait_for(3)
    assert api.post(f"/alerts/{alert.id}/acknowledge").status_code == 200
    settle(db)
    assert db.session.get(Alert, alert.id).next_repeat_at is None
    assert lifecycle.sweep_repeats(app, now=first_due + timedelta(hours=1)) == 0
    settle(db)
    assert len(receiver.requests) == 3


def test_unacknowledging_starts_the_repeats_again_and_resolving_ends_them(app, api, db, receiver, hook):
    alert = firing_alert(api, db, receiver, hook)
    api.post(f"/alerts/{alert.id}/acknowledge")
    before = utcnow()
    assert api.post(f"/alerts/{alert.id}/unacknowledge").status_code == 200
    db.session.expire_all()
    due = db.session.get(Alert, alert.id).next_repeat_at
    assert before + timedelta(seconds=10) <= due <= utcnow() + timedelta(seconds=10)

    assert lifecycle.sweep_repeats(app, now=due) == 1
    receiver.wait_for(2)
    report(api, "succeeded")
    [*_, resolved] = receiver.wait_for(3)
    assert verified(resolved, hook)["type"] == "alert.resolved"
    assert lifecycle.sweep_repeats(app, now=due + timedelta(hours=1)) == 0
    settle(db)
    assert len(receiver.requests) == 3


def test_a_sweeper_that_was_away_repeats_once_then_an_interval_later(app, api, db, receiver, hook):
    alert = firing_alert(api, db, receiver, hook)
    late = alert.next_repeat_at + timedelta(minutes=5)
    assert lifecycle.sweep_repeats(app, now=late) == 1
    settle(db)
    assert db.session.get(Alert, alert.id).next_repeat_at == late + timedelta(seconds=10)


@pytest.mark.postgres_too
def test_each_due_repeat_is_sent_exactly_once_with_several_sweepers(app, api, db, receiver, hook):
    make_rule(api, hook, repeat_interval_seconds=10, cooldown_seconds=0)
    for _ in range(6):
        report(api, "failed")
    receiver.wait_for(6)
    settle(db)
    due = max(alert.next_repeat_at for alert in alerts(db))
    counts: list[int] = []
    barrier = threading.Barrier(3)

    def sweeper():
        with app.app_context():
            from webapp.extensions import db as thread_db
            barrier.wait()
            counts.append(lifecycle.sweep_repeats(app, now=due))
            thread_db.session.remove()

    threads = [threading.Thread(target=sweeper) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    receiver.wait_for(12)
    settle(db)
    assert sum(counts) == 6
    repeated = db.session.scalars(sa.select(Delivery.alert_id).where(Delivery.event == "alert.repeated")).all()
    assert sorted(repeated) == sorted(alert.id for alert in alerts(db))
    assert len(receiver.requests) == 12


class Statements:
    """The verbs of the statements this thread sends while the block runs."""

    def __init__(self, engine):
        self.engine, self.thread, self.verbs = engine, threading.get_ident(), []

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *_exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, _connection, _cursor, statement, *_args):
        if threading.get_ident() == self.thread:
            self.verbs.append(statement.split()[0].upper())


def test_a_success_no_rule_can_resolve_keeps_the_one_insert_path(api, db, receiver, hook):
    make_rule(api, hook, job_filter="billing-*")
    report(api, "succeeded", job="nightly-report")  # creates the job (that report writes more)
    with Statements(db.engine) as log:
        report(api, "succeeded", job="nightly-report")
    assert log.verbs.count("INSERT") == 1 and "UPDATE" not in log.verbs and "SAVEPOINT" not in log.verbs

    report(api, "failed", job="billing-eu")
    receiver.wait_for(1)
    with Statements(db.engine) as log:
        report(api, "succeeded", job="billing-eu")
    assert "UPDATE" in log.verbs  # the resolution
    receiver.wait_for(2)
