"""One clock and one datetime column type, so every datetime Tocsin handles is UTC-aware."""
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa


def utcnow() -> datetime:
    """The current time, UTC-aware. Use this, never datetime.now() or utcnow()."""
    return datetime.now(UTC)


def isoformat(value: datetime | None) -> str | None:
    """RFC 3339 with a Z suffix, as the API and payloads show times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class UTCDateTime(sa.types.TypeDecorator):
    """Stores UTC; SQLite drops the zone, so values read back are made UTC-aware again."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; use timeutil.utcnow()")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# --- Time zones: what people see is in their zone; what is stored and compared stays UTC. ---

ZONE_NAME_MAX = 64


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Every IANA zone this machine knows, sorted (the account page's choices)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The zone called `name` if it is a valid IANA name, else None (never raises)."""
    name = (name or "").strip()
    if not name or len(name) > ZONE_NAME_MAX or name not in zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def utc_offset_label(value: datetime) -> str:
    """`UTC+01:00` for an aware datetime (`UTC+05:30`, `UTC-03:00`, `UTC+00:00`)."""
    offset = value.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


class InvalidMoment(ValueError):
    """Text that is not a date or a date and time; the message says what was expected."""


def parse_local(text: str, zone: ZoneInfo | timezone, *, inclusive_end: bool = False) -> datetime:
    """A moment typed by a person, as UTC: `2026-11-24` (midnight), `2026-11-24T09:00` or
    `2026-11-24 09:00[:05]` in `zone`, or an ISO datetime with its own offset (`…Z`, `…+01:00`),
    which wins over `zone`. With `inclusive_end` (an "until"), a bare date or minute means its
    last instant: `2026-11-24` → 23:59:59.999999, `…T09:00` → 09:00:59.999999."""
    cleaned = (text or "").strip()
    if len(cleaned) > 10 and cleaned[10] == " ":
        cleaned = cleaned[:10] + "T" + cleaned[11:]
    cleaned = cleaned.replace(" ", "+")  # an unencoded "+01:00" arrives as " 01:00" in a query string
    if cleaned.endswith(("z", "Z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        if len(cleaned) == 10:
            day = date.fromisoformat(cleaned)
            moment = datetime.combine(day, time(0), zone)
            if inclusive_end:
                moment = datetime.combine(day + timedelta(days=1), time(0), zone) - timedelta(microseconds=1)
            return moment.astimezone(UTC)
        if len(cleaned) < 16 or cleaned[10] != "T":
            raise ValueError("has no date and time")
        moment = datetime.fromisoformat(cleaned)
        if inclusive_end and len(cleaned) in (16, 22) and moment.second == 0 and moment.microsecond == 0:
            moment += timedelta(minutes=1, microseconds=-1)  # `…T09:00` or `…T09:00+01:00`
    except (ValueError, OverflowError):
        shown = (text or "").strip()[:40]
        raise InvalidMoment(f"{shown!r} is not a date (2026-11-24) or a date and time (2026-11-24T09:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidMoment(f"{(text or '').strip()[:40]!r} is outside the calendar") from None


def local_input_value(moment: datetime | None, zone: ZoneInfo | timezone) -> str:
    """The value an `<input type="datetime-local">` shows for a UTC moment, in `zone`."""
    if moment is None:
        return ""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
