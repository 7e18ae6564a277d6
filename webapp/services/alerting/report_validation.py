"""What a run report may say: every field checked, every problem reported at once, per field."""
import json
import re
from datetime import datetime, timedelta

from webapp.models import RUN_STATUSES
from webapp.timeutil import utcnow

REPORT_FIELDS = {"job", "external_id", "deadline_seconds", "deadline_at", "status", "duration_ms",
                 "message", "metadata"}
FINISH_FIELDS = {"status", "duration_ms", "message"}
# verification_failed: the run finished, but its own check of its result failed.
FINISHED_STATUSES = ("succeeded", "failed", "verification_failed")
# Slugs are stored lower-case so `Nightly-Report` and `nightly-report` are one job and rule
# globs (matched case-sensitively) only ever need lower-case patterns.
SLUG_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
SLUG_RULE = ("Must be 1–100 characters: letters, digits, '.', '_' or '-', starting with a letter or "
             "digit (stored lower-case).")
MAX_DEADLINE_SECONDS = 7 * 24 * 3600
MAX_DURATION_MS = 366 * 24 * 3600 * 1000
MAX_MESSAGE_CHARS = 2000
MAX_METADATA_BYTES = 8 * 1024
MAX_EXTERNAL_ID_CHARS = 200


class InvalidReport(ValueError):
    """A run report refused, with one message per field (the API answers 400 `validation_error`)."""

    def __init__(self, message: str, fields: dict[str, str]):
        super().__init__(message)
        self.message, self.fields = message, fields


def validate_report(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean: dict = {}
    job = data.get("job")
    if job is None:
        errors["job"] = "Required: the job's slug, for example \"nightly-report\"."
    elif not isinstance(job, str) or not job.isascii() or not SLUG_PATTERN.fullmatch(job.lower()):
        errors["job"] = SLUG_RULE
    else:
        clean["job"] = job.lower()
    _choice(data, "status", RUN_STATUSES, clean, errors)
    _text(data, "external_id", MAX_EXTERNAL_ID_CHARS, clean, errors, allow_empty=False)
    _text(data, "message", MAX_MESSAGE_CHARS, clean, errors)
    _whole_number(data, "duration_ms", 0, MAX_DURATION_MS, clean, errors)
    if "duration_ms" in clean and clean.get("status", "running") == "running":
        errors["duration_ms"] = ("Only for a finished run: send it with status \"succeeded\", \"failed\" or "
                                 "\"verification_failed\".")
    _metadata(data, clean, errors)
    if data.get("deadline_seconds") is not None and data.get("deadline_at") is not None:
        errors["deadline_at"] = "Give deadline_seconds or deadline_at, not both."
    else:
        _whole_number(data, "deadline_seconds", 1, MAX_DEADLINE_SECONDS, clean, errors)
        _deadline_at(data, clean, errors)
    if errors:
        raise InvalidReport("The run report is not valid.", errors)
    return clean


def validate_finish(data: dict) -> dict:
    errors: dict[str, str] = {}
    clean: dict = {}
    if data.get("status") is None:
        errors["status"] = "Required: \"succeeded\", \"failed\" or \"verification_failed\"."
    else:
        _choice(data, "status", FINISHED_STATUSES, clean, errors)
    _whole_number(data, "duration_ms", 0, MAX_DURATION_MS, clean, errors)
    _text(data, "message", MAX_MESSAGE_CHARS, clean, errors)
    if errors:
        raise InvalidReport("The finish report is not valid.", errors)
    return clean


def _choice(data, name, choices, clean, errors) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, str) or value not in choices:
        errors[name] = "Must be one of: " + ", ".join(f'"{choice}"' for choice in choices) + "."
    else:
        clean[name] = value


def _text(data, name, max_chars, clean, errors, allow_empty=True) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        errors[name] = "Must be a string."
    elif len(value) > max_chars or (not allow_empty and not value):
        errors[name] = f"Must be {'1–' if not allow_empty else 'at most '}{max_chars} characters."
    else:
        clean[name] = value


def _whole_number(data, name, low, high, clean, errors) -> None:
    value = data.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        errors[name] = "Must be a whole number."
    elif not low <= value <= high:
        errors[name] = f"Must be between {low} and {high}."
    else:
        clean[name] = value


def _metadata(data, clean, errors) -> None:
    value = data.get("metadata")
    if value is None:
        return
    if not isinstance(value, dict):
        errors["metadata"] = "Must be a JSON object."
        return
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:
        errors["metadata"] = "Must be plain JSON (no NaN or Infinity)."
        return
    if size > MAX_METADATA_BYTES:
        errors["metadata"] = f"Must be at most {MAX_METADATA_BYTES} bytes as JSON (it is {size})."
    else:
        clean["metadata"] = value


def _deadline_at(data, clean, errors) -> None:
    value = data.get("deadline_at")
    if value is None:
        return
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        errors["deadline_at"] = "Must be an ISO 8601 time with a zone, for example \"2026-11-24T09:00:00Z\"."
        return
    now = utcnow()
    if moment <= now:
        errors["deadline_at"] = "Must be in the future."
    elif moment > now + timedelta(seconds=MAX_DEADLINE_SECONDS):
        errors["deadline_at"] = "Must be at most 7 days from now."
    else:
        clean["deadline_at"] = moment
