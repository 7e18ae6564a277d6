"""Outcome verification: a run that ran but whose own check failed finishes as
`verification_failed`, alerts through `run_verification_failed`, and counts as a failure for
streaks; run_failed rules leave it alone."""
import sqlalchemy as sa

from webapp.models import Alert


def rule(api, receiver, event, **fields):
    endpoint = api.post("/endpoints", json={"name": f"hook {event}", "url": receiver.url()}).get_json()
    response = api.post("/rules", json={"name": event, "event": event, "endpoint_ids": [endpoint["id"]],
                                        "cooldown_seconds": 0, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def alert_messages(db, event):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Alert.message).where(Alert.type == event).order_by(Alert.id)))


def test_a_verification_failed_report_is_finished_and_alerts(api, db, receiver):
    rule(api, receiver, "run_verification_failed")
    rule(api, receiver, "run_failed")
    response = api.post("/runs", json={"job": "nightly-backup", "status": "verification_failed",
                                       "duration_ms": 61_000, "message": "checksum mismatch"})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["status"], body["duration_ms"]) == ("verification_failed", 61_000)
    assert body["finished_at"] is not None

    assert alert_messages(db, "run_verification_failed") == [
        "nightly-backup ran but its verification failed after 61 s: checksum mismatch"]
    assert alert_messages(db, "run_failed") == []
    (request,) = receiver.wait_for(1)
    assert request.json()["data"]["alert"]["type"] == "run_verification_failed"
    assert request.json()["data"]["run"]["status"] == "verification_failed"


def test_the_finish_endpoint_takes_verification_failed(api, db, receiver):
    rule(api, receiver, "run_verification_failed")
    run = api.post("/runs", json={"job": "nightly-backup", "external_id": "cron-7"}).get_json()
    finished = api.post(f"/runs/{run['id']}/finish", json={"status": "verification_failed"})
    assert finished.status_code == 200 and finished.get_json()["status"] == "verification_failed"
    [message] = alert_messages(db, "run_verification_failed")
    assert message.startswith("nightly-backup ran but its verification failed after ")
    receiver.wait_for(1)


def test_verification_failures_count_in_a_failure_streak(api, db, receiver):
    rule(api, receiver, "consecutive_failures", consecutive_count=3)
    for status in ("failed", "verification_failed"):
        api.post("/runs", json={"job": "nightly-backup", "status": status})
    assert alert_messages(db, "consecutive_failures") == []
    api.post("/runs", json={"job": "nightly-backup", "status": "verification_failed"})
    assert alert_messages(db, "consecutive_failures") == ["nightly-backup failed 3 times in a row"]
    receiver.wait_for(1)


def test_rules_take_the_new_events(api, receiver, client):
    assert rule(api, receiver, "run_missed")["event"] == "run_missed"
    html = client.get("/settings/alerts/rules/new").get_data(as_text=True)
    assert 'value="run_verification_failed"' in html and 'value="run_missed"' in html


def test_a_failure_without_a_duration_says_failed_not_zero_ms(api, db, receiver):
    rule(api, receiver, "run_failed")
    body = api.post("/runs", json={"job": "nightly-backup", "status": "failed", "message": "exit code 3"}).get_json()
    assert body["duration_ms"] is None
    assert alert_messages(db, "run_failed") == ["nightly-backup failed: exit code 3"]
    receiver.wait_for(1)


def test_a_finish_report_without_status_names_verification_failed(api):
    run = api.post("/runs", json={"job": "nightly-backup"}).get_json()
    response = api.post(f"/runs/{run['id']}/finish", json={"message": "done"})
    assert response.status_code == 400
    assert "verification_failed" in response.get_json()["error"]["fields"]["status"]
