"""Silences end to end over real HTTP: an alert raised during a matching silence is recorded
with `silenced_by` and nothing reaches the receiver; if it still fires when the silence ends the
release job delivers it once (run twice: still once); one resolved meanwhile sends nothing.
Weekly windows are checked on a fixed clock across a daylight-saving change. Then the API, the
pages and the quick-silence buttons."""
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.support.factories import workspace_id_of
from webapp.models import Alert, AuditEvent, Delivery, Silence, SilenceHold
from webapp.services.alerting import raising
from webapp.services.delivery import pool
from webapp.services.silences import holding, windows
from webapp.timeutil import isoformat, utcnow


@pytest.fixture
def app_config():
    return {"TOCSIN_ENDPOINT_CONCURRENCY": 50, "TOCSIN_ENDPOINT_RATE": 1000}


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


@pytest.fixture
def hook(api, receiver) -> dict:
    response = api.post("/endpoints", json={"name": "Ops webhook", "url": receiver.url()})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_rule(api, endpoint_ids, **fields) -> dict:
    body = {"name": "Nightly failures", "event": "run_failed", "severity": "critical",
            "endpoint_ids": endpoint_ids, "cooldown_seconds": 0, **fields}
    response = api.post("/rules", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def report(api, status, job="nightly-backup"):
    response = api.post("/runs", json={"job": job, "status": status})
    assert response.status_code == 201, response.get_json()


def silence(api, **fields) -> dict:
    body = {"job_filter": "nightly-*", "ends_at": isoformat(utcnow() + timedelta(hours=1)),
            "comment": "database upgrade", **fields}
    response = api.post("/silences", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def settle(db):
    assert pool.wait_idle(10)
    db.session.expire_all()


def alerts(db) -> list[Alert]:
    return db.session.scalars(sa.select(Alert).order_by(Alert.id)).unique().all()


def deliveries(db) -> list[Delivery]:
    return db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()


def end(api, silence_id):
    response = api.patch(f"/silences/{silence_id}", json={"ends_at": isoformat(utcnow())})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "expired"


# --- holding and releasing ------------------------------------------------------------------------

@pytest.mark.postgres_too
def test_alert_raised_during_a_job_glob_silence_is_recorded_silenced_and_nothing_reaches_the_receiver(
        api, db, receiver, hook):
    make_rule(api, [hook["id"]])
    muted = silence(api)

    report(api, "failed")
    settle(db)

    [alert] = alerts(db)
    assert alert.silenced_by == muted["id"] and alert.state == "firing"
    assert deliveries(db) == [] and receiver.requests == []
    assert api.get(f"/alerts/{alert.id}").get_json()["silenced_by"] == muted["id"]
    assert holding.silenced_alert_count(alert.workspace_id) == 1
    page = api.client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert f'data-silenced-by="{muted["id"]}"' in page
    listed = api.client.get("/alerts").get_data(as_text=True)  # the list marks it too
    assert f'data-silenced-by="{muted["id"]}"' in listed and ">silenced</span>" in listed
    assert 'data-card="silenced"><span class="num">1</span>' in api.client.get("/overview").get_data(as_text=True)


def test_a_job_the_glob_does_not_match_is_delivered_at_once(api, db, receiver, hook):
    make_rule(api, [hook["id"]])
    silence(api)

    report(api, "failed", job="billing-export")

    receiver.wait_for(1)
    settle(db)
    [alert] = alerts(db)
    assert alert.silenced_by is None


@pytest.mark.postgres_too
def test_alert_still_firing_when_the_silence_ends_is_delivered_once(app, api, db, receiver, hook):
    make_rule(api, [hook["id"]])
    muted = silence(api)
    report(api, "failed")
    settle(db)
    assert holding.release_ended(app) == 0  # still silenced: nothing released

    end(api, muted["id"])
    assert holding.release_ended(app) == 1
    assert holding.release_ended(app) == 0  # a second pass (or another process) finds nothing left

    [request] = receiver.wait_for(1)
    settle(db)
    assert request.json()["type"] == "alert.fired"
    [delivery] = deliveries(db)
    assert (delivery.event, delivery.status, delivery.endpoint_id) == ("alert.fired", "delivered", hook["id"])
    [hold] = db.session.scalars(sa.select(SilenceHold)).all()
    assert hold.outcome == "delivered" and hold.delivery_id == delivery.id
    assert len(receiver.requests) == 1
    assert alerts(db)[0].silenced_by == muted["id"]  # the record stays


@pytest.mark.postgres_too
def test_two_releasers_that_planned_the_same_hold_deliver_it_once(app, database_uri, api, db, receiver, hook):
    """Two processes reading the same ended hold at once: the guarded UPDATE lets one release it."""
    make_rule(api, [hook["id"]])
    muted = silence(api)
    report(api, "failed")
    settle(db)
    end(api, muted["id"])

    rows = db.session.execute(holding._UNRELEASED, {"after": 0}).all()
    first, second = holding._plan(rows, utcnow()), holding._plan(rows, utcnow())
    assert [step.action for step in first] == [step.action for step in second] == ["delivered"]
    written = holding._apply(first, utcnow()) + holding._apply(second, utcnow())
    db.session.commit()
    pool.send_after_commit(app, written)

    assert len(written) == 1
    receiver.wait_for(1)
    settle(db)
    assert len(deliveries(db)) == 1 and len(receiver.requests) == 1


@pytest.mark.postgres_too
def test_alert_resolved_during_the_silence_is_never_delivered(app, api, db, receiver, hook):
    make_rule(api, [hook["id"]], notify_on_resolve=True)
    muted = silence(api)
    report(api, "failed")
    report(api, "succeeded")  # resolves it while silenced: not even an alert.resolved goes out
    settle(db)
    assert alerts(db)[0].state == "resolved"

    end(api, muted["id"])
    assert holding.release_ended(app) == 0
    assert holding.release_ended(app) == 0
    settle(db)

    assert deliveries(db) == [] and receiver.requests == []
    [hold] = db.session.scalars(sa.select(SilenceHold)).all()
    assert hold.outcome == "dropped"


@pytest.mark.postgres_too
def test_an_endpoint_silence_holds_only_that_endpoints_delivery(app, api, db, receiver, hook):
    quiet = api.post("/endpoints", json={"name": "Pager", "url": "http://127.0.0.1:9/hook"}).get_json()
    make_rule(api, [hook["id"], quiet["id"]])
    muted = silence(api, job_filter=None, endpoint_id=quiet["id"])

    report(api, "failed")

    receiver.wait_for(1)
    settle(db)
    [alert] = alerts(db)
    assert alert.silenced_by == muted["id"]
    assert [delivery.endpoint_id for delivery in deliveries(db)] == [hook["id"]]
    assert [hold.endpoint_id for hold in db.session.scalars(sa.select(SilenceHold))] == [quiet["id"]]


@pytest.mark.postgres_too
def test_a_hold_whose_silence_ends_while_another_matches_waits_for_that_one(app, api, db, receiver, hook):
    make_rule(api, [hook["id"]])
    first = silence(api)
    report(api, "failed")
    second = silence(api, job_filter="nightly-backup")

    end(api, first["id"])
    assert holding.release_ended(app) == 0
    db.session.expire_all()
    assert db.session.scalars(sa.select(SilenceHold.silence_id)).all() == [second["id"]]

    end(api, second["id"])
    assert holding.release_ended(app) == 1
    receiver.wait_for(1)


# --- weekly windows on a fixed clock ------------------------------------------------------------------

PARIS_NIGHTS = {"weekdays": ["mon"], "start_time": "22:00", "end_time": "06:00", "timezone": "Europe/Paris"}


@pytest.mark.parametrize(("moment", "inside"), [
    # Monday 23 March 2026, Paris on UTC+1 (winter time)
    (datetime(2026, 3, 23, 20, 59, tzinfo=UTC), False),  # 21:59 Paris
    (datetime(2026, 3, 23, 21, 0, tzinfo=UTC), True),    # 22:00 Paris
    (datetime(2026, 3, 24, 4, 59, tzinfo=UTC), True),    # Tuesday 05:59 Paris
    (datetime(2026, 3, 24, 5, 0, tzinfo=UTC), False),    # Tuesday 06:00 Paris
    # Monday 30 March 2026, after the change to UTC+2 (summer time): the window moves in UTC
    (datetime(2026, 3, 30, 20, 0, tzinfo=UTC), True),    # 22:00 Paris
    (datetime(2026, 3, 30, 19, 59, tzinfo=UTC), False),  # 21:59 Paris
    (datetime(2026, 3, 31, 3, 59, tzinfo=UTC), True),    # Tuesday 05:59 Paris
    (datetime(2026, 3, 31, 4, 0, tzinfo=UTC), False),    # Tuesday 06:00 Paris
    (datetime(2026, 3, 31, 21, 0, tzinfo=UTC), False),   # Tuesday 23:00 Paris: not a listed day
])
def test_weekly_window_follows_the_wall_clock_of_its_zone(moment, inside):
    assert windows.in_weekly_window(PARIS_NIGHTS, moment) is inside


@pytest.mark.postgres_too
def test_weekly_silence_holds_alerts_inside_its_window_only(app, api, db, receiver, hook, monkeypatch):
    make_rule(api, [hook["id"]])
    muted = silence(api, ends_at=None, starts_at="2026-01-01T00:00:00Z", weekly={
        "weekdays": ["Monday", "wed"], "start_time": "22:00", "end_time": "06:00", "timezone": "Europe/Paris"})
    assert muted["weekly"]["weekdays"] == ["mon", "wed"] and muted["ends_at"] is None

    inside = datetime(2026, 3, 30, 20, 30, tzinfo=UTC)  # Monday 22:30 in Paris (summer time)
    monkeypatch.setattr(raising, "utcnow", lambda: inside)
    report(api, "failed", job="nightly-backup")
    outside = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # Tuesday 14:00 in Paris
    monkeypatch.setattr(raising, "utcnow", lambda: outside)
    report(api, "failed", job="nightly-vacuum")

    receiver.wait_for(1)
    settle(db)
    silenced, delivered = alerts(db)
    assert (silenced.job.slug, silenced.silenced_by) == ("nightly-backup", muted["id"])
    assert (delivered.job.slug, delivered.silenced_by) == ("nightly-vacuum", None)

    assert holding.release_ended(app, now=inside + timedelta(hours=1)) == 0  # 23:30: still in the window
    assert holding.release_ended(app, now=outside) == 1  # the window closed at 06:00
    receiver.wait_for(2)


# --- the API ------------------------------------------------------------------------------------------

def test_silences_api_creates_reads_lists_changes_and_deletes(api, db, hook):
    rule = make_rule(api, [hook["id"]])
    created = silence(api, rule_id=rule["id"])
    assert {key: created[key] for key in ("job_filter", "rule_id", "endpoint_id", "weekly", "comment", "state")} == {
        "job_filter": "nightly-*", "rule_id": rule["id"], "endpoint_id": None, "weekly": None,
        "comment": "database upgrade", "state": "active"}
    assert api.get(f"/silences/{created['id']}").get_json() == created
    assert [item["id"] for item in api.get("/silences").get_json()["items"]] == [created["id"]]

    changed = api.patch(f"/silences/{created['id']}", json={"comment": "upgrade to 17"})
    assert changed.status_code == 200 and changed.get_json()["comment"] == "upgrade to 17"
    ended = api.patch(f"/silences/{created['id']}", json={"ends_at": "now"}).get_json()
    assert ended["state"] == "expired"

    assert api.delete(f"/silences/{created['id']}").status_code == 204
    assert api.get(f"/silences/{created['id']}").status_code == 404
    actions = db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "silence")
                                 .order_by(AuditEvent.id)).all()
    assert actions == ["silence.create", "silence.update", "silence.end", "silence.delete"]


def test_upcoming_silence_ended_through_the_api_never_starts(api):
    later = utcnow() + timedelta(days=1)
    created = silence(api, starts_at=isoformat(later), ends_at=isoformat(later + timedelta(hours=2)))
    assert created["state"] == "upcoming" and created["next_start_at"] == created["starts_at"]
    ended = api.patch(f"/silences/{created['id']}", json={"ends_at": isoformat(utcnow())})
    assert ended.status_code == 200 and ended.get_json()["state"] == "expired"


@pytest.mark.parametrize(("body", "field"), [
    ({"ends_at": "2099-01-01T00:00:00Z"}, "job_filter"),  # nothing to match
    ({"job_filter": "nightly-*"}, "ends_at"),  # one-off without an end
    ({"job_filter": "nightly-*", "ends_at": "2020-01-01T00:00:00Z"}, "ends_at"),  # in the past
    ({"job_filter": "nightly-*", "ends_at": "tomorrow"}, "ends_at"),
    ({"job_filter": "no spaces", "ends_at": "2099-01-01T00:00:00Z"}, "job_filter"),
    ({"job_filter": "x", "weekly": {"weekdays": ["someday"], "start_time": "22:00", "end_time": "06:00",
                                    "timezone": "Europe/Paris"}}, "weekly"),
    ({"job_filter": "x", "weekly": {"weekdays": ["mon"], "start_time": "25:00", "end_time": "06:00",
                                    "timezone": "Europe/Paris"}}, "weekly"),
    ({"job_filter": "x", "weekly": {"weekdays": ["mon"], "start_time": "22:00", "end_time": "06:00",
                                    "timezone": "Mars/Olympus"}}, "weekly"),
    ({"job_filter": "x", "ends_at": "2099-01-01T00:00:00Z", "rule_id": "seven"}, "rule_id"),
    ({"job_filter": "x", "ends_at": "2099-01-01T00:00:00Z", "comment": "x" * 501}, "comment"),
])
def test_bad_silences_get_a_validation_error_naming_the_field(api, body, field):
    response = api.post("/silences", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]


def test_silences_of_another_workspace_are_not_found_and_its_ids_are_unknown(api, other_api, hook):
    rule = make_rule(api, [hook["id"]])
    mine = silence(api)
    assert other_api.get(f"/silences/{mine['id']}").status_code == 404
    assert other_api.patch(f"/silences/{mine['id']}", json={"comment": "x"}).status_code == 404
    assert other_api.delete(f"/silences/{mine['id']}").status_code == 404
    assert other_api.get("/silences").get_json()["items"] == []
    foreign = other_api.post("/silences", json={"rule_id": rule["id"], "ends_at": "2099-01-01T00:00:00Z"})
    assert foreign.status_code == 400 and "rule_id" in foreign.get_json()["error"]["fields"]


# --- pages --------------------------------------------------------------------------------------------

def test_create_page_reads_times_in_the_readers_zone_and_end_now_ends_it(client, auth, db):
    auth.signup()
    client.set_cookie("tz", "Europe/Paris")
    response = client.post("/settings/silences/new", data={
        "job_filter": "billing-*", "kind": "once", "starts_at": "2099-06-01T09:00", "ends_at": "2099-06-01T11:30",
        "comment": "quarterly close"}, follow_redirects=True)
    assert response.status_code == 200
    [created] = db.session.scalars(sa.select(Silence)).all()
    assert created.starts_at == datetime(2099, 6, 1, 7, 0, tzinfo=UTC)  # 09:00 Paris (summer time)
    assert created.ends_at == datetime(2099, 6, 1, 9, 30, tzinfo=UTC)
    assert created.created_by_id is not None and created.workspace_id == workspace_id_of()
    page = client.get("/settings/silences").get_data(as_text=True)
    assert 'data-silences="upcoming"' in page and f'id="silence-{created.id}"' in page

    client.post(f"/settings/silences/{created.id}/end", follow_redirects=True)
    db.session.expire_all()
    assert created.ends_at <= utcnow()
    assert windows.state(db.session.get(Silence, created.id), utcnow()) == "expired"


def test_create_page_shows_errors_next_to_the_form_and_saves_nothing(client, auth, db):
    auth.signup()
    response = client.post("/settings/silences/new", data={"kind": "once", "ends_at": "2099-06-01T11:30"})
    assert response.status_code == 200
    assert "Say what to silence" in response.get_data(as_text=True)
    weekly = client.post("/settings/silences/new", data={"job_filter": "x", "kind": "weekly", "weekdays": [],
                                                         "start_time": "22:00", "end_time": "06:00",
                                                         "timezone": "Europe/Paris"})
    assert weekly.status_code == 200 and "Missing: weekdays" in weekly.get_data(as_text=True)
    assert db.session.scalars(sa.select(Silence)).all() == []


def test_weekly_silence_from_the_page(client, auth, db):
    auth.signup()
    response = client.post("/settings/silences/new", data={
        "job_filter": "nightly-*", "kind": "weekly", "weekdays": ["sat", "sun"], "start_time": "00:00",
        "end_time": "00:00", "timezone": "America/New_York"})
    assert response.status_code == 302
    [created] = db.session.scalars(sa.select(Silence)).all()
    assert created.weekly == {"weekdays": ["sat", "sun"], "start_time": "00:00", "end_time": "00:00",
                              "timezone": "America/New_York"} and created.ends_at is None


def test_quick_silence_buttons_on_an_alert_and_a_job(api, db, hook):
    client = api.client
    client.set_cookie("tz", "Asia/Tokyo")
    rule = make_rule(api, [hook["id"]])
    report(api, "failed")
    settle(db)
    [alert] = alerts(db)

    alert_page = client.get(f"/alerts/{alert.id}").get_data(as_text=True)
    assert 'data-quick-silence="1h"' in alert_page and 'data-quick-silence="tomorrow"' in alert_page
    assert f"/settings/silences/new?job_filter=nightly-backup&amp;rule_id={rule['id']}" in alert_page
    before = utcnow()
    response = client.post("/settings/silences/quick", data={
        "job_filter": "nightly-backup", "rule_id": str(rule["id"]), "until": "1h", "next": f"/alerts/{alert.id}"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/alerts/{alert.id}")
    [hour] = db.session.scalars(sa.select(Silence)).all()
    assert (hour.job_filter, hour.rule_id) == ("nightly-backup", rule["id"])
    assert timedelta(minutes=59) < hour.ends_at - before < timedelta(minutes=61)

    job_page = client.get("/jobs/nightly-backup").get_data(as_text=True)
    assert 'data-quick-silence="tomorrow"' in job_page
    assert "/settings/silences/new?job_filter=nightly-backup" in job_page
    client.post("/settings/silences/quick", data={"job_filter": "nightly-backup", "until": "tomorrow",
                                                  "next": "/jobs/nightly-backup"})
    tomorrow = db.session.scalars(sa.select(Silence).order_by(Silence.id.desc())).first()
    local_end = tomorrow.ends_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local_end.hour, local_end.minute) == (9, 0)
    assert local_end.date() == utcnow().astimezone(ZoneInfo("Asia/Tokyo")).date() + timedelta(days=1)
    assert tomorrow.rule_id is None

    custom = client.get("/settings/silences/new?job_filter=nightly-backup").get_data(as_text=True)
    assert 'value="nightly-backup"' in custom


def test_quick_silence_with_a_bad_choice_is_refused_with_a_message(client, auth, db):
    auth.signup()
    response = client.post("/settings/silences/quick", data={"job_filter": "x", "until": "forever", "next": "/jobs"},
                           follow_redirects=True)
    assert response.status_code == 200 and "The silence was not created" in response.get_data(as_text=True)
    assert db.session.scalars(sa.select(Silence)).all() == []
