"""Alert rules' life cycle, shared by the settings pages and the JSON API.

One validation (`validate`) serves both, so a rule the form refuses is refused by the API with
the same words. Every change is audited here. Deleting a rule keeps its alerts and deliveries
(their `rule_id` becomes NULL).
"""
import re

import sqlalchemy as sa

from webapp import validators
from webapp.extensions import db
from webapp.models import (
    DEFAULT_CONSECUTIVE_COUNT,
    EVENT_LABELS,
    RULE_EVENTS,
    SEVERITIES,
    SYSTEM_EVENTS,
    Endpoint,
    Rule,
)
from webapp.services import audit
from webapp.timeutil import utcnow

# The one parameter each event needs (events not listed need none).
EVENT_PARAMETER = {"run_slow": "threshold_seconds", "consecutive_failures": "consecutive_count"}
JOB_FILTER_PATTERN = re.compile(r"[A-Za-z0-9._*?\[\]-]+")
MAX_JOB_FILTER = 200
MAX_THRESHOLD_SECONDS = 30 * 86400
MIN_CONSECUTIVE_COUNT, MAX_CONSECUTIVE_COUNT = 2, 100
MAX_ATTEMPTS = 20
DEFAULT_COOLDOWN_SECONDS, MAX_COOLDOWN_SECONDS = 300, 7 * 86400
DEFAULT_SEVERITY = "warning"
MIN_REPEAT_INTERVAL_SECONDS, MAX_REPEAT_INTERVAL_SECONDS = 10, 7 * 86400
FIELDS = ("name", "event", "job_filter", "threshold_seconds", "consecutive_count", "severity",
          "endpoint_ids", "max_attempts", "cooldown_seconds", "notify_on_resolve", "repeat_interval_seconds",
          "is_active")


class InvalidRule(ValueError):
    """Input refused, with one user-facing message per field (form errors / API `fields`)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


# --- validation ------------------------------------------------------------------------------

def _whole_number(value, label: str, low: int, high: int) -> int:
    """Ints only: JSON strings, floats and booleans are refused rather than guessed at."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{label} must be a whole number.")
    if not low <= value <= high:
        raise ValueError(f"{label} must be between {low} and {high}.")
    return value


def _name(value) -> str:
    if value is not None and not isinstance(value, str):
        raise ValueError("The name must be text.")
    if not value or not value.strip():
        raise ValueError("Give the rule a name.")
    if len(value.strip()) > 100:
        raise ValueError("The name is longer than 100 characters.")
    return value.strip()


def _job_filter(value) -> str | None:
    """None means every job; "*" is stored as None too, since it says the same thing."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("The job filter must be text, e.g. billing-*.")
    value = value.strip()
    if not value or value == "*":
        return None
    if len(value) > MAX_JOB_FILTER:
        raise ValueError(f"The job filter is longer than {MAX_JOB_FILTER} characters.")
    if not JOB_FILTER_PATTERN.fullmatch(value):
        raise ValueError("Use letters, digits, . _ - and the wildcards * ? [ ] only.")
    return value


def _endpoint_ids(workspace_id: int, value, required: bool) -> list[int]:
    """Live endpoints of this workspace only; a foreign id reads as unknown, never as foreign."""
    if value is None:
        value = []
    if not isinstance(value, list | tuple) or any(isinstance(item, bool) or not isinstance(item, int)
                                                  for item in value):
        raise ValueError("Give a list of endpoint ids.")
    wanted = list(dict.fromkeys(value))
    if not wanted:
        if required:
            raise ValueError("Choose at least one endpoint.")
        return []
    possible = [item for item in wanted if validators.is_id(item)]  # an id past MAX_ID names no row
    live = set(db.session.scalars(sa.select(Endpoint.id).where(
        Endpoint.workspace_id == workspace_id, Endpoint.deleted_at.is_(None), Endpoint.id.in_(possible))))
    unknown = [str(item) for item in wanted if item not in live]
    if unknown:
        noun = "endpoint" if len(unknown) == 1 else "endpoints"
        raise ValueError(f"Unknown {noun}: {', '.join(unknown)}.")
    return wanted


def validate(workspace_id: int, data: dict, *, endpoints_required: bool = True) -> dict:
    """Every field of a rule, cleaned, from a complete input (defaults fill what is missing);
    raises InvalidRule listing every bad field. A parameter the event does not use is cleared."""
    cleaned, errors = {}, {}

    def check(name, function, *args):
        try:
            cleaned[name] = function(*args)
        except ValueError as error:
            errors[name] = str(error)

    check("name", _name, data.get("name"))
    event = data.get("event")
    if event not in RULE_EVENTS:
        errors["event"] = f"Choose one of: {', '.join(RULE_EVENTS)}."
    else:
        cleaned["event"] = event
    check("job_filter", _job_filter, data.get("job_filter"))
    if event in SYSTEM_EVENTS:  # about alerting itself, not a job: the filter is ignored
        errors.pop("job_filter", None)
        cleaned["job_filter"] = None
    cleaned["threshold_seconds"] = cleaned["consecutive_count"] = None
    if event == "run_slow":
        if data.get("threshold_seconds") is None:
            errors["threshold_seconds"] = "A slow-run rule needs a threshold in seconds."
        else:
            check("threshold_seconds", _whole_number, data["threshold_seconds"], "The threshold",
                  1, MAX_THRESHOLD_SECONDS)
    if event == "consecutive_failures":
        count = data.get("consecutive_count")
        check("consecutive_count", _whole_number, DEFAULT_CONSECUTIVE_COUNT if count is None else count,
              "The number of failures", MIN_CONSECUTIVE_COUNT, MAX_CONSECUTIVE_COUNT)
    severity = data.get("severity")
    if severity is None:
        severity = DEFAULT_SEVERITY
    if severity not in SEVERITIES:
        errors["severity"] = f"Choose one of: {', '.join(SEVERITIES)}."
    else:
        cleaned["severity"] = severity
    check("endpoint_ids", _endpoint_ids, workspace_id, data.get("endpoint_ids"), endpoints_required)
    attempts, cooldown = data.get("max_attempts"), data.get("cooldown_seconds")
    cleaned["max_attempts"] = None  # null: each endpoint's own attempt budget
    if attempts is not None:
        check("max_attempts", _whole_number, attempts, "Maximum attempts", 1, MAX_ATTEMPTS)
    check("cooldown_seconds", _whole_number, DEFAULT_COOLDOWN_SECONDS if cooldown is None else cooldown,
          "The cooldown", 0, MAX_COOLDOWN_SECONDS)
    repeat = data.get("repeat_interval_seconds")
    cleaned["repeat_interval_seconds"] = None
    if repeat is not None:  # null: never repeat
        check("repeat_interval_seconds", _whole_number, repeat, "The repeat interval",
              MIN_REPEAT_INTERVAL_SECONDS, MAX_REPEAT_INTERVAL_SECONDS)
    for name in ("notify_on_resolve", "is_active"):
        value = data.get(name, True)
        if not isinstance(value, bool):
            errors[name] = "Must be true or false."
        else:
            cleaned[name] = value
    if errors:
        raise InvalidRule(errors)
    return cleaned


# --- reading ---------------------------------------------------------------------------------

def live_endpoint_ids(rule: Rule) -> list[int]:
    return [endpoint.id for endpoint in rule.endpoints if endpoint.deleted_at is None]


def as_input(rule: Rule) -> dict:
    """The rule's current values in `validate`'s input shape (to merge a partial change into)."""
    values = {name: getattr(rule, name) for name in FIELDS if name != "endpoint_ids"}
    values["endpoint_ids"] = live_endpoint_ids(rule)
    return values


def duration_words(seconds: int) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds >= 120 and seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def describe_event(rule: Rule) -> str:
    """The event with its parameter in words, as the list and detail pages show it."""
    if rule.event == "run_slow":
        return f"run slower than {duration_words(rule.threshold_seconds or 0)}"
    if rule.event == "consecutive_failures":
        return f"{rule.consecutive_count} failures in a row"
    if rule.event in SYSTEM_EVENTS:
        return f"system: {EVENT_LABELS[rule.event].lower()}"
    return EVENT_LABELS[rule.event].lower() if rule.event in EVENT_LABELS else rule.event


# --- life cycle ------------------------------------------------------------------------------

def _endpoints(workspace_id: int, ids: list[int]) -> list[Endpoint]:
    if not ids:
        return []
    rows = db.session.scalars(sa.select(Endpoint).where(Endpoint.workspace_id == workspace_id,
                                                        Endpoint.id.in_(ids))).all()
    by_id = {endpoint.id: endpoint for endpoint in rows}
    return [by_id[endpoint_id] for endpoint_id in ids if endpoint_id in by_id]


def _audit(rule: Rule, user_id: int | None, client_ip: str | None, action: str, summary: str,
           changes: dict | None = None) -> None:
    audit.record(workspace_id=rule.workspace_id, user_id=user_id, action=f"rule.{action}",
                 object_type="rule", object_id=rule.id, summary=summary, client_ip=client_ip,
                 changes=changes, object_name=rule.name)


def create_rule(workspace_id: int, data: dict, *, user_id: int | None = None,
                client_ip: str | None = None) -> Rule:
    """Validate and add a rule (flushed, audited); the caller commits."""
    cleaned = validate(workspace_id, data)
    endpoint_ids = cleaned.pop("endpoint_ids")
    rule = Rule(workspace_id=workspace_id, created_by_id=user_id, **cleaned)
    rule.endpoints = _endpoints(workspace_id, endpoint_ids)
    db.session.add(rule)
    db.session.flush()
    _audit(rule, user_id, client_ip, "create",
           f"created rule {rule.name!r}: {describe_event(rule)} of {rule.job_filter or 'all jobs'}, "
           f"{rule.severity}, to endpoints {', '.join(f'#{i}' for i in endpoint_ids)}")
    return rule


def update_rule(rule: Rule, changes: dict, *, user_id: int | None = None,
                client_ip: str | None = None) -> list[str]:
    """Merge `changes` into the rule and validate the result as a whole; returns the names of
    the fields that changed (audited when any did). A rule that lost every endpoint to deletions
    may still be edited without choosing one (the form always sends its empty endpoint list);
    a rule that has endpoints cannot be left without any."""
    merged = {**as_input(rule), **changes}
    required = bool(live_endpoint_ids(rule))
    cleaned = validate(rule.workspace_id, merged, endpoints_required=required)
    changed, recorded = [], {}
    for name in FIELDS:
        if name == "endpoint_ids":
            before = live_endpoint_ids(rule)
            if set(cleaned[name]) != set(before):
                rule.endpoints = _endpoints(rule.workspace_id, cleaned[name])
                changed.append(name)
                recorded[name] = audit.change(sorted(before), sorted(cleaned[name]))
        elif getattr(rule, name) != cleaned[name]:
            recorded[name] = audit.change(getattr(rule, name), cleaned[name])
            setattr(rule, name, cleaned[name])
            changed.append(name)
    if changed:
        rule.updated_at = utcnow()
        db.session.flush()
        _audit(rule, user_id, client_ip, "update", f"changed {', '.join(changed)} of rule {rule.name!r}",
               changes=recorded)
    return changed


def set_active(rule: Rule, active: bool, *, user_id: int | None = None, client_ip: str | None = None) -> bool:
    """Resume or pause a rule; returns whether it changed (a no-op is not audited)."""
    if rule.is_active == active:
        return False
    rule.is_active = active
    rule.updated_at = utcnow()
    _audit(rule, user_id, client_ip, "enable" if active else "disable",
           f"{'resumed' if active else 'paused'} rule {rule.name!r}")
    return True


def delete_rule(rule: Rule, *, user_id: int | None = None, client_ip: str | None = None) -> None:
    """Delete the rule; its alerts and deliveries stay in the history without it."""
    _audit(rule, user_id, client_ip, "delete", f"deleted rule {rule.name!r} ({describe_event(rule)})")
    db.session.delete(rule)
    db.session.flush()
