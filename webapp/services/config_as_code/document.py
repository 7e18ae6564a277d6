"""The document: what is exported, in which order, and how it is read and written.

Secret values never leave Tocsin: an endpoint's signing secret, its receiver credentials
(`routing_key`, `access_token`), its header values (stored encrypted, like secrets) and the URL of
a format whose URL is the credential (Slack, Discord, Teams, ntfy, PagerDuty:
`signing.UNSIGNED_FORMATS`) are written as references, `{env: NAME}`, which the import reads from
its environment. Everything else is written as it is, in a fixed order, so exporting the same
workspace twice gives the same bytes."""
import json
import re

import sqlalchemy as sa
import yaml

from webapp.extensions import db
from webapp.models import Endpoint, Job, Rule
from webapp.services import signing
from webapp.services.endpoints import credentials, delivery_policy, urls
from webapp.services.endpoints.signature_settings import FIELDS as SIGNATURE_FIELDS

VERSION = 1
JOB_FIELDS = ("slug", "name", "schedule", "grace_seconds", "is_paused")
ENDPOINT_FIELDS = ("name", "url", "format", "template", "timeout_seconds", "is_active", "secret", "headers",
                   *credentials.FIELDS, *SIGNATURE_FIELDS, *delivery_policy.FIELDS)
RULE_FIELDS = ("name", "event", "job_filter", "threshold_seconds", "consecutive_count", "severity", "endpoints",
               "max_attempts", "cooldown_seconds", "notify_on_resolve", "repeat_interval_seconds", "is_active")


def reference_name(kind: str, endpoint_name: str, detail: str = "") -> str:
    """TOCSIN_SECRET_OPS_PAGER, TOCSIN_HEADER_OPS_PAGER_X_API_KEY…: the variable an import reads."""
    words = "_".join(part for part in (endpoint_name, detail) if part)
    return f"TOCSIN_{kind}_" + (re.sub(r"[^A-Z0-9]+", "_", words.upper()).strip("_") or "ENDPOINT")


def is_reference(value) -> bool:
    return isinstance(value, dict) and set(value) == {"env"} and isinstance(value["env"], str)


def export_document(workspace_id: int) -> dict:
    jobs = db.session.scalars(sa.select(Job).where(Job.workspace_id == workspace_id).order_by(Job.slug)).all()
    endpoints = db.session.scalars(sa.select(Endpoint).where(Endpoint.workspace_id == workspace_id,
                                                             Endpoint.deleted_at.is_(None))
                                   .order_by(Endpoint.name, Endpoint.id)).all()
    rules = db.session.scalars(sa.select(Rule).where(Rule.workspace_id == workspace_id)
                               .order_by(Rule.name, Rule.id)).all()
    return {"version": VERSION, "jobs": [job_entry(job) for job in jobs],
            "endpoints": [endpoint_entry(endpoint) for endpoint in endpoints], "rules": [rule_entry(rule) for rule in rules]}


def job_entry(job: Job) -> dict:
    return {name: getattr(job, name) for name in JOB_FIELDS}


def endpoint_entry(endpoint: Endpoint) -> dict:
    values = {}
    for name in ENDPOINT_FIELDS:
        if name == "url":
            values[name] = ({"env": reference_name("URL", endpoint.name)} if endpoint.format in signing.UNSIGNED_FORMATS
                            else urls.readable_url(endpoint))
        elif name == "secret":
            signs = signing.scheme(endpoint.signature_scheme).SIGNS
            values[name] = {"env": reference_name("SECRET", endpoint.name)} if signs else None
        elif name == "headers":
            values[name] = {header: {"env": reference_name("HEADER", endpoint.name, header)}
                            for header in sorted(endpoint.headers_encrypted or {})}
        elif name in credentials.FIELDS:
            stored = getattr(endpoint, credentials.column(name))
            values[name] = {"env": reference_name(name.upper(), endpoint.name)} if stored else None
        else:
            values[name] = getattr(endpoint, name)
    return values


def rule_entry(rule: Rule) -> dict:
    values = {name: getattr(rule, name) for name in RULE_FIELDS if name != "endpoints"}
    values["endpoints"] = sorted(endpoint.name for endpoint in rule.endpoints if endpoint.deleted_at is None)
    return {name: values[name] for name in RULE_FIELDS}


def dump(document: dict, output_format: str = "yaml") -> str:
    if output_format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, default_flow_style=False)


class _Loader(yaml.SafeLoader):
    """YAML without aliases: `*name` lets a 64 KB file expand to gigabytes (billion laughs), and
    a configuration never needs one."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


class UnreadableDocument(ValueError):
    """The text is neither YAML nor JSON (the message says where it stopped)."""


def load(text: str) -> object:
    """YAML (JSON is YAML too); the caller checks the shape."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = "; aliases (*name) are not allowed" if "aliases" in str(getattr(error, "problem", "")) else ""
        raise UnreadableDocument(f"The file is not valid YAML or JSON{where}{problem}.") from None
