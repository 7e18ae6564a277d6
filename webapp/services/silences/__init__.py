"""Silences: create, change, end and delete them (validated, scoped to one workspace, audited).
Raising alerts consults them (`holding.check`); the release job delivers what they held
(`holding.release_ended`). Moments come in as datetimes or as text read in the caller's zone
(`timeutil.parse_local`: an API's RFC 3339 text carries its own offset)."""
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp import validators
from webapp.extensions import db
from webapp.models import Endpoint, Rule, Silence
from webapp.services import audit
from webapp.services.alerting.rules import JOB_FILTER_PATTERN, MAX_JOB_FILTER
from webapp.services.silences.windows import WEEKDAYS, describe_weekly
from webapp.timeutil import InvalidMoment, isoformat, parse_local, utcnow, zone_or_none

FIELDS = ("job_filter", "rule_id", "endpoint_id", "starts_at", "ends_at", "weekly", "comment")
WEEKLY_FIELDS = ("weekdays", "start_time", "end_time", "timezone")
MAX_COMMENT = 500
CLOCK_PATTERN = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_DAY_NAMES = {name: short for short in WEEKDAYS
              for name in (short, {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
                                   "fri": "friday", "sat": "saturday", "sun": "sunday"}[short])}


class InvalidSilence(ValueError):
    """Input refused, with one user-facing message per field (form errors / API `fields`)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


# --- validation ------------------------------------------------------------------------------

def _job_filter(value) -> str | None:
    """A glob on the job's slug, as rules take; "*" stays "*" here (every job)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("The job filter must be text, e.g. billing-*.")
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_JOB_FILTER:
        raise ValueError(f"The job filter is longer than {MAX_JOB_FILTER} characters.")
    if not JOB_FILTER_PATTERN.fullmatch(value):
        raise ValueError("Use letters, digits, . _ - and the wildcards * ? [ ] only.")
    return value


def _row_id(workspace_id: int, model, value, noun: str) -> int | None:
    """An id of a live row of this workspace; a foreign id reads as unknown, never as foreign."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Give the {noun}'s id (a whole number).")
    conditions = [model.id == value, model.workspace_id == workspace_id]
    if hasattr(model, "deleted_at"):
        conditions.append(model.deleted_at.is_(None))
    if not validators.is_id(value) or db.session.scalar(sa.select(model.id).where(*conditions)) is None:
        raise ValueError(f"No {noun} {value} in this workspace.")
    return value


def _moment(value, zone, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if value == "now":
        return now
    if not isinstance(value, str):
        raise ValueError("Give a date and time, e.g. 2026-11-24T09:00:00Z.")
    try:
        return parse_local(value, zone)
    except InvalidMoment as error:
        raise ValueError(f"{error}.") from None


def _weekly(value) -> dict | None:
    """{"weekdays": ["mon", …], "start_time": "HH:MM", "end_time": "HH:MM", "timezone": IANA}."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('Give {"weekdays", "start_time", "end_time", "timezone"} or null.')
    unknown = sorted(set(value) - set(WEEKLY_FIELDS))
    missing = [name for name in WEEKLY_FIELDS if value.get(name) in (None, "", [])]
    if unknown or missing:
        raise ValueError(f"Unknown: {', '.join(unknown)}." if unknown else f"Missing: {', '.join(missing)}.")
    days = value["weekdays"]
    if not isinstance(days, list) or not all(isinstance(day, str) and day.strip().lower() in _DAY_NAMES
                                             for day in days):
        raise ValueError("weekdays: a list of mon, tue, wed, thu, fri, sat, sun.")
    chosen = {_DAY_NAMES[day.strip().lower()] for day in days}
    for name in ("start_time", "end_time"):
        if not isinstance(value[name], str) or not CLOCK_PATTERN.fullmatch(value[name].strip()):
            raise ValueError(f"{name}: a time of day as HH:MM, e.g. 22:00.")
    zone = zone_or_none(value["timezone"] if isinstance(value["timezone"], str) else None)
    if zone is None:
        raise ValueError("timezone: an IANA time zone name, e.g. Europe/Paris.")
    return {"weekdays": [day for day in WEEKDAYS if day in chosen], "start_time": value["start_time"].strip(),
            "end_time": value["end_time"].strip(), "timezone": zone.key}


def _comment(value) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("The comment must be text.")
    if len(value.strip()) > MAX_COMMENT:
        raise ValueError(f"The comment is longer than {MAX_COMMENT} characters.")
    return value.strip()


def validate(workspace_id: int, data: dict, *, zone=UTC, now: datetime | None = None,
             creating: bool = True, trusted: frozenset[str] = frozenset()) -> dict:
    """Every field of a silence, cleaned, from a complete input; raises InvalidSilence listing
    every bad field. A silence names at least one of job_filter, rule_id, endpoint_id; a one-off
    needs `ends_at`; `starts_at` defaults to now. A new silence must end in the future; a change
    may set `ends_at` to now or earlier, which ends it (an upcoming one then never starts).
    `trusted` fields are taken as they are (a change's stored values: the rule or endpoint
    they name may have been deleted since, and ending the silence must still work)."""
    now = now or utcnow()
    cleaned, errors = {}, {}
    checks = {"job_filter": lambda: _job_filter(data.get("job_filter")),
              "rule_id": lambda: _row_id(workspace_id, Rule, data.get("rule_id"), "rule"),
              "endpoint_id": lambda: _row_id(workspace_id, Endpoint, data.get("endpoint_id"), "endpoint"),
              "starts_at": lambda: _moment(data.get("starts_at"), zone, now),
              "ends_at": lambda: _moment(data.get("ends_at"), zone, now),
              "weekly": lambda: _weekly(data.get("weekly")), "comment": lambda: _comment(data.get("comment"))}
    for name, check in checks.items():
        if name in trusted:  # the stored value of a field a change leaves alone
            cleaned[name] = data.get(name)
            continue
        try:
            cleaned[name] = check()
        except ValueError as error:
            errors[name] = str(error)
    if not errors and cleaned["job_filter"] is None and cleaned["rule_id"] is None and cleaned["endpoint_id"] is None:
        errors["job_filter"] = "Say what to silence: a job filter (* for every job), a rule or an endpoint."
    if errors:
        raise InvalidSilence(errors)
    cleaned["starts_at"] = cleaned["starts_at"] or now
    ends_at = cleaned["ends_at"]
    if ends_at is None and cleaned["weekly"] is None:
        errors["ends_at"] = "A one-off silence needs an end (or make it weekly)."
    elif ends_at is not None and creating and ends_at <= now:
        errors["ends_at"] = "The end is in the past: this silence would never hold anything."
    elif ends_at is not None and ends_at <= cleaned["starts_at"]:
        if ends_at <= now:
            cleaned["starts_at"] = ends_at  # ended before it began
        else:
            errors["ends_at"] = "The end must be after the start."
    if errors:
        raise InvalidSilence(errors)
    return cleaned


# --- changes ---------------------------------------------------------------------------------

def summary(silence: Silence) -> str:
    """"job billing-* · rule 3 · endpoint 2, weekly mon 22:00–06:00 Europe/Paris" for the audit log."""
    what = " · ".join(part for part in (
        f"job {silence.job_filter}" if silence.job_filter else "", f"rule {silence.rule_id}" if silence.rule_id else "",
        f"endpoint {silence.endpoint_id}" if silence.endpoint_id else "") if part)
    when = (f"weekly {describe_weekly(silence.weekly)}" if silence.weekly
            else f"{isoformat(silence.starts_at)} – {isoformat(silence.ends_at)}")
    return f"{what}, {when}"


def _audit(silence: Silence, action: str, user_id, client_ip, words: str) -> None:
    audit.record(workspace_id=silence.workspace_id, user_id=user_id, action=action, object_type="silence",
                 object_id=silence.id, summary=f"{words} silence #{silence.id}: {summary(silence)}",
                 client_ip=client_ip)


def create(workspace_id: int, data: dict, *, user_id: int | None, client_ip: str | None = None,
           zone=UTC, now: datetime | None = None) -> Silence:
    """A new silence (flushed, audited); the caller commits."""
    cleaned = validate(workspace_id, data, zone=zone, now=now)
    silence = Silence(workspace_id=workspace_id, created_by_id=user_id, created_at=now or utcnow(), **cleaned)
    db.session.add(silence)
    db.session.flush()
    _audit(silence, "silence.create", user_id, client_ip, "created")
    return silence


def update(silence: Silence, data: dict, *, user_id: int | None, client_ip: str | None = None,
           zone=UTC, now: datetime | None = None) -> bool:
    """Change the fields in `data` (the merged silence is validated whole); whether anything changed."""
    merged = {name: getattr(silence, name) for name in FIELDS} | data
    cleaned = validate(silence.workspace_id, merged, zone=zone, now=now, creating=False,
                       trusted=frozenset(set(FIELDS) - set(data)))
    changed = {name: value for name, value in cleaned.items() if getattr(silence, name) != value}
    if not changed:
        return False
    for name, value in changed.items():
        setattr(silence, name, value)
    db.session.flush()
    ended = "ends_at" in changed and silence.ends_at is not None and silence.ends_at <= (now or utcnow())
    _audit(silence, "silence.end" if ended else "silence.update", user_id, client_ip, "ended" if ended else "changed")
    return True


def end_now(silence: Silence, *, user_id: int | None, client_ip: str | None = None,
            now: datetime | None = None) -> bool:
    """End the silence at once ("End now", or PATCH `ends_at` to now); False when it had ended
    already. An upcoming silence ended this way never starts."""
    now = now or utcnow()
    if silence.ends_at is not None and silence.ends_at <= now:
        return False
    silence.ends_at = now
    silence.starts_at = min(silence.starts_at, now)
    db.session.flush()
    _audit(silence, "silence.end", user_id, client_ip, "ended")
    return True


def delete(silence: Silence, *, user_id: int | None, client_ip: str | None = None) -> None:
    """Delete it: what it held is released by the next pass of the release job."""
    _audit(silence, "silence.delete", user_id, client_ip, "deleted")
    db.session.delete(silence)
    db.session.flush()


QUICK_CHOICES = ("1h", "tomorrow")


def quick_end(choice: str, zone, now: datetime | None = None) -> datetime:
    """The end of a quick silence: in one hour, or tomorrow at 09:00 on the reader's clock."""
    now = now or utcnow()
    if choice == "1h":
        return now + timedelta(hours=1)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=zone).astimezone(UTC)
