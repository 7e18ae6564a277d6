"""The one set of checks every number, moment and string from a client goes through before it
reaches the database, so that an extreme value is a clear 400 rather than a driver's overflow:
numbers within a 64-bit integer and written in ASCII digits, moments that stay within the
calendar once their offset is applied, text without lone surrogates or control characters
(which neither UTF-8 nor PostgreSQL can store)."""
import re
from datetime import UTC, datetime

MAX_INTEGER = 2**63 - 1  # BIGINT, and SQLite's INTEGER
# Row ids are INTEGER on PostgreSQL: a larger id names no row, and comparing one with an id
# column fails in the driver (integer out of range), so on both databases ids end here.
MAX_ID = 2**31 - 1
MIN_INTEGER = -(2**63)
# C0 controls and DEL, except tab, line feed and carriage return, which text may hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def whole_number(value, *, minimum: int = MIN_INTEGER, maximum: int = MAX_INTEGER) -> int:
    """`value` (an int, or text of ASCII digits with an optional minus) as an int within
    [minimum, maximum]; ValueError with a message otherwise."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text.startswith("-") else text
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
            raise ValueError("must be a whole number" if not (digits.isascii() and digits.isdigit())
                             else f"must be at most {maximum}")
        value = int(text)
    if not isinstance(value, int):
        raise ValueError("must be a whole number")
    if value < minimum:
        raise ValueError(f"must be at least {minimum}")
    if value > maximum:
        raise ValueError(f"must be at most {maximum}")
    return value


def is_id(text) -> bool:
    """Whether `text` can name a row: ASCII digits, 1 … MAX_ID."""
    text = str(text)
    return text.isascii() and text.isdigit() and len(text) <= 19 and 1 <= int(text) <= MAX_ID


def moment(text: str) -> datetime:
    """An ISO 8601 moment (a date alone is its midnight UTC; no offset means UTC), in UTC;
    ValueError when it is not one or leaves the calendar once its offset is applied."""
    if not isinstance(text, str) or not text.strip().isascii():
        raise ValueError("must be an ISO 8601 date or time, e.g. 2026-12-02T10:00:00Z")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError("must be an ISO 8601 date or time, e.g. 2026-12-02T10:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is outside the calendar once its offset is applied") from None


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if _SURROGATE.search(text):
        return "holds a lone surrogate (not valid Unicode)"
    if _CONTROL.search(text):
        return "holds a control character"
    return None


def json_problems(value, path: str = "") -> dict[str, str]:
    """{field path: problem} for every string and number in a parsed JSON document that no
    column could hold (`rules[2].name`, `metadata.note`); empty when all are fine."""
    problems: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (problem := text_problem(key)):
                problems[path or "(body)"] = f"a field name {problem}"
                continue
            problems.update(json_problems(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.update(json_problems(item, f"{path}[{index}]"))
    elif isinstance(value, str):
        if problem := text_problem(value):
            problems[path or "(body)"] = problem
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            problems[path or "(body)"] = "is not a finite number"
    elif isinstance(value, int) and not isinstance(value, bool) and not MIN_INTEGER <= value <= MAX_INTEGER:
        problems[path or "(body)"] = f"must be between {MIN_INTEGER} and {MAX_INTEGER}"
    return problems

