"""Applying a document: every object matched by name (endpoints, rules) or slug (jobs), created or
updated through the same services as the pages and the API (so the same checks and audit
events), never deleted unless `prune`. All of it happens in the session's one transaction: any
error, anywhere in the file, rolls every change back and the whole list of errors is reported with
each one's path (`rules[2].event: unknown event "run_faild"`); a dry run rolls back too, after
working out exactly what would change."""
import re
from dataclasses import dataclass, field

import sqlalchemy as sa

from webapp.database import serialised_writes
from webapp.extensions import db
from webapp.models import RULE_EVENTS, Endpoint, Job, Rule
from webapp.services import audit, crypto
from webapp.services import endpoints as endpoint_service
from webapp.services.alerting import job_deletion
from webapp.services.alerting import jobs as job_service
from webapp.services.alerting import rules as rule_service
from webapp.services.config_as_code.document import (
    ENDPOINT_FIELDS,
    JOB_FIELDS,
    RULE_FIELDS,
    VERSION,
    endpoint_entry,
    is_reference,
    job_entry,
    rule_entry,
)
from webapp.services.endpoints import Actor, InvalidEndpoint, signature_settings

SECTIONS = {"jobs": ("slug", JOB_FIELDS), "endpoints": ("name", ENDPOINT_FIELDS), "rules": ("name", RULE_FIELDS)}
SECRET = "(secret)"
SECRET_BEARING = ("secret", "url", "headers", "routing_key", "access_token")
# What a reference may name: never SECRET_KEY or another setting, which an import could otherwise
# copy into a header and send to a receiver.
REFERENCE_NAME = re.compile(r"TOCSIN_(SECRET|URL|HEADER|ROUTING_KEY|ACCESS_TOKEN)_[A-Z0-9_]+")


class InvalidDocument(Exception):
    """The document was refused whole; `errors` lists every problem with its path."""

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} error(s)")
        self.errors = errors


@dataclass
class Change:
    kind: str  # job, endpoint, rule
    key: str  # its slug or name
    action: str  # create, update, unchanged, delete
    fields: list[tuple[str, object, object]] = field(default_factory=list)  # (field, from, to)
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        head = f"{self.action} {self.kind} {self.key!r}" if self.kind != "job" else f"{self.action} job {self.key}"
        details = [f"{name}: {_shown(old)} → {_shown(new)}" for name, old, new in self.fields] + self.notes
        return head + (": " + "; ".join(details) if details else "")

    def as_json(self) -> dict:
        return {"kind": self.kind, "key": self.key, "action": self.action, "notes": self.notes,
                "fields": [{"field": name, "from": old, "to": new} for name, old, new in self.fields]}


@dataclass
class Plan:
    changes: list[Change]
    applied: bool

    def lines(self) -> list[str]:
        return [change.line() for change in self.changes]

    def counts(self) -> dict[str, int]:
        counted = {"create": 0, "update": 0, "unchanged": 0, "delete": 0}
        for change in self.changes:
            counted[change.action] += 1
        return counted


def _shown(value) -> str:
    if value is None:
        return "none"
    return value if value == SECRET else repr(value) if isinstance(value, str) else str(value)


def apply_document(workspace_id: int, document, *, environ: dict, dry_run: bool = False, prune: bool = False,
                   user_id: int | None = None, client_ip: str | None = None) -> Plan:
    """Apply (or with `dry_run`, only plan) `document`; raises InvalidDocument with every error.
    Commits on success, rolls back otherwise."""
    errors = shape_errors(document)
    if errors:
        raise InvalidDocument(errors)
    run = _Run(workspace_id, environ, user_id, client_ip)
    with serialised_writes():  # SQLite: one writer per process, taken before the first write
        try:
            for index, item in enumerate(document.get("endpoints") or []):
                run.endpoint(f"endpoints[{index}]", item)
            for index, item in enumerate(document.get("jobs") or []):
                run.job(f"jobs[{index}]", item)
            for index, item in enumerate(document.get("rules") or []):
                run.rule(f"rules[{index}]", item)
            if prune:
                run.prune(document)
        except Exception:
            db.session.rollback()
            raise
        plan = Plan(run.changes, applied=not dry_run and not run.errors)
        if run.errors or dry_run:
            db.session.rollback()
        else:
            audit.record(workspace_id=workspace_id, user_id=user_id, action="config.import", object_type="workspace",
                         object_id=workspace_id, client_ip=client_ip,
                         summary="Imported a configuration: " + ", ".join(
                             f"{count} {action}" for action, count in plan.counts().items()))
            db.session.commit()
    if run.errors:
        raise InvalidDocument(run.errors)
    return plan


def shape_errors(document) -> list[str]:
    """What is wrong with the document's shape, before any object is looked at."""
    if not isinstance(document, dict):
        return ["The file must be a mapping with version, jobs, endpoints and rules."]
    errors = []
    if document.get("version") != VERSION:
        errors.append(f"version: must be {VERSION} (this Tocsin reads version {VERSION}), not {document.get('version')!r}")
    for key in document:
        if key != "version" and key not in SECTIONS:
            errors.append(f"{key}: unknown section (expected version, jobs, endpoints, rules)")
    for section, (key_field, fields) in SECTIONS.items():
        items = document.get(section)
        if items is None:
            continue
        if not isinstance(items, list):
            errors.append(f"{section}: must be a list")
            continue
        seen = set()
        for index, item in enumerate(items):
            path = f"{section}[{index}]"
            if not isinstance(item, dict):
                errors.append(f"{path}: must be a mapping")
                continue
            errors += [f"{path}.{name}: unknown field" for name in item if name not in fields]
            key = item.get(key_field)
            if not isinstance(key, str) or not key.strip():
                errors.append(f"{path}.{key_field}: required")
            elif key.strip().lower() in seen:
                errors.append(f"{path}.{key_field}: {key!r} appears twice in {section}")
            else:
                seen.add(key.strip().lower())
    return errors


class _Run:
    """One import's state: the changes seen and the errors found, object by object."""

    def __init__(self, workspace_id: int, environ: dict, user_id: int | None, client_ip: str | None):
        self.workspace_id, self.environ, self.user_id, self.client_ip = workspace_id, environ, user_id, client_ip
        self.changes: list[Change] = []
        self.errors: list[str] = []

    def _fail(self, path: str, fields: dict[str, str], renamed: dict | None = None) -> None:
        for name, message in fields.items():
            self.errors.append(f"{path}.{(renamed or {}).get(name, name)}: {message}")

    def _changed(self, kind: str, key: str, before: dict, after: dict, hidden=()) -> None:
        """An update's field: from → to, or for a secret only that it changed."""
        fields = [(name, SECRET, SECRET) if name in hidden else (name, before.get(name), after.get(name))
                  for name in after if name in hidden or before.get(name) != after.get(name)]
        self.changes.append(Change(kind, key, "update" if fields else "unchanged", fields))

    # --- endpoints ----------------------------------------------------------------------------

    def endpoint(self, path: str, item: dict) -> None:
        name = item["name"].strip()
        existing = db.session.scalar(sa.select(Endpoint).where(Endpoint.workspace_id == self.workspace_id,
                                                               Endpoint.name == name, Endpoint.deleted_at.is_(None)))
        data, secret, missing = self._resolved(path, item, existing)
        if missing:
            return
        active = data.pop("is_active", None)
        actor = Actor(self.user_id, self.client_ip)
        notes = []
        try:
            if existing is None:
                if secret is not None:
                    data["secret"] = secret
                elif "secret" in item and item["secret"] is not None:
                    notes.append("secret: a new one is made (its variable is not set)")
                endpoint, _ = endpoint_service.create_endpoint(self.workspace_id, self.user_id, data,
                                                               client_ip=self.client_ip)
                if active is False:
                    endpoint_service.set_active(endpoint, False, actor=actor)
                self.changes.append(Change("endpoint", name, "create", notes=notes))
                return
            before = endpoint_entry(existing)
            changed = endpoint_service.update_endpoint(existing, data, actor=actor)
            if secret is not None and _stored_secret(existing) != secret:
                existing.secret_encrypted = crypto.encrypt(signature_settings.check_secret(secret, {}, existing))
                changed.append("secret")
            if active is not None and active != existing.is_active:
                endpoint_service.set_active(existing, active, actor=actor)
        except InvalidEndpoint as error:
            self._fail(path, error.fields)
            return
        except ValueError as error:  # a secret the scheme refuses
            self.errors.append(f"{path}.secret: {error}")
            return
        hidden = [name for name in changed if name in SECRET_BEARING]  # their values are never shown
        self._changed("endpoint", name, before, endpoint_entry(existing), hidden)

    def _resolved(self, path: str, item: dict, existing: Endpoint | None):
        """The service's input with every reference read from the environment; a reference that
        is not set keeps the stored value (an existing endpoint), else is an error — except the
        signing secret, of which a new one is made. Returns (data, secret, whether any is missing)."""
        data, secret, missing = {}, None, False

        def read(where: str, reference: dict) -> str | None:
            nonlocal missing
            if not REFERENCE_NAME.fullmatch(reference["env"]):
                self.errors.append(f"{where}: a reference must be named TOCSIN_SECRET_…, TOCSIN_URL_…, TOCSIN_HEADER_…, "
                                   f"TOCSIN_ROUTING_KEY_… or TOCSIN_ACCESS_TOKEN_…, not {reference['env']!r}")
                missing = True
                return None
            return self.environ.get(reference["env"]) or None

        for name, value in item.items():
            if name == "secret":
                secret = read(f"{path}.secret", value) if is_reference(value) else value
                if secret is not None and not isinstance(secret, str):
                    self.errors.append(f"{path}.secret: must be text or a reference {{env: TOCSIN_SECRET_…}}")
                    missing = True
                continue
            if name == "headers" and isinstance(value, dict):
                headers = {}
                for header, header_value in value.items():
                    if is_reference(header_value):
                        resolved = read(f"{path}.headers.{header}", header_value)
                        if resolved is None and (existing is None or header not in (existing.headers_encrypted or {})):
                            self.errors.append(f"{path}.headers.{header}: references {header_value['env']}, "
                                               "which is not set")
                            missing = True
                        headers[header] = resolved  # None: keep the stored value
                    else:
                        headers[header] = header_value
                data[name] = headers
                continue
            if is_reference(value):
                resolved = read(f"{path}.{name}", value)
                if resolved is None:
                    if existing is None and REFERENCE_NAME.fullmatch(value["env"]):
                        self.errors.append(f"{path}.{name}: references {value['env']}, which is not set")
                        missing = True
                    continue  # kept as stored
                value = resolved
            data[name] = value
        return data, secret, missing

    # --- jobs ---------------------------------------------------------------------------------

    def job(self, path: str, item: dict) -> None:
        slug = item["slug"].strip().lower()
        existing = job_service.job_by_slug(self.workspace_id, slug)
        data = {name: value for name, value in item.items() if name != "slug"}
        try:
            cleaned = job_service.clean({**data, "slug": slug}, creating=existing is None) if existing is None \
                else job_service.clean(data, creating=False)
        except job_service.InvalidJob as error:
            self._fail(path, error.fields)
            return
        if existing is None:
            job = Job(workspace_id=self.workspace_id, slug=slug, name=cleaned.get("name") or slug,
                      schedule=cleaned["schedule"], grace_seconds=cleaned["grace_seconds"],
                      is_paused=cleaned.get("is_paused", False))
            job_service.arm(job)
            db.session.add(job)
            db.session.flush()
            audit.record(workspace_id=self.workspace_id, user_id=self.user_id, action="job.create",
                         object_type="job", object_id=job.id, client_ip=self.client_ip, object_name=job.name,
                         summary=f"Job {slug} created by a configuration import")
            self.changes.append(Change("job", slug, "create"))
            return
        before = job_entry(existing)
        if cleaned.get("name", existing.name) is None:
            cleaned["name"] = slug
        changed = {name: value for name, value in cleaned.items() if getattr(existing, name) != value}
        for name, value in changed.items():
            setattr(existing, name, value)
        if {"schedule", "is_paused", "grace_seconds"} & set(changed):
            job_service.arm(existing)
        if changed:
            audit.record(workspace_id=self.workspace_id, user_id=self.user_id, action="job.update",
                         object_type="job", object_id=existing.id, client_ip=self.client_ip,
                         object_name=existing.name, summary=f"Job {slug} changed by a configuration import",
                         changes={name: audit.change(before[name], value) for name, value in changed.items()})
        self._changed("job", slug, before, job_entry(existing))

    # --- rules --------------------------------------------------------------------------------

    def rule(self, path: str, item: dict) -> None:
        name = item["name"].strip()
        event = item.get("event")
        if event not in RULE_EVENTS:
            self.errors.append(f"{path}.event: unknown event {event!r}".replace("'", '"')
                               if isinstance(event, str) else f"{path}.event: required, one of {', '.join(RULE_EVENTS)}")
            return
        names = item.get("endpoints") or []
        if not isinstance(names, list) or not all(isinstance(each, str) for each in names):
            self.errors.append(f"{path}.endpoints: must be a list of endpoint names")
            return
        ids = {endpoint.name: endpoint.id for endpoint in db.session.scalars(
            sa.select(Endpoint).where(Endpoint.workspace_id == self.workspace_id, Endpoint.deleted_at.is_(None),
                                      Endpoint.name.in_(names)))}
        unknown = [each for each in names if each not in ids]
        if unknown:
            self.errors += [f'{path}.endpoints: unknown endpoint "{each}"' for each in unknown]
            return
        data = {key: value for key, value in item.items() if key != "endpoints"}
        data["endpoint_ids"] = [ids[each] for each in names]
        existing = db.session.scalar(sa.select(Rule).where(Rule.workspace_id == self.workspace_id, Rule.name == name))
        try:
            if existing is None:
                rule_service.create_rule(self.workspace_id, data, user_id=self.user_id, client_ip=self.client_ip)
                self.changes.append(Change("rule", name, "create"))
                return
            before = rule_entry(existing)
            rule_service.update_rule(existing, data, user_id=self.user_id, client_ip=self.client_ip)
        except rule_service.InvalidRule as error:
            self._fail(path, error.fields, {"endpoint_ids": "endpoints"})
            return
        self._changed("rule", name, before, rule_entry(existing))

    # --- prune --------------------------------------------------------------------------------

    def prune(self, document: dict) -> None:
        """Delete what the document does not name: rules first (they point at endpoints), then
        endpoints, then jobs with their runs (refused while one of their alerts fires)."""
        named = {section: {str(item.get(key)).strip().lower() for item in document.get(section) or []
                           if isinstance(item, dict)}
                 for section, (key, _) in SECTIONS.items()}
        actor = Actor(self.user_id, self.client_ip)
        for rule in db.session.scalars(sa.select(Rule).where(Rule.workspace_id == self.workspace_id)
                                       .order_by(Rule.name)).all():
            if rule.name.lower() not in named["rules"]:
                rule_service.delete_rule(rule, user_id=self.user_id, client_ip=self.client_ip)
                self.changes.append(Change("rule", rule.name, "delete"))
        for endpoint in db.session.scalars(sa.select(Endpoint).where(Endpoint.workspace_id == self.workspace_id,
                                                                     Endpoint.deleted_at.is_(None))
                                           .order_by(Endpoint.name)).all():
            if endpoint.name.lower() not in named["endpoints"]:
                endpoint_service.delete_endpoint(endpoint, actor=actor)
                self.changes.append(Change("endpoint", endpoint.name, "delete"))
        for job in db.session.scalars(sa.select(Job).where(Job.workspace_id == self.workspace_id)
                                      .order_by(Job.slug)).all():
            if job.slug not in named["jobs"]:
                try:
                    removed = job_deletion.delete_job(job, user_id=self.user_id, client_ip=self.client_ip,
                                                      commit=False)
                except job_deletion.JobInUse as error:
                    self.errors.append(f"jobs: {job.slug} cannot be pruned: {error}")
                    continue
                self.changes.append(Change("job", job.slug, "delete", notes=[f"with {removed.words()}"]))


def _stored_secret(endpoint: Endpoint) -> str | None:
    try:
        return crypto.decrypt(endpoint.secret_encrypted)
    except crypto.DecryptionError:
        return None

