"""An endpoint's retry policy as the engine applies it: the delays between attempts (jittered
by backoff.py) and the attempt budget a new or requeued delivery gets.

The budget is the rule's `max_attempts` when the rule sets one, else the endpoint's: the
receiver's nature decides how to retry, and a rule may still ask more or less of its alerts.
"""
import sqlalchemy as sa

from webapp.models import DEFAULT_MAX_ATTEMPTS, Delivery, Endpoint, Rule

QUICK_DELAYS = (1, 2, 4)  # the "quick" preset: chat channels and task trackers want it now or never
# Named policies the form offers; None is the default schedule (backoff.SCHEDULE_SECONDS).
PRESETS: dict[str, tuple[int, ...] | None] = {"default": None, "quick": QUICK_DELAYS}


def preset_of(delays) -> str:
    """"default", "quick" or "custom" for an endpoint's `retry_delays_seconds`."""
    if delays is None:
        return "default"
    return next((name for name, preset in PRESETS.items() if preset is not None and list(preset) == list(delays)),
                "custom")


def attempt_budget(rule_max_attempts: int | None, endpoint_max_attempts: int | None) -> int:
    """How many attempts a delivery gets: its rule's `max_attempts` when set, else its endpoint's."""
    if rule_max_attempts is not None:
        return rule_max_attempts
    return endpoint_max_attempts if endpoint_max_attempts is not None else DEFAULT_MAX_ATTEMPTS


def attempt_budget_expression() -> sa.ColumnElement[int]:
    """`attempt_budget` in SQL, per delivery row (for requeueing many at once)."""
    rule_budget = sa.select(Rule.max_attempts).where(Rule.id == Delivery.rule_id).scalar_subquery()
    endpoint_budget = sa.select(Endpoint.max_attempts).where(Endpoint.id == Delivery.endpoint_id).scalar_subquery()
    return sa.func.coalesce(rule_budget, endpoint_budget, DEFAULT_MAX_ATTEMPTS)
