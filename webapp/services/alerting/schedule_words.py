"""A schedule and its next slot in plain words, in the job's time zone:
"every 15 minutes; next expected 10:15 CET, late after 10:20". Shared by the job pages, the
flash after a change and the missed-run alert's message."""
import re
from datetime import datetime

from webapp.services.alerting.schedules import zone_of

DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
_NUMBER = re.compile(r"\d{1,2}")
_EVERY = re.compile(r"\*/(\d{1,2})")
_DAY_LIST = re.compile(r"[0-7](-[0-7])?(,[0-7](-[0-7])?)*")


def _plural(count: int, unit: str) -> str:
    return unit if count == 1 else f"{count} {unit}s"


def interval_words(seconds: int) -> str:
    """"30 seconds", "minute", "15 minutes", "2 hours", "day" (to follow "every")."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds % size == 0:
            return _plural(seconds // size, unit)
    return _plural(seconds, "second")


def _days(field: str) -> str:
    def day(number: str) -> str:
        return DAYS[int(number) % 7]
    parts = []
    for part in field.split(","):
        first, _, last = part.partition("-")
        parts.append(f"{day(first)}–{day(last)}" if last else day(first))
    return ", ".join(parts)


def cron_words(expression: str) -> str:
    """Common five-field patterns in words; anything else as the expression itself."""
    minute, hour, day, month, weekday = expression.split()
    if (day, month) != ("*", "*") and not (_NUMBER.fullmatch(day) and month == "*" and weekday == "*"):
        return f"cron “{expression}”"
    if (minute, hour, weekday) == ("*", "*", "*") and day == "*":
        return "every minute"
    if (match := _EVERY.fullmatch(minute)) and (hour, day, weekday) == ("*", "*", "*"):
        return f"every {_plural(int(match.group(1)), 'minute')}"
    if not _NUMBER.fullmatch(minute):
        return f"cron “{expression}”"
    if (hour, day, weekday) == ("*", "*", "*"):
        return f"every hour at :{int(minute):02d}"
    if (match := _EVERY.fullmatch(hour)) and (day, weekday) == ("*", "*"):
        return f"every {_plural(int(match.group(1)), 'hour')} at :{int(minute):02d}"
    if not _NUMBER.fullmatch(hour):
        return f"cron “{expression}”"
    at = f"{int(hour):02d}:{int(minute):02d}"
    if day != "*":
        return f"at {at} on day {int(day)} of each month"
    if weekday == "*":
        return f"every day at {at}"
    if _DAY_LIST.fullmatch(weekday):
        return f"at {at} on {_days(weekday)}"
    return f"cron “{expression}”"


def schedule_words(schedule: dict | None) -> str:
    """"every 30 seconds", "every day at 02:00", … or "no schedule"."""
    if not schedule:
        return "no schedule"
    if "every_seconds" in schedule:
        return f"every {interval_words(schedule['every_seconds'])}"
    return cron_words(schedule["cron"])


def local_time(schedule: dict, moment: datetime, now: datetime | None = None, *, zone_name: bool = True) -> str:
    """A moment as the job's people read it: "02:00 CET", "10:15:30 UTC", with the date
    ("Mon 30 Mar 02:30 CEST") when it is not on `now`'s day in that zone."""
    zone = zone_of(schedule)
    local = moment.astimezone(zone)
    text = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"
    if now is not None and now.astimezone(zone).date() != local.date():
        text = f"{DAYS[(local.isoweekday()) % 7]} {local.day} {local:%b} {text}"
    return f"{text} {local.tzname()}" if zone_name else text


def preview(schedule: dict | None, grace_seconds: int, expected_at: datetime | None,
            missing_after: datetime | None, now: datetime, *, is_paused: bool = False) -> str:
    """The schedule and its next slot: "every 15 minutes; next expected 10:15 CET, late after 10:20"."""
    words = schedule_words(schedule)
    if not schedule:
        return words
    if is_paused:
        return f"{words}; paused: no runs are expected"
    if expected_at is None or missing_after is None:
        return words
    expected = local_time(schedule, expected_at, now)
    late_zone = missing_after.astimezone(zone_of(schedule)).tzname() != expected_at.astimezone(zone_of(schedule)).tzname()
    late = local_time(schedule, missing_after, now, zone_name=late_zone)
    return f"{words}; next expected {expected}, late after {late}"
