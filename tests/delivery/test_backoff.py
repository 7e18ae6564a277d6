"""The retry schedule: about 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, then every 6 h, ±20 %."""
import random

import pytest

from webapp.services.delivery.backoff import backoff_seconds

EXPECTED = [10, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 6 * 3600, 6 * 3600]


class Extreme:
    """A random source that always returns the low or the high end of the range asked for."""

    def __init__(self, high: bool):
        self.high = high

    def uniform(self, low, high):
        return high if self.high else low


@pytest.mark.parametrize("attempt_number, expected", list(enumerate(EXPECTED, start=1)))
def test_schedule_stays_within_twenty_percent_jitter(attempt_number, expected):
    rng = random.Random(attempt_number)
    delays = [backoff_seconds(attempt_number, "server_error", rng=rng) for _ in range(200)]
    assert min(delays) >= expected * 0.8
    assert max(delays) <= expected * 1.2
    assert max(delays) - min(delays) > expected * 0.2  # really randomised, not a constant


def test_jitter_bounds_are_exactly_plus_or_minus_twenty_percent():
    assert backoff_seconds(1, "connection", rng=Extreme(high=False)) == pytest.approx(8.0)
    assert backoff_seconds(1, "connection", rng=Extreme(high=True)) == pytest.approx(12.0)


def test_delays_grow_until_every_six_hours():
    middle = [backoff_seconds(n, "server_error", rng=random.Random(0)) for n in range(1, 12)]
    assert middle == sorted(middle)
    assert backoff_seconds(30, "server_error", rng=Extreme(high=True)) == pytest.approx(6 * 3600 * 1.2)


@pytest.mark.parametrize("outcome", ["timeout", "throttled"])
def test_timeout_or_429_waits_at_least_a_minute(outcome):
    for seed in range(100):
        assert backoff_seconds(1, outcome, rng=random.Random(seed)) >= 60
    assert backoff_seconds(1, outcome, rng=Extreme(high=True)) <= 72


def test_retry_after_is_honoured_when_longer_than_the_schedule():
    for seed in range(50):
        delay = backoff_seconds(1, "throttled", retry_after=300, rng=random.Random(seed))
        assert 300 <= delay <= 360


def test_retry_after_is_capped_at_one_hour():
    for seed in range(50):
        assert backoff_seconds(1, "throttled", retry_after=86400, rng=random.Random(seed)) == pytest.approx(3600)


def test_short_retry_after_does_not_shorten_the_schedule():
    delay = backoff_seconds(5, "throttled", retry_after=2, rng=Extreme(high=False))
    assert delay == pytest.approx(1800 * 0.8)


def test_everything_is_multiplied_by_the_retry_scale():
    assert backoff_seconds(2, "server_error", scale=0.01, rng=Extreme(high=True)) == pytest.approx(0.36)
    assert backoff_seconds(1, "timeout", scale=0.01, rng=Extreme(high=False)) == pytest.approx(0.6)
    assert backoff_seconds(1, "throttled", retry_after=100000, scale=0.01, rng=Extreme(high=True)) \
        == pytest.approx(36.0)
