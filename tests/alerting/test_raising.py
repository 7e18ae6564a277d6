"""The matcher: which runs raise which alerts, and the deliveries they create (rows only, no HTTP)."""
import logging
import re

import pytest
import sqlalchemy as sa

from webapp.models import Alert, Delivery, Endpoint, Rule, Run, Workspace
from webapp.services.alerting import ingest, raising
from webapp.services.crypto import encrypt
from webapp.services.signing.standard_webhooks import generate_secret
from webapp.timeutil import utcnow


@pytest.fixture
def workspace(db):
    workspace = Workspace(name="acme")
    db.session.add(workspace)
    db.session.commit()
    return workspace


def make_endpoint(db, workspace, name="hook", **fields):
    endpoint = Endpoint(workspace_id=workspace.id, name=name, url="http://127.0.0.1:9/hook",
                        secret_encrypted=encrypt(generate_secret()), **fields)
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def make_rule(db, workspace, event="run_failed", endpoints=(), **fields):
    fields.setdefault("name", f"{event} rule")
    fields.setdefault("cooldown_seconds", 0)
    rule = Rule(workspace_id=workspace.id, event=event, endpoints=list(endpoints), **fields)
    db.session.add(rule)
    db.session.commit()
    return rule


def report(db, workspace, job="nightly-report", status="failed", **fields):
    """A one-shot run report through the ingestion service; returns (run, new delivery ids), the
    run read back as stored (a run no rule matched is never added to the session)."""
    reported = ingest.report_run(workspace.id, {"job": job, "status": status, **fields})
    db.session.commit()
    return db.session.get(Run, reported.run.id), reported.delivery_ids


def alerts_of(db, rule):
    return db.session.scalars(sa.select(Alert).where(Alert.rule_id == rule.id).order_by(Alert.id)).all()


def deliveries_of(db, rule):
    return db.session.scalars(sa.select(Delivery).where(Delivery.rule_id == rule.id).order_by(Delivery.id)).all()


def test_run_failed_raises_alert_with_message_in_words_and_one_pending_delivery(db, workspace):
    endpoint = make_endpoint(db, workspace)
    rule = make_rule(db, workspace, "run_failed", [endpoint], severity="critical", max_attempts=5)
    run, delivery_ids = report(db, workspace, "billing-nightly", duration_ms=42_000, message="exit code 3")

    [alert] = alerts_of(db, rule)
    assert alert.message == "billing-nightly failed after 42 s: exit code 3"
    assert (alert.type, alert.severity, alert.run_id, alert.job_id) == ("run_failed", "critical", run.id, run.job_id)
    assert alert.alert_metadata["job"]["slug"] == "billing-nightly"
    assert alert.alert_metadata["run"]["status"] == "failed"
    assert alert.alert_metadata["run"]["duration_ms"] == 42_000
    [delivery] = deliveries_of(db, rule)
    assert delivery_ids == [delivery.id]
    assert (delivery.status, delivery.endpoint_id, delivery.alert_id) == ("pending", endpoint.id, alert.id)
    assert (delivery.workspace_id, delivery.max_attempts, delivery.attempt_count) == (workspace.id, 5, 0)
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at <= utcnow()
    assert delivery.message_id.startswith("msg_")


def test_run_failed_does_not_fire_for_a_succeeded_or_running_run(db, workspace):
    rule = make_rule(db, workspace, "run_failed")
    report(db, workspace, status="succeeded")
    report(db, workspace, status="running")
    assert alerts_of(db, rule) == []


def test_run_succeeded_fires_only_for_success(db, workspace):
    rule = make_rule(db, workspace, "run_succeeded")
    report(db, workspace, status="failed")
    assert alerts_of(db, rule) == []
    report(db, workspace, status="succeeded", duration_ms=3_000)
    assert [alert.message for alert in alerts_of(db, rule)] == ["nightly-report succeeded in 3 s"]


def test_run_timed_out_fires_from_the_deadline_sweep_only(db, workspace):
    rule = make_rule(db, workspace, "run_timed_out", [make_endpoint(db, workspace)])
    report(db, workspace, status="failed")
    assert alerts_of(db, rule) == []

    run, _ = report(db, workspace, status="running", deadline_seconds=1)
    run.timed_out_at = utcnow()  # what the engine's sweep does before calling the matcher
    delivery_ids = raising.raise_alerts(run, ("run_timed_out",))
    db.session.commit()

    [alert] = alerts_of(db, rule)
    assert len(delivery_ids) == 1
    assert re.fullmatch(r"nightly-report passed its \d\d:\d\d:\d\d UTC deadline, started (\d+ \w+ )?\d\d:\d\d",
                        alert.message), alert.message


def test_late_failure_after_timeout_fires_run_failed_and_keeps_the_timeout_alert(db, workspace):
    timeout_rule = make_rule(db, workspace, "run_timed_out")
    failed_rule = make_rule(db, workspace, "run_failed")
    run, _ = report(db, workspace, status="running", deadline_seconds=1)
    run.timed_out_at = utcnow()
    raising.raise_alerts(run, ("run_timed_out",))
    db.session.commit()

    ingest.finish_run(run, {"status": "failed", "message": "finally crashed"})
    db.session.commit()

    assert run.status == "failed" and run.timed_out_at is not None
    assert len(alerts_of(db, timeout_rule)) == 1
    assert [alert.message for alert in alerts_of(db, failed_rule)] == [
        f"nightly-report failed after {raising.format_duration(run.duration_ms)}: finally crashed"]


@pytest.mark.parametrize(("duration_ms", "fires"), [(59_999, False), (60_000, False), (60_001, True), (75_000, True)])
def test_run_slow_fires_only_strictly_above_the_threshold(db, workspace, duration_ms, fires):
    rule = make_rule(db, workspace, "run_slow", threshold_seconds=60)
    report(db, workspace, status="succeeded", duration_ms=duration_ms)
    assert len(alerts_of(db, rule)) == (1 if fires else 0)


def test_run_slow_message_says_how_slow(db, workspace):
    rule = make_rule(db, workspace, "run_slow", threshold_seconds=60)
    report(db, workspace, status="failed", duration_ms=75_000)
    report(db, workspace, "other-job", status="succeeded", duration_ms=60_001)
    assert [alert.message for alert in alerts_of(db, rule)] == [
        "nightly-report took 75 s, slower than the 60 s threshold",
        "other-job took 60.001 s, slower than the 60 s threshold",
    ]


def test_consecutive_failures_fires_at_n_not_before_or_after_and_again_after_a_success(db, workspace):
    rule = make_rule(db, workspace, "consecutive_failures", consecutive_count=3)
    for _ in range(2):
        report(db, workspace, status="failed")
    assert alerts_of(db, rule) == []  # N − 1
    report(db, workspace, status="failed", message="disk full")
    assert [alert.message for alert in alerts_of(db, rule)] == ["nightly-report failed 3 times in a row: disk full"]
    report(db, workspace, status="failed")
    assert len(alerts_of(db, rule)) == 1  # N + 1: same streak, no new alert

    report(db, workspace, status="succeeded")
    for _ in range(2):
        report(db, workspace, status="failed")
    assert len(alerts_of(db, rule)) == 1
    report(db, workspace, status="failed")
    assert len(alerts_of(db, rule)) == 2  # a new streak reached N


def test_consecutive_failures_counts_each_job_separately(db, workspace):
    rule = make_rule(db, workspace, "consecutive_failures", consecutive_count=2)
    report(db, workspace, "job-a", status="failed")
    report(db, workspace, "job-b", status="failed")
    assert alerts_of(db, rule) == []
    report(db, workspace, "job-b", status="failed")
    assert [alert.message for alert in alerts_of(db, rule)] == ["job-b failed 2 times in a row"]


def test_job_filter_is_a_case_sensitive_glob_and_none_means_every_job(db, workspace):
    nightly = make_rule(db, workspace, job_filter="nightly-*")
    upper = make_rule(db, workspace, job_filter="Nightly-*")
    every = make_rule(db, workspace, job_filter=None)
    report(db, workspace, "nightly-report")
    report(db, workspace, "other-job")
    assert [alert.job.slug for alert in alerts_of(db, nightly)] == ["nightly-report"]
    assert alerts_of(db, upper) == []
    assert [alert.job.slug for alert in alerts_of(db, every)] == ["nightly-report", "other-job"]


def test_inactive_rule_raises_nothing(db, workspace):
    rule = make_rule(db, workspace, is_active=False)
    report(db, workspace)
    assert alerts_of(db, rule) == []


def test_cooldown_merges_a_repeat_into_the_open_alert_without_a_second_delivery(db, workspace):
    rule = make_rule(db, workspace, "run_failed", [make_endpoint(db, workspace)], cooldown_seconds=300)
    report(db, workspace)
    _, second_ids = report(db, workspace)

    [alert] = alerts_of(db, rule)
    assert alert.repeat_count == 2
    assert alert.last_seen_at > alert.created_at
    assert second_ids == []
    assert len(deliveries_of(db, rule)) == 1


def test_cooldown_is_per_job(db, workspace):
    rule = make_rule(db, workspace, "run_failed", cooldown_seconds=300)
    report(db, workspace, "nightly-a")
    report(db, workspace, "nightly-b")
    assert [alert.repeat_count for alert in alerts_of(db, rule)] == [1, 1]


def test_zero_cooldown_raises_every_time(db, workspace):
    rule = make_rule(db, workspace, "run_failed", [make_endpoint(db, workspace)], cooldown_seconds=0)
    report(db, workspace)
    report(db, workspace)
    assert len(alerts_of(db, rule)) == 2 and len(deliveries_of(db, rule)) == 2


def test_two_rules_matching_one_run_raise_two_alerts(db, workspace):
    endpoint = make_endpoint(db, workspace)
    first = make_rule(db, workspace, "run_failed", [endpoint], name="page the on-call")
    second = make_rule(db, workspace, "run_failed", [endpoint], name="post to chat", job_filter="nightly-*")
    _, delivery_ids = report(db, workspace)
    assert len(alerts_of(db, first)) == 1 and len(alerts_of(db, second)) == 1
    assert len(delivery_ids) == 2


def test_rule_with_two_endpoints_makes_two_deliveries_and_skips_dead_endpoints(db, workspace):
    one, two = make_endpoint(db, workspace, "one"), make_endpoint(db, workspace, "two")
    disabled = make_endpoint(db, workspace, "disabled", is_active=False, disabled_reason="paused")
    deleted = make_endpoint(db, workspace, "deleted", deleted_at=utcnow())
    rule = make_rule(db, workspace, "run_failed", [one, two, disabled, deleted])
    _, delivery_ids = report(db, workspace)
    deliveries = deliveries_of(db, rule)
    assert sorted(delivery.endpoint_id for delivery in deliveries) == sorted([one.id, two.id])
    assert sorted(delivery_ids) == [delivery.id for delivery in deliveries]
    assert len({delivery.message_id for delivery in deliveries}) == 2


def test_rule_without_live_endpoints_still_raises_the_alert(db, workspace):
    rule = make_rule(db, workspace, "run_failed", [make_endpoint(db, workspace, is_active=False)])
    _, delivery_ids = report(db, workspace)
    assert len(alerts_of(db, rule)) == 1
    assert delivery_ids == [] and deliveries_of(db, rule) == []


def test_rule_of_another_workspace_never_fires_for_this_workspace_run(db, workspace):
    other = Workspace(name="other")
    db.session.add(other)
    db.session.commit()
    foreign_rule = make_rule(db, other, "run_failed", [make_endpoint(db, other)], job_filter="nightly-*")
    _, delivery_ids = report(db, workspace, "nightly-report")
    assert alerts_of(db, foreign_rule) == [] and delivery_ids == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_matcher_error_keeps_the_run_and_is_logged(db, workspace, monkeypatch, caplog):
    make_rule(db, workspace, "run_failed", [make_endpoint(db, workspace)])

    def broken(run, events, rules=None):
        db.session.add(Alert(workspace_id=run.workspace_id, type="run_failed", severity="info", message="half"))
        db.session.flush()
        raise RuntimeError("rule engine bug")

    monkeypatch.setattr(raising, "raise_alerts", broken)
    with caplog.at_level(logging.ERROR, logger="webapp.services.alerting.ingest"):
        run, delivery_ids = report(db, workspace)
    assert run.id is not None and run.status == "failed" and delivery_ids == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Alert)) == 0  # the savepoint rolled back
    assert "rule engine bug" in caplog.text


@pytest.mark.parametrize(("duration_ms", "words"), [
    (None, None), (850, "850 ms"), (42_000, "42 s"), (119_400, "119 s"), (725_000, "12 min 5 s"),
    (7_200_000, "2 h"), (12_000_000, "3 h 20 min")])
def test_durations_read_like_a_person_wrote_them(duration_ms, words):
    assert raising.format_duration(duration_ms) == words
