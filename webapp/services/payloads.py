"""What an alert looks like on the wire: the `data` object of DESIGN.md's schema, and the
four bodies built from it (Tocsin JSON, Slack, Discord, a user's sandboxed Jinja template).

Every body is serialised once here; the sender signs and sends exactly these bytes.
"""
import functools
import json
import re
import sys
import time
from datetime import timedelta

import jinja2
from flask import current_app
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from webapp.timeutil import isoformat, utcnow

SEVERITY_EMOJI = {"critical": "🔴", "warning": "⚠️", "info": "ℹ️"}
SEVERITY_SLACK_EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
SEVERITY_COLOR = {"critical": 0xE01E5A, "warning": 0xECB22E, "info": 0x36A3E0}
MAX_TEMPLATE_CHARACTERS = 20_000
MAX_OUTPUT_CHARACTERS = 64 * 1024
MAX_SEQUENCE = 10_000  # longest string or list a template may build with *, % or a filter
RENDER_SECONDS = 1.0


class PayloadError(ValueError):
    """A body that cannot be built (a template that fails); the message is shown to the user."""


def _id(value) -> str | None:
    return None if value is None else str(value)


def _base_url() -> str:
    return (current_app.config.get("TOCSIN_BASE_URL") or "").rstrip("/")


def alert_context(alert, workspace) -> dict:
    """The `data` object for a real alert: IDs and summaries only, never run metadata."""
    rule, job, run = alert.rule, alert.job, alert.run
    return {
        "alert": {
            "id": str(alert.id), "type": alert.type, "severity": alert.severity, "message": alert.message,
            "repeat_count": alert.repeat_count, "created_at": isoformat(alert.created_at),
            "url": f"{_base_url()}/alerts/{alert.id}",
        },
        "rule": {"id": str(rule.id), "name": rule.name} if rule else None,
        "job": {"slug": job.slug, "name": job.name} if job else None,
        "run": _run_summary(run) if run else None,
        "workspace": {"id": _id(alert.workspace_id), "name": workspace.name},
    }


def _run_summary(run) -> dict:
    return {
        "id": str(run.id), "external_id": run.external_id, "status": run.status,
        "started_at": isoformat(run.started_at), "finished_at": isoformat(run.finished_at),
        "deadline_at": isoformat(run.deadline_at), "duration_ms": run.duration_ms,
    }


def sample_context(workspace, endpoint) -> dict:
    """A realistic `data` object for test sends and template previews (every field filled)."""
    now = utcnow().replace(microsecond=0)
    return {
        "alert": {
            "id": "0", "type": "alert.test", "severity": "critical",
            "message": "Test alert from Tocsin: billing-nightly failed after 42 s: exit code 3",
            "repeat_count": 1, "created_at": isoformat(now), "url": f"{_base_url()}/alerts",
        },
        "rule": {"id": "0", "name": "Nightly jobs failing"},
        "job": {"slug": "billing-nightly", "name": "Billing (nightly)"},
        "run": {
            "id": "0", "external_id": "gha-8812", "status": "failed",
            "started_at": isoformat(now - timedelta(seconds=42)), "finished_at": isoformat(now),
            "deadline_at": None, "duration_ms": 42000,
        },
        "workspace": {"id": _id(getattr(workspace, "id", None)) or "0",
                      "name": getattr(workspace, "name", None) or "Example workspace"},
    }


SAMPLE_RUN_METADATA = {"exit_code": 3, "host": "worker-1", "commit": "4f2c9e1"}


def render(endpoint, event_type: str, context: dict, *, run_metadata: dict | None = None) -> tuple[bytes, str]:
    """(body, content type) in the endpoint's format. `run_metadata` is offered to templates
    only (as `run.metadata`): the built-in formats carry summaries, never metadata."""
    timestamp = isoformat(utcnow().replace(microsecond=0))
    if endpoint.format == "slack":
        return _dump(slack_body(event_type, context)), "application/json"
    if endpoint.format == "discord":
        return _dump(discord_body(event_type, context, timestamp)), "application/json"
    if endpoint.format == "template":
        text = render_template(endpoint.template or "", event_type, context, timestamp, run_metadata)
        return text.encode("utf-8"), _text_content_type(text)
    return _dump({"type": event_type, "timestamp": timestamp, "data": context}), "application/json"


def _dump(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _text_content_type(text: str) -> str:
    try:
        json.loads(text)
    except ValueError:
        return "text/plain; charset=utf-8"
    return "application/json"


def _headline(event_type: str, context: dict) -> tuple[str, str, str]:
    alert = context["alert"]
    severity = alert.get("severity") or "info"
    prefix = "Test alert: " if event_type == "alert.test" and not alert["message"].startswith("Test") else ""
    return severity, prefix + alert["message"], alert.get("url") or ""


def _run_words(context: dict) -> str:
    run = context.get("run")
    if not run:
        return "no run"
    return f"run {run.get('external_id') or run['id']} ({run['status']})"


def _slack_escape(text: str) -> str:
    """Slack mrkdwn control characters; also stops `<!channel>` smuggled in a job message."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(event_type: str, context: dict) -> dict:
    """An incoming-webhook body: `text` for notifications, `blocks` for the message itself."""
    severity, message, url = _headline(event_type, context)
    emoji = SEVERITY_SLACK_EMOJI.get(severity, ":bell:")
    job = context.get("job") or {}
    job_words = f"Job `{_slack_escape(job['slug'])}`" if job else "No job"
    return {
        "text": f"{emoji} [{severity}] {_slack_escape(message)}",
        "blocks": [
            {"type": "section",
             "text": {"type": "mrkdwn", "text": f"{emoji} *{severity.upper()}* {_slack_escape(message)}"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"{job_words} · {_slack_escape(_run_words(context))}"},
                {"type": "mrkdwn", "text": f"<{url}|View in Tocsin>"},
            ]},
        ],
    }


def discord_body(event_type: str, context: dict, timestamp: str) -> dict:
    """A Discord webhook body: `content` plus one embed; mentions in messages never ping."""
    severity, message, url = _headline(event_type, context)
    job, run, rule = context.get("job"), context.get("run"), context.get("rule")
    fields = [{"name": "Severity", "value": severity, "inline": True}]
    if job:
        fields.append({"name": "Job", "value": job["slug"][:1024], "inline": True})
    if run:
        fields.append({"name": "Run", "value": _run_words(context)[:1024], "inline": True})
    if rule:
        fields.append({"name": "Rule", "value": (rule["name"] or rule["id"])[:1024], "inline": True})
    title = f"{context['alert']['type']}: {job['name'] if job else 'Tocsin'}"
    return {
        "content": f"{SEVERITY_EMOJI.get(severity, '🔔')} **{severity.upper()}** {message}"[:2000],
        "embeds": [{"title": title[:256], "description": message[:4096], "url": url,
                    "color": SEVERITY_COLOR.get(severity, 0x888888), "fields": fields, "timestamp": timestamp}],
        "allowed_mentions": {"parse": []},
    }


# --- user templates ----------------------------------------------------------------------
# StrictUndefined, not ChainableUndefined: a typo such as `{{ alert.mesage }}` fails in the
# form's Preview (the sample fills every field) instead of silently sending an empty value.
# Fields that may be null (rule, run, deadline_at) are defined as None, so `{% if run %}`
# guards them; autoescape is off because the output is JSON or text, not HTML.

_WIDE_FORMAT = (
    re.compile(r"%[-#0 +]*(\*|\d{4,})"),            # '%999999d' or '%*d'
    re.compile(r"%[-#0 +]*\d*\.(\*|\d{4,})"),       # '%.999999f'
    re.compile(r"\{[^{}]*:[^{}]*(\d{4,}|\{)"),       # '{:999999}' or '{:{width}}'
)


def _check_format(text) -> None:
    if isinstance(text, str) and any(pattern.search(text) for pattern in _WIDE_FORMAT):
        raise SecurityError("format widths over 999 are not allowed in templates")


def _check_size(size: int) -> None:
    if size > MAX_SEQUENCE:
        raise SecurityError(f"templates may not build strings or lists longer than {MAX_SEQUENCE}")


class TemplateEnvironment(SandboxedEnvironment):
    """The stock sandbox stops attribute escapes (`''.__class__`), not memory bombs such as
    `'x' * 10**9` or `'%999999999d'`; those are refused here."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context, operator, left, right):
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    _check_size(len(sequence) * count)
        elif operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise SecurityError("exponents over 100 are not allowed in templates")
        elif operator == "%":
            _check_format(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value):
        formatter = super().wrap_str_format(value)
        if formatter is not None:
            _check_format(value.__self__)
        return formatter


def _center(value, width=80):
    _check_size(int(width))
    return str(value).center(int(width))


def _indent(value, width=4, first=False, blank=False):
    if isinstance(width, int):
        _check_size(width)
    elif isinstance(width, str):
        _check_size(len(width))
    return _stock_indent(value, width, first, blank)


_environment = TemplateEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
_stock_indent = _environment.filters["indent"]
_environment.filters.update(center=_center, indent=_indent)


def _format(value, *args, **kwargs):
    """Jinja's `format` filter (`value % args`), with the same width check as the operator."""
    _check_format(str(value))
    return str(value) % (kwargs or args)


_environment.filters["format"] = _format


@functools.lru_cache(maxsize=128)
def _compiled(text: str) -> jinja2.Template:
    return _environment.from_string(text)


def _render_within_budget(template: jinja2.Template, namespace: dict) -> str:
    """Render with a wall-clock budget and an output cap: a loop in a template fails the
    delivery with a message instead of holding a sending thread forever."""
    deadline = time.monotonic() + RENDER_SECONDS

    def trace(frame, event, arg):
        if frame.f_code.co_filename != "<template>":
            return None
        if time.monotonic() > deadline:
            raise PayloadError(f"template error: rendering took longer than {RENDER_SECONDS:g} s")
        return trace

    chunks, size = [], 0
    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        for chunk in template.generate(namespace):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARACTERS:
                raise PayloadError(f"template error: the output is longer than {MAX_OUTPUT_CHARACTERS} characters")
            chunks.append(chunk)
    finally:
        sys.settrace(previous)
    return "".join(chunks)


def render_template(text: str, event_type: str, context: dict, timestamp: str,
                    run_metadata: dict | None = None) -> str:
    """The user's template rendered in the sandbox; any failure is a PayloadError in words."""
    if not text.strip():
        raise PayloadError("template error: the template is empty")
    if len(text) > MAX_TEMPLATE_CHARACTERS:
        raise PayloadError(f"template error: the template is longer than {MAX_TEMPLATE_CHARACTERS} characters")
    namespace = {**context, "type": event_type, "timestamp": timestamp}
    if context.get("run") is not None:
        namespace["run"] = {**context["run"], "metadata": dict(run_metadata or {})}
    try:
        return _render_within_budget(_compiled(text), namespace)
    except PayloadError:
        raise
    except jinja2.TemplateSyntaxError as error:
        raise PayloadError(f"template error: line {error.lineno}: {error.message}") from error
    except SecurityError as error:
        raise PayloadError(f"template error: not allowed: {error}") from error
    except jinja2.TemplateError as error:
        raise PayloadError(f"template error: {error.message or error}") from error
    except Exception as error:  # a template can raise anything (TypeError, ZeroDivisionError…)
        raise PayloadError(f"template error: {type(error).__name__}: {error}") from error


def preview(template_text: str, workspace) -> str:
    """The template rendered against the sample alert, for the form's Preview button."""
    return render_template(template_text, "alert.test", sample_context(workspace, None),
                           isoformat(utcnow().replace(microsecond=0)), SAMPLE_RUN_METADATA)


def validate_template(text: str, workspace=None) -> str:
    """Raises PayloadError when the template cannot render the sample; returns the output."""
    return preview(text, workspace)
