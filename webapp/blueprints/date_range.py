"""The one reading of a filter's `since`/`until` (the date-range picker, templates/_date_range.html):
typed in the reader's zone, old forms (`2026-11-24`, `2026-11-24T09:00`, ISO with offset) accepted,
returned as UTC with one message per bad value."""
from dataclasses import dataclass, field
from datetime import datetime

from webapp.templating import reader_zone
from webapp.timeutil import InvalidMoment, parse_local


@dataclass
class DateRange:
    since: datetime | None = None
    until: datetime | None = None
    errors: dict[str, str] = field(default_factory=dict)


def read_date_range(since_text: str | None, until_text: str | None) -> DateRange:
    """`until` includes the whole day or minute it names."""
    zone = reader_zone().zone
    result = DateRange()
    for name, text in (("since", since_text), ("until", until_text)):
        if not (text or "").strip():
            continue
        try:
            setattr(result, name, parse_local(text, zone, inclusive_end=name == "until"))
        except InvalidMoment as error:
            result.errors[name] = f"{name.capitalize()}: {error} (times in {zone.key})."
    if result.since and result.until and result.since > result.until:
        result.errors["until"] = "Until is before Since; swap them or clear one."
        result.until = None
    return result
