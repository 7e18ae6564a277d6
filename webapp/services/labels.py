"""The one vocabulary of the screens: a label per delivery state, event and payload format.

Every page, the overview and the API read these (also as the `labels` template global), so one
delivery, event or format has the same name everywhere.
"""
from webapp.models.rules import EVENT_LABELS

# The delivery states people see. The stored status has four values (DESIGN.md's state machine);
# a first-attempt pending/sending and a retry are told apart by the attempt count, and a finished
# test send has its own words: a failed test is not a dead-lettered alert.
DELIVERY_STATES = ("pending", "sending", "failed-retrying", "delivered", "dead", "test-delivered", "test-failed")
DELIVERY_STATE_LABELS = {"pending": "Queued", "sending": "Sending", "failed-retrying": "Retrying",
                         "delivered": "Delivered", "dead": "Failed", "test-delivered": "Test delivered",
                         "test-failed": "Test failed"}
# The CSS badge class of each state (static/tocsin.css); a failed test is a warning, not the red of dead.
DELIVERY_STATE_BADGES = {"pending": "pending", "sending": "sending", "failed-retrying": "retrying",
                         "delivered": "delivered", "dead": "dead", "test-delivered": "delivered",
                         "test-failed": "test-failed"}

PAYLOAD_TYPE_LABELS = {"alert.fired": "Alert fired", "alert.repeated": "Alert repeated",
                       "alert.resolved": "Alert resolved", "alert.test": "Test alert"}
SYSTEM_EVENT_LABELS = {"endpoint_disabled": "Endpoint disabled", "delivery_dead": "Delivery failed",
                       "scheduler_stalled": "Scheduler stalled"}

ENDPOINT_HEALTH_LABELS = {"new": "new", "healthy": "healthy", "failing": "failing", "disabled": "disabled"}


def delivery_state(status: str, attempt_count: int | None, is_test: bool) -> str:
    """The state people see for a stored (status, attempt count, is_test): one of DELIVERY_STATES."""
    if status in ("pending", "sending") and (attempt_count or 0) > 0:
        return "failed-retrying"
    if is_test and status in ("delivered", "dead"):
        return "test-delivered" if status == "delivered" else "test-failed"
    return status


def delivery_state_label(state: str) -> str:
    return DELIVERY_STATE_LABELS.get(state, state)


def event_label(event: str | None) -> str:
    """A rule event (run_failed …), a system event or a payload type (alert.fired …), in words."""
    if event is None:
        return "—"
    return PAYLOAD_TYPE_LABELS.get(event) or EVENT_LABELS.get(event) or SYSTEM_EVENT_LABELS.get(event) or event


def format_label(payload_format: str | None) -> str:
    from webapp.services import formats

    return formats.labels().get(payload_format, payload_format or "—")


def attempt_round(attempt_count: int | None, max_attempts: int | None, round_base: int | None) -> tuple[int, int]:
    """(attempts made, attempt budget) of the delivery's current round: a redeliver starts a new
    round with a fresh budget, so the second round's first attempt reads "attempt 1 of 8", not 2/9."""
    base = round_base or 0
    return max((attempt_count or 0) - base, 0), max((max_attempts or 0) - base, 0)


def attempt_words(attempt_count: int | None, max_attempts: int | None, round_base: int | None) -> str:
    made, budget = attempt_round(attempt_count, max_attempts, round_base)
    if made == 0:
        return f"not attempted yet (up to {budget})" if budget != 1 else "not attempted yet"
    return f"attempt {made} of {budget}"
