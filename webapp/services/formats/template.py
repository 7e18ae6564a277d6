"""A user's own Jinja template, rendered in a sandbox that refuses memory bombs
(`template_sandbox`) within a time budget and an output cap.

Strict, not chainable: a typo such as `{{ alert.mesage }}` fails in the form's Preview (the
sample fills every field) instead of silently sending an empty value, and the error names the
object and the field (`'alert' has no field 'mesage'`, `'run.metadata' has no field 'x'`).
Fields that may be null (rule, run, deadline_at) are defined as None, so `{% if run %}`
guards them; autoescape is off because the output is JSON or text, not HTML.
"""
import functools
import sys
import time

import jinja2
from jinja2.sandbox import SecurityError

from webapp.services.formats.base import Payload, PayloadError, text_content_type
from webapp.services.formats.context import SAMPLE_RUN_METADATA, sample_context
from webapp.services.formats.template_sandbox import make_environment
from webapp.timeutil import isoformat, utcnow

LABEL = "Custom template (Jinja)"
MAX_TEMPLATE_CHARACTERS = 20_000
MAX_OUTPUT_CHARACTERS = 64 * 1024
RENDER_SECONDS = 1.0


def build(event_type: str, context: dict, *, timestamp: str, template: str | None = None,
          run_metadata: dict | None = None, credential: str | None = None) -> Payload:
    """The template's output; its content type is JSON when the output parses as JSON."""
    text = render_template(template or "", event_type, context, timestamp, run_metadata)
    return Payload(text.encode("utf-8"), text_content_type(text))


class Fields(dict):
    """An object of the template's variables that knows its place (`run.metadata`), so that an
    unknown field's error can name it. The attribute's name cannot be reached from a template
    (the sandbox refuses names starting with `_`) and shadows no realistic field."""

    __slots__ = ("_tocsin_path",)


def _with_paths(value, path: str):
    """`value` with every object in it a `Fields` that knows its path."""
    if isinstance(value, dict):
        fields = Fields({key: _with_paths(item, f"{path}.{key}" if isinstance(key, str) and key.isidentifier()
                                          else f"{path}[{key!r}]") for key, item in value.items()})
        fields._tocsin_path = path
        return fields
    if isinstance(value, list | tuple):
        return [_with_paths(item, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def _described(value) -> str:
    if isinstance(value, Fields):
        return repr(value._tocsin_path)
    if value is None:
        return "None"
    if isinstance(value, str):
        return "a text value"
    if isinstance(value, bool | int | float):
        return "a number"
    if isinstance(value, list | tuple):
        return "a list"
    return "this value"


class FieldUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose error says which object lacks which field, in the user's words:
    `'alert' has no field 'mesage'`, never a Python type name (`'dict object' has no attribute`)."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name, owner = self._undefined_name, self._undefined_obj
        if owner is jinja2.utils.missing:
            return f"there is no variable {name!r} (the variables are {', '.join(VARIABLES)})"
        if isinstance(owner, list | tuple) and isinstance(name, int):
            return f"{_described(owner)} has no item {name} (it has {len(owner)})"
        if owner is None:
            return f"None has no field {name!r} (guard a value that may be None with {{% if … %}})"
        return f"{_described(owner)} has no field {name!r}"


VARIABLES = ("type", "timestamp", "alert", "rule", "job", "run", "workspace")


def _json_default(value):
    """`|tojson` of an unknown field says which one, not "Object of type … is not JSON serializable"."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    raise TypeError(f"a {type(value).__name__} value cannot be written as JSON")


_environment = make_environment(FieldUndefined)
_environment.policies["json.dumps_kwargs"] = {**_environment.policies["json.dumps_kwargs"], "default": _json_default}


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
    variables = dict(context)
    if context.get("run") is not None:
        variables["run"] = {**context["run"], "metadata": dict(run_metadata or {})}
    namespace = {name: _with_paths(value, name) for name, value in variables.items()}
    namespace.update(type=event_type, timestamp=timestamp)
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


def validate_template(text: str, workspace=None) -> str:
    """Raises PayloadError when the template cannot render the sample alert; returns the output."""
    return render_template(text, "alert.test", sample_context(workspace, None),
                           isoformat(utcnow().replace(microsecond=0)), SAMPLE_RUN_METADATA)
