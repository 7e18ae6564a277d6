"""How long a failed delivery waits before its next attempt.

The delays come from the endpoint's retry policy (`retry_delays_seconds`): None is the default
schedule below, faster at first than the Standard Webhooks example schedule (an alert is worth
less the later it comes); a custom list, such as the quick preset 1, 2, 4 s, repeats its last
delay once it runs out. Randomised so that many deliveries failing together do not retry together.
"""
import random
from collections.abc import Sequence

# Delay after the 1st, 2nd, … failed attempt; after the last entry, every EVERY_LATER seconds.
SCHEDULE_SECONDS = (10, 30, 120, 600, 1800, 3600, 3 * 3600)
EVERY_LATER_SECONDS = 6 * 3600
JITTER = 0.2
# A timeout or a 429 means the receiver is struggling: give it at least this long (the default
# schedule only; a custom policy's own delay is its floor, see `backoff_seconds`).
MINIMUM_AFTER_OVERLOAD_SECONDS = 60
RETRY_AFTER_CAP_SECONDS = 3600
OVERLOAD_OUTCOMES = ("timeout", "throttled")


def scheduled_seconds(attempt_number: int, delays: Sequence[int] | None = None) -> float:
    """The un-jittered delay after failed attempt number `attempt_number` (1-based): from
    `delays` (its last entry repeated once it runs out), or the default schedule when None."""
    index = max(attempt_number, 1) - 1
    if delays:
        return delays[min(index, len(delays) - 1)]
    return SCHEDULE_SECONDS[index] if index < len(SCHEDULE_SECONDS) else EVERY_LATER_SECONDS


def backoff_seconds(attempt_number: int, outcome: str, retry_after: float | None = None,
                    scale: float = 1.0, rng=random, delays: Sequence[int] | None = None) -> float:
    """Seconds to wait after failed attempt `attempt_number` whose outcome was `outcome`.

    The schedule (`delays`, the endpoint's policy; None: the default one) gets ±20 % jitter. A
    floor (the receiver's Retry-After, capped at one hour; after a timeout or a 429, 60 s on the
    default schedule, but never more than the policy's own delay on a custom one, so a quick
    1, 2, 4 s policy stays quick) is only ever stretched upwards, so it is always honoured.
    Everything is multiplied by `scale` (TOCSIN_RETRY_SCALE), which lets tests run in seconds.
    `outcome` is the attempt's outcome, or "throttled" for an HTTP 429.
    """
    scheduled = scheduled_seconds(attempt_number, delays)
    delay = scheduled * rng.uniform(1 - JITTER, 1 + JITTER)
    floor = 0.0
    if outcome in OVERLOAD_OUTCOMES:
        floor = min(MINIMUM_AFTER_OVERLOAD_SECONDS, scheduled) if delays else MINIMUM_AFTER_OVERLOAD_SECONDS
    if retry_after is not None and retry_after > 0:
        floor = max(floor, min(float(retry_after), RETRY_AFTER_CAP_SECONDS))
    if floor and delay < floor:
        delay = min(floor * rng.uniform(1, 1 + JITTER), max(floor, RETRY_AFTER_CAP_SECONDS))
    return delay * scale
