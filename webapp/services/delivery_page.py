"""What the delivery page shows of a delivery's attempts: the request once, then one compact row
per attempt with only what differs from that request (a timestamp, a signature), the receiver's
answer (status, headers, first 1 KB, JSON pretty-printed) and a hint when it failed."""
import json
from dataclasses import dataclass, field

from webapp.models import Delivery, DeliveryAttempt
from webapp.services import history
from webapp.services.delivery_hints import OUTCOME_WORDS, failure_hint

EXCERPT_CHARACTERS = 1024


def pretty(text: str | None) -> str | None:
    """`text` pretty-printed when it parses as a JSON object or array, else as it is."""
    if not text:
        return text
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    return text


@dataclass
class SentRequest:
    """The request as it went out, shown once: from the first attempt that sent something."""

    number: int
    headers: dict
    body: str | None


@dataclass
class AttemptRow:
    attempt: DeliveryAttempt
    outcome_words: str
    hint: str | None
    differing_headers: dict = field(default_factory=dict)  # headers unlike the shown request's
    differing_fields: dict = field(default_factory=dict)  # JSON body fields unlike the shown body's
    differing_body: str | None = None  # the whole body, when it differed and is not JSON
    response_headers: dict = field(default_factory=dict)
    response_body: str | None = None


def _flattened(value, prefix: str = "") -> dict:
    """{"data.alert.id": '"1"', …}: every leaf of a JSON value under its dotted path."""
    if isinstance(value, dict) and value:
        items = value.items()
    elif isinstance(value, list) and value:
        items = ((str(index), item) for index, item in enumerate(value))
    else:
        return {prefix or "(body)": json.dumps(value, ensure_ascii=False)}
    flat = {}
    for key, item in items:
        flat.update(_flattened(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def json_differences(shown: str | None, other: str | None) -> dict | None:
    """{dotted path: this attempt's value} for the JSON fields where `other` differs from `shown`
    (each retry's body has its own `timestamp`), or None when either is not JSON."""
    try:
        first, second = _flattened(json.loads(shown or "")), _flattened(json.loads(other or ""))
    except ValueError:
        return None
    return {path: second.get(path, "(absent)") for path in [*second, *(p for p in first if p not in second)]
            if first.get(path) != second.get(path)}


def _header_lookup(headers: dict, name: str):
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def build(delivery: Delivery, attempts: list[DeliveryAttempt]) -> tuple[SentRequest | None, list[AttemptRow]]:
    """(the request shown once, or None when nothing was sent; one row per attempt)."""
    sent = next((attempt for attempt in attempts if attempt.request_headers or attempt.request_body), None)
    request = None
    if sent is not None:
        request = SentRequest(sent.number, history.masked_headers(sent.request_headers), pretty(sent.request_body))
    rows = []
    for attempt in attempts:
        headers = history.masked_headers(attempt.request_headers)
        response_headers = dict(attempt.response_headers or {})
        row = AttemptRow(
            attempt=attempt,
            outcome_words=OUTCOME_WORDS.get(attempt.outcome, attempt.outcome.replace("_", " ").capitalize()),
            hint=failure_hint(attempt.error, attempt.http_status, outcome=attempt.outcome,
                              is_test=delivery.is_test, timeout_seconds=delivery.endpoint.timeout_seconds,
                              retry_after=_header_lookup(response_headers, "Retry-After")),
            response_headers=response_headers,
            response_body=pretty((attempt.response_excerpt or "")[:EXCERPT_CHARACTERS]) or None,
        )
        if request is not None and attempt is not sent:
            row.differing_headers = {name: value for name, value in headers.items()
                                     if request.headers.get(name) != value}
            if attempt.request_body is not None and attempt.request_body != sent.request_body:
                fields = json_differences(sent.request_body, attempt.request_body)
                if fields is None:
                    row.differing_body = pretty(attempt.request_body)
                else:
                    row.differing_fields = fields
        rows.append(row)
    return request, rows


def short_error(row: AttemptRow) -> str:
    """The one-line summary of an attempt's result for its compact row."""
    attempt = row.attempt
    if attempt.outcome == "success":
        return ""
    text = attempt.error or (f"HTTP {attempt.http_status}" if attempt.http_status else row.outcome_words)
    return text if len(text) <= 80 else text[:79] + "…"
