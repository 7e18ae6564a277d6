"""An endpoint's delivery policy — retry delays, attempt budget, history limit — checked with
one message per field (the receiver's nature decides how to retry: a chat channel wants a
quick few, a ticket system patience). Called from `validation.validate`, so the settings form
and the JSON API refuse the same values with the same words."""
from webapp.services.alerting.rules import duration_words
from webapp.services.delivery import backoff, retry_policy

MAX_DELAYS = 20
MAX_DELAY_SECONDS = 86_400
MAX_ATTEMPTS = 20
MAX_HISTORY_LIMIT = 1_000_000
FIELDS = ("retry_delays_seconds", "max_attempts", "history_limit")


def _whole_number(value) -> int | None:
    """The value as an int when it is one (an int, or digits in a string from a form), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def check_delays(value) -> list[int] | None:
    """None (the default schedule) or a list of 1–20 whole delays of 1–86,400 s each."""
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise ValueError("give a list of delays in seconds, e.g. [1, 2, 4], or null for the default schedule")
    if not 1 <= len(value) <= MAX_DELAYS:
        raise ValueError(f"give 1–{MAX_DELAYS} delays")
    delays = [_whole_number(item) for item in value]
    if any(delay is None or not 1 <= delay <= MAX_DELAY_SECONDS for delay in delays):
        raise ValueError(f"each delay must be 1–{MAX_DELAY_SECONDS:,} seconds")
    return delays


def parse_delays(text: str | None) -> list[int]:
    """"1, 2, 4" (commas or spaces) → [1, 2, 4], for the form; the same checks as the API."""
    parts = [part for part in (text or "").replace(",", " ").split() if part]
    if not parts:
        raise ValueError("list the delays in seconds, e.g. “1, 2, 4”")
    return check_delays(parts)


def check_max_attempts(value) -> int:
    attempts = _whole_number(value)
    if attempts is None or not 1 <= attempts <= MAX_ATTEMPTS:
        raise ValueError(f"the attempt budget must be a whole number from 1 to {MAX_ATTEMPTS}")
    return attempts


def check_history_limit(value) -> int | None:
    """None (keep by age only) or how many finished deliveries of the endpoint to keep."""
    if value is None or value == "":
        return None
    limit = _whole_number(value)
    if limit is None or not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ValueError(f"the history limit must be a whole number from 1 to {MAX_HISTORY_LIMIT:,}, "
                         "or empty to keep deliveries by age only")
    return limit


CHECKS = {"retry_delays_seconds": check_delays, "max_attempts": check_max_attempts,
          "history_limit": check_history_limit}


def validate(data: dict, cleaned: dict, errors: dict) -> None:
    """Check the policy fields present in `data`; fill `cleaned` or `errors` (validation.validate's)."""
    for name, check in CHECKS.items():
        if name in data:
            try:
                cleaned[name] = check(data[name])
            except ValueError as error:
                errors[name] = str(error)



# --- in plain words, for the pages -------------------------------------------------------------

def delays_in_words(delays) -> str:
    """"1 s, 2 s, 4 s, then every 4 s"; None: the default schedule's words."""
    if not delays:
        return ", ".join(duration_words(delay) for delay in backoff.SCHEDULE_SECONDS) + \
            f", then every {duration_words(backoff.EVERY_LATER_SECONDS)}"
    return ", ".join(duration_words(delay) for delay in delays) + f", then every {duration_words(delays[-1])}"


def describe_retries(endpoint) -> str:
    """The endpoint's retry policy in one sentence (the endpoint page)."""
    name = retry_policy.preset_of(endpoint.retry_delays_seconds)
    return (f"{name.capitalize()}: waits {delays_in_words(endpoint.retry_delays_seconds)} (±20 %); "
            f"up to {endpoint.max_attempts} attempts per alert unless its rule sets its own.")


def describe_history(endpoint, history_days: float) -> str:
    days = f"{history_days:g} days"
    if endpoint.history_limit is None:
        return f"Finished deliveries are kept {days}."
    return f"The newest {endpoint.history_limit:,} finished deliveries are kept, none longer than {days}."


def words(endpoint, history_days: float) -> dict[str, str]:
    """`retry_words` and `history_words` for the endpoint page."""
    return {"retry_words": describe_retries(endpoint), "history_words": describe_history(endpoint, float(history_days))}
