"""Each endpoint's retry policy (issue 16, point 3): its delays (a custom list repeats its last
delay; the quick preset 1, 2, 4 s really lands about 1, 2 and 4 s apart on the wake-up loop),
and the attempt budget — the endpoint's, unless the alert's rule sets its own."""
import random
from datetime import timedelta

import pytest

from tests.delivery.test_attempt import attempts_of, drive, reload
from tests.delivery.test_wakeups import A_MINUTE, sleeping
from tests.support.factories import make_alert, make_deliveries, make_endpoint, make_workspace
from webapp.models import Delivery, Rule
from webapp.scheduler import start_scheduler, stop_scheduler
from webapp.services.alerting import ingest, lifecycle
from webapp.services.delivery import pool, requeue, retry_policy
from webapp.services.delivery.backoff import JITTER, backoff_seconds, scheduled_seconds

QUICK = list(retry_policy.QUICK_DELAYS)


class Extreme:
    """A random source that always returns the low or the high end of the range asked for."""

    def __init__(self, high: bool):
        self.high = high

    def uniform(self, low, high):
        return high if self.high else low


# --- the delays --------------------------------------------------------------------------------


def test_a_custom_list_is_followed_then_its_last_delay_repeats():
    assert [scheduled_seconds(number, QUICK) for number in range(1, 7)] == [1, 2, 4, 4, 4, 4]
    assert [scheduled_seconds(number, [5]) for number in range(1, 4)] == [5, 5, 5]


def test_no_list_is_the_default_schedule():
    assert [scheduled_seconds(number, None) for number in (1, 2, 7, 8, 20)] == [10, 30, 3 * 3600, 6 * 3600, 6 * 3600]


@pytest.mark.parametrize("number, expected", [(1, 1), (2, 2), (3, 4), (4, 4)])
def test_quick_delays_keep_the_twenty_percent_jitter(number, expected):
    rng = random.Random(number)
    delays = [backoff_seconds(number, "server_error", rng=rng, delays=QUICK) for _ in range(200)]
    assert expected * (1 - JITTER) <= min(delays) and max(delays) <= expected * (1 + JITTER)
    assert max(delays) - min(delays) > expected * 0.2


@pytest.mark.parametrize("outcome", ["timeout", "throttled"])
def test_after_a_timeout_or_429_a_custom_policy_waits_its_own_delay_not_a_minute(outcome):
    for number, expected in ((1, 1), (2, 2), (3, 4)):
        low = backoff_seconds(number, outcome, rng=Extreme(high=False), delays=QUICK)
        high = backoff_seconds(number, outcome, rng=Extreme(high=True), delays=QUICK)
        assert expected <= low and high <= expected * (1 + JITTER)  # the floor: its own delay, unjittered down
    # The floor is the lesser of a minute and the policy's delay: 30 s waits 30 s, 300 s its jittered own.
    assert backoff_seconds(1, outcome, rng=Extreme(high=False), delays=[30]) == pytest.approx(30)
    assert backoff_seconds(1, outcome, rng=Extreme(high=False), delays=[300]) == pytest.approx(240)


def test_the_default_schedule_keeps_its_minute_after_an_overload():
    assert backoff_seconds(1, "timeout", rng=Extreme(high=False)) >= 60


def test_an_explicit_retry_after_is_honoured_by_a_custom_policy_too():
    for seed in range(50):
        delay = backoff_seconds(1, "throttled", retry_after=30, rng=random.Random(seed), delays=QUICK)
        assert 30 <= delay <= 36


def test_the_retry_scale_multiplies_a_custom_policy():
    assert backoff_seconds(3, "server_error", scale=0.5, rng=Extreme(high=True), delays=QUICK) == pytest.approx(2.4)


# --- the quick policy end to end, on the wake-up loop --------------------------------------------


class TestQuickPolicyOnTheLoop:
    """Real delays (scale 1) and every longest sleep a minute: the attempts can only land about
    1, 2 and 4 s apart if the loop wakes for each retry's own moment."""

    @pytest.fixture
    def app_config(self):
        return {**A_MINUTE, "TOCSIN_RETRY_SCALE": 1.0}

    def test_attempts_land_about_one_two_and_four_seconds_apart(self, app, db, receiver):
        receiver.default.status = 500
        start_scheduler(app)
        try:
            sleeping(app.extensions["tocsin_wakeups"])
            endpoint, _ = make_endpoint(make_workspace(), receiver.url(), retry_delays_seconds=QUICK, max_attempts=4)
            (delivery_id,) = make_deliveries(1, endpoint, make_alert(endpoint), max_attempts=4)
            db.session.commit()
            pool.send_after_commit(app, [delivery_id])
            requests = receiver.wait_for(4, timeout=30)
            assert pool.wait_idle(timeout=10)
        finally:
            stop_scheduler(app)

        moments = [request.received_at for request in requests]
        gaps = [later - earlier for earlier, later in zip(moments, moments[1:], strict=False)]
        # ±20 % jitter around 1, 2, 4 s, plus the attempt itself and the loop's wake-up.
        assert 0.7 <= gaps[0] <= 1.6 and 1.5 <= gaps[1] <= 3.0 and 3.0 <= gaps[2] <= 5.5, gaps
        assert len({request.headers["webhook-id"] for request in requests}) == 1
        delivery = reload(db, Delivery, delivery_id)
        assert (delivery.status, delivery.attempt_count) == ("dead", 4)
        assert delivery.last_error.startswith("gave up after 4 attempts")
        assert len(receiver.requests) == 4  # the budget held: no fifth attempt


# --- the attempt budget ------------------------------------------------------------------------


@pytest.fixture
def app_config():
    """Real back-off (scale 1): `drive` moves each retry to now, so no extra attempt sneaks in."""
    return {"TOCSIN_RETRY_SCALE": 1.0}


def failing_rule(db, receiver, *, rule_attempts, endpoint_attempts):
    receiver.default.status = 500
    workspace = make_workspace()
    endpoint, _ = make_endpoint(workspace, receiver.url(), max_attempts=endpoint_attempts)
    rule = Rule(workspace_id=workspace.id, name="fails", event="run_failed", severity="critical",
                cooldown_seconds=0, max_attempts=rule_attempts, endpoints=[endpoint])
    db.session.add(rule)
    db.session.commit()
    return workspace, endpoint, rule


def raise_one(db, workspace) -> int:
    (delivery_id,) = ingest.report_run(workspace.id, {"job": "nightly", "status": "failed"}).delivery_ids
    db.session.commit()
    return delivery_id


def test_a_rules_attempt_budget_overrides_the_endpoints(app, db, receiver):
    workspace, _, _ = failing_rule(db, receiver, rule_attempts=2, endpoint_attempts=5)
    delivery_id = raise_one(db, workspace)
    assert db.session.get(Delivery, delivery_id).max_attempts == 2

    delivery = drive(app, db, delivery_id)

    assert (delivery.status, delivery.attempt_count) == ("dead", 2)
    assert delivery.last_error.startswith("gave up after 2 attempts")
    assert [attempt.number for attempt in attempts_of(db, delivery_id)] == [1, 2]


def test_without_a_rule_budget_the_endpoints_is_used(app, db, receiver):
    workspace, _, _ = failing_rule(db, receiver, rule_attempts=None, endpoint_attempts=3)
    delivery_id = raise_one(db, workspace)
    assert db.session.get(Delivery, delivery_id).max_attempts == 3

    delivery = drive(app, db, delivery_id)

    assert (delivery.status, delivery.attempt_count) == ("dead", 3)
    assert len(receiver.requests) == 3


def test_redeliver_and_retry_dead_give_the_same_budget_again(app, db, receiver):
    workspace, endpoint, rule = failing_rule(db, receiver, rule_attempts=None, endpoint_attempts=2)
    first, second = raise_one(db, workspace), raise_one(db, workspace)
    for delivery_id in (first, second):
        assert drive(app, db, delivery_id).status == "dead"

    assert requeue.redeliver(db.session.get(Delivery, first), user_id=None, client_ip=None, via="test")
    db.session.commit()
    assert reload(db, Delivery, first).max_attempts == 2 + 2  # its attempts so far, plus the endpoint's budget
    rule.max_attempts = 1
    db.session.commit()
    assert requeue.retry_dead_since(endpoint, reload(db, Delivery, second).created_at - timedelta(seconds=1),
                                    user_id=None, client_ip=None) == 1
    db.session.commit()
    assert reload(db, Delivery, second).max_attempts == 2 + 1  # now the rule's own budget


def test_resolved_and_repeated_deliveries_get_the_same_budget(app, db, receiver):
    workspace, endpoint, rule = failing_rule(db, receiver, rule_attempts=None, endpoint_attempts=3)
    alert = db.session.get(Delivery, raise_one(db, workspace)).alert
    second_endpoint, _ = make_endpoint(workspace, receiver.url(), name="patient", max_attempts=12)
    rule.endpoints.append(second_endpoint)
    rule.notify_on_resolve = True
    db.session.commit()

    resolved = lifecycle.notify([alert], "alert.resolved")  # to the endpoints the alert went to
    db.session.commit()
    assert [db.session.get(Delivery, delivery_id).max_attempts for delivery_id in resolved] == [3]
    rule.max_attempts = 6
    db.session.commit()
    repeated = lifecycle.notify([alert], "alert.repeated")
    assert [db.session.get(Delivery, delivery_id).max_attempts for delivery_id in repeated] == [6]


def test_the_budget_helper_prefers_the_rule_then_the_endpoint():
    assert retry_policy.attempt_budget(2, 5) == 2
    assert retry_policy.attempt_budget(None, 5) == 5
    assert retry_policy.attempt_budget(None, None) == 8


def test_presets_are_recognised_from_the_stored_list():
    assert [retry_policy.preset_of(value) for value in (None, [1, 2, 4], [1, 2, 5])] == ["default", "quick", "custom"]
