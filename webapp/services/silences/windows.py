"""When a silence is in force: one-off windows in UTC, weekly windows on the wall clock of
their own time zone (zoneinfo), so a window "Mon–Fri 22:00–06:00 Europe/Paris" stays 22:00
Paris time on both sides of a daylight-saving change."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
STATES = ("active", "upcoming", "expired")


def clock(text: str) -> time:
    """"22:00" → time(22, 0); the text was validated when the silence was saved."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def in_weekly_window(weekly: dict, moment: datetime) -> bool:
    """Whether `moment` falls in a weekly window. A window whose end is not after its start
    crosses midnight: it begins on a listed day and ends the next day (equal times: 24 hours).
    Times are compared on the local wall clock, so a window is the same local hours all year;
    in a spring-forward gap it begins when the clock resumes, in a fall-back hour it holds twice."""
    local = moment.astimezone(ZoneInfo(weekly["timezone"]))
    days = {WEEKDAYS.index(day) for day in weekly["weekdays"]}
    start, end, now = clock(weekly["start_time"]), clock(weekly["end_time"]), local.time().replace(tzinfo=None)
    if start < end:
        return local.weekday() in days and start <= now < end
    return (local.weekday() in days and now >= start) or ((local.weekday() - 1) % 7 in days and now < end)


def is_active(silence, moment: datetime) -> bool:
    """In force at `moment`: between `starts_at` and `ends_at` (open-ended when null), and
    inside its weekly window when it has one."""
    if moment < silence.starts_at or (silence.ends_at is not None and moment >= silence.ends_at):
        return False
    return silence.weekly is None or in_weekly_window(silence.weekly, moment)


def state(silence, moment: datetime) -> str:
    """active, upcoming (not yet begun, or a weekly silence between two windows) or expired."""
    if silence.ends_at is not None and moment >= silence.ends_at:
        return "expired"
    return "active" if is_active(silence, moment) else "upcoming"


def next_start(silence, moment: datetime) -> datetime | None:
    """When an upcoming silence next comes into force (None when it never will)."""
    if silence.weekly is None:
        return silence.starts_at if silence.starts_at > moment else None
    weekly = silence.weekly
    zone = ZoneInfo(weekly["timezone"])
    start = clock(weekly["start_time"])
    earliest = max(moment, silence.starts_at)
    local_day = earliest.astimezone(zone).date()
    for offset in range(-1, 9):
        day = local_day + timedelta(days=offset)
        if WEEKDAYS[day.weekday()] not in weekly["weekdays"]:
            continue
        begins = datetime.combine(day, start, zone)
        if begins >= earliest and (silence.ends_at is None or begins < silence.ends_at):
            return begins
    return None


def describe_weekly(weekly: dict) -> str:
    """"mon, tue 22:00–06:00 Europe/Paris"."""
    return f"{', '.join(weekly['weekdays'])} {weekly['start_time']}–{weekly['end_time']} {weekly['timezone']}"
