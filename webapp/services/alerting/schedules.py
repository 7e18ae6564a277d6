"""A job's expected schedule: validation, the next expected moment, and the schedule in words.

A schedule is `{"every_seconds": N}` (counted from the last report, or from when it was set) or
`{"cron": "<five fields>", "timezone": "<IANA name>"}`. Cron expressions are read by croniter
(a well-kept library, not a parser of ours) on the job's wall clock, and each wall-clock time is
then placed in its zone: a time that does not exist (the hour skipped when clocks go forward)
is skipped, and a time that happens twice (the hour repeated when they go back) fires once, at
its first occurrence. Every moment returned is UTC.
"""
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from croniter import CroniterBadDateError, CroniterError, croniter

from webapp.models import DEFAULT_GRACE_SECONDS

MAX_EVERY_SECONDS = 366 * 86400
MAX_GRACE_SECONDS = 366 * 86400
MAX_CRON_CHARS = 100
# Wall-clock candidates looked at for one answer: skipping nonexistent or already-passed
# ambiguous times needs a handful (at most ~60 for a per-minute cron in a repeated hour).
MAX_CANDIDATES = 1000


class InvalidSchedule(ValueError):
    """A schedule or grace refused, one message per field (`schedule.cron`, `grace_seconds`, …)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def validate_schedule(value) -> dict | None:
    """The cleaned schedule (None: unscheduled); raises InvalidSchedule naming the field."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidSchedule({"schedule": 'Must be an object: {"every_seconds": N} or '
                                           '{"cron": "*/15 * * * *", "timezone": "Europe/Berlin"}, or null.'})
    keys = set(value)
    if "every_seconds" in keys and keys & {"cron", "timezone"}:
        raise InvalidSchedule({"schedule": "Give either every_seconds or cron (with timezone), not both."})
    if "every_seconds" in keys:
        if keys != {"every_seconds"}:
            raise InvalidSchedule({"schedule": "Unknown fields: " + ", ".join(sorted(keys - {"every_seconds"}))})
        every = value["every_seconds"]
        if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= MAX_EVERY_SECONDS:
            raise InvalidSchedule({"schedule.every_seconds": f"Must be a whole number from 1 to {MAX_EVERY_SECONDS}."})
        return {"every_seconds": every}
    if "cron" not in keys:
        raise InvalidSchedule({"schedule": "Give every_seconds, or cron with a timezone."})
    if keys - {"cron", "timezone"}:
        raise InvalidSchedule({"schedule": "Unknown fields: " + ", ".join(sorted(keys - {"cron", "timezone"}))})
    errors: dict[str, str] = {}
    expression, zone = value["cron"], value.get("timezone") or "UTC"
    if not isinstance(zone, str) or zone not in _zone_names():
        errors["schedule.timezone"] = 'Must be an IANA time zone name, for example "Europe/Berlin" or "UTC".'
    if not isinstance(expression, str) or len(expression) > MAX_CRON_CHARS or len(expression.split()) != 5:
        errors["schedule.cron"] = ('Must be five cron fields (minute hour day-of-month month day-of-week), '
                                   'for example "*/15 * * * *".')
    elif not croniter.is_valid(expression):
        errors["schedule.cron"] = f'"{expression}" is not a valid cron expression.'
    if errors:
        raise InvalidSchedule(errors)
    cleaned = {"cron": " ".join(expression.split()), "timezone": zone}
    try:
        next_expected(cleaned, datetime.now(UTC))
    except (CroniterError, LookupError):
        raise InvalidSchedule({"schedule.cron": f'"{expression}" never matches a date.'}) from None
    return cleaned


def validate_grace(value) -> int:
    """Grace in seconds (default 300); raises InvalidSchedule for anything but a whole number ≥ 0."""
    if value is None:
        return DEFAULT_GRACE_SECONDS
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_GRACE_SECONDS:
        raise InvalidSchedule({"grace_seconds": f"Must be a whole number of seconds from 0 to {MAX_GRACE_SECONDS}."})
    return value


def zone_of(schedule: dict) -> ZoneInfo:
    """The zone the schedule's times are read and shown in (UTC for intervals)."""
    return ZoneInfo(schedule.get("timezone") or "UTC")


def next_expected(schedule: dict, after: datetime) -> datetime:
    """The first expected start strictly after `after` (UTC-aware), in UTC."""
    after = after.astimezone(UTC)
    if "every_seconds" in schedule:
        return after + timedelta(seconds=schedule["every_seconds"])
    zone = zone_of(schedule)
    # croniter walks the wall clock (naive times); each candidate is then placed in the zone.
    candidates = croniter(schedule["cron"], after.astimezone(zone).replace(tzinfo=None))
    for _ in range(MAX_CANDIDATES):
        moment = _wall_time_in_zone(candidates.get_next(datetime), zone)
        if moment is not None and moment > after:
            return moment
    raise CroniterBadDateError(f"no time found for {schedule['cron']!r} after {after:%Y-%m-%d %H:%M} UTC")


def _wall_time_in_zone(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC moment of a wall-clock time in `zone`: None if the clocks skip it, its first
    occurrence if they pass it twice."""
    first = wall.replace(tzinfo=zone, fold=0)
    moment = first.astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # in the gap when clocks go forward: this time never happens that day
    return moment


def moments(schedule: dict | None, grace_seconds: int, after: datetime) -> tuple[datetime | None, datetime | None]:
    """(expected_at, missing_after) of the next slot after `after`; (None, None) unscheduled."""
    if not schedule:
        return None, None
    expected = next_expected(schedule, after)
    return expected, expected + timedelta(seconds=grace_seconds)
