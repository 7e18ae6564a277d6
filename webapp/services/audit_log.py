"""Reading the audit log: the filtered list of one workspace, the choices its filters offer, each
event's object as a link (looked up per object type for the whole page, never per row) and an
edit's changes as `field: old → new`."""
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Alert, ApiKey, AuditEvent, Delivery, Endpoint, Invite, Job, Membership, Rule, User
from webapp.services.audit import SECRET_CHANGED

SYSTEM_ACTOR = "system"  # the actor filter's value for events no person caused (user_id is null)
SYSTEM_ACTOR_LABEL = "Tocsin itself (no user)"
OBJECT_TYPE_LABELS = {"alert": "Alert", "api_key": "API key", "delivery": "Delivery", "endpoint": "Endpoint",
                      "invite": "Invite", "job": "Job", "rule": "Rule", "user": "User"}
FIELD_LABELS = {"endpoint_ids": "endpoints", "retry_delays_seconds": "retry delays (seconds)",
                "timeout_seconds": "timeout (seconds)", "cooldown_seconds": "cooldown (seconds)",
                "repeat_interval_seconds": "repeat interval (seconds)", "threshold_seconds": "threshold (seconds)",
                "is_active": "active"}
EMPTY = "—"
MAX_LABEL = 80


def object_type_label(object_type: str) -> str:
    return OBJECT_TYPE_LABELS.get(object_type, object_type.replace("_", " ").capitalize())


# --- the list and its filters ------------------------------------------------------------------

@dataclass(frozen=True)
class AuditFilter:
    """None means "any". `actor` is what the actor select sent: a user id, `key:<id>` (one API
    key), or SYSTEM_ACTOR; check it is one `actor_choices` offers first."""

    actor: str | None = None
    object_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


API_KEY_ACTOR_PREFIX = "key:"


def _actor_condition(actor: str):
    if actor == SYSTEM_ACTOR:
        return AuditEvent.user_id.is_(None)
    if actor.startswith(API_KEY_ACTOR_PREFIX):
        return AuditEvent.api_key_id == int(actor.removeprefix(API_KEY_ACTOR_PREFIX))
    return AuditEvent.user_id == int(actor)


def filtered(workspace_id: int, filters: AuditFilter) -> sa.Select:
    """`select(AuditEvent)` of one workspace with the filters, newest first."""
    statement = sa.select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if filters.actor:
        statement = statement.where(_actor_condition(filters.actor))
    if filters.object_type:
        statement = statement.where(AuditEvent.object_type == filters.object_type)
    if filters.since:
        statement = statement.where(AuditEvent.created_at >= filters.since)
    if filters.until:
        statement = statement.where(AuditEvent.created_at <= filters.until)
    return statement.order_by(AuditEvent.id.desc())


def api_key_words(api_key: ApiKey) -> str:
    return f"API key “{api_key.name}” ({api_key.prefix}…)"


def actor_choices(workspace_id: int) -> list[tuple[str, str]]:
    """(value, label) of everyone who appears in the workspace's log, by email; then each API key
    that made changes through /api/v1; then Tocsin itself when it recorded events of its own (an
    endpoint disabled after failures)."""
    in_log = sa.select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    people = db.session.execute(
        sa.select(User.id, User.email).where(User.id.in_(in_log.with_only_columns(AuditEvent.user_id).distinct()))
        .order_by(User.email)).all()
    keys = db.session.scalars(
        sa.select(ApiKey).where(ApiKey.workspace_id == workspace_id,
                                ApiKey.id.in_(in_log.with_only_columns(AuditEvent.api_key_id).distinct()))
        .order_by(ApiKey.name, ApiKey.id)).all()
    choices = [(str(person.id), person.email) for person in people]
    choices += [(f"{API_KEY_ACTOR_PREFIX}{key.id}", api_key_words(key)) for key in keys]
    if db.session.scalar(in_log.with_only_columns(AuditEvent.id).where(AuditEvent.user_id.is_(None)).limit(1)):
        choices.append((SYSTEM_ACTOR, SYSTEM_ACTOR_LABEL))
    return choices


def object_type_choices(workspace_id: int) -> list[tuple[str, str]]:
    """(value, readable name) of the object types the workspace's log holds, by name."""
    types = db.session.scalars(sa.select(AuditEvent.object_type).where(AuditEvent.workspace_id == workspace_id)
                               .distinct()).all()
    return sorted(((value, object_type_label(value)) for value in types), key=lambda choice: choice[1])


# --- objects as links --------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectRef:
    """What the Object column shows: `label`, linked to the page `page` (a Flask endpoint) with
    `arguments` when the object still exists and has one."""

    label: str
    exists: bool = True
    page: str | None = None
    arguments: dict = field(default_factory=dict)


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


def _live_endpoints(workspace_id, ids):
    rows = sa.select(Endpoint.id, Endpoint.name).where(Endpoint.workspace_id == workspace_id,
                                                      Endpoint.id.in_(ids), Endpoint.deleted_at.is_(None))
    return {row.id: ObjectRef(row.name, page="settings.endpoint_detail", arguments={"endpoint_id": row.id})
            for row in db.session.execute(rows)}


def _rules(workspace_id, ids):
    rows = sa.select(Rule.id, Rule.name).where(Rule.workspace_id == workspace_id, Rule.id.in_(ids))
    return {row.id: ObjectRef(row.name, page="settings.rule_detail", arguments={"rule_id": row.id})
            for row in db.session.execute(rows)}


def _jobs(workspace_id, ids):
    rows = sa.select(Job.id, Job.slug).where(Job.workspace_id == workspace_id, Job.id.in_(ids))
    return {row.id: ObjectRef(row.slug, page="dashboard.job_detail", arguments={"slug": row.slug})
            for row in db.session.execute(rows)}


def _deliveries(workspace_id, ids):
    rows = sa.select(Delivery.id, Delivery.message_id).where(Delivery.workspace_id == workspace_id,
                                                             Delivery.id.in_(ids))
    return {row.id: ObjectRef(row.message_id, page="settings.delivery_detail", arguments={"delivery_id": row.id})
            for row in db.session.execute(rows)}


def _alerts(workspace_id, ids):
    rows = sa.select(Alert.id, Alert.message).where(Alert.workspace_id == workspace_id, Alert.id.in_(ids))
    return {row.id: ObjectRef(f"#{row.id} {_short(row.message)}", page="dashboard.alert_detail",
                              arguments={"alert_id": row.id}) for row in db.session.execute(rows)}


def _api_keys(workspace_id, ids):
    rows = sa.select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(ApiKey.workspace_id == workspace_id,
                                                                 ApiKey.id.in_(ids))
    return {row.id: ObjectRef(f"{row.name} ({row.prefix}…)", page="settings.api_keys")
            for row in db.session.execute(rows)}


def _invites(workspace_id, ids):
    rows = sa.select(Invite.id, Invite.email).where(Invite.workspace_id == workspace_id, Invite.id.in_(ids))
    return {row.id: ObjectRef(f"invite for {row.email}", page="settings.invites_page")
            for row in db.session.execute(rows)}


def _members(workspace_id, ids):
    rows = (sa.select(User.id, User.email).join(Membership, Membership.user_id == User.id)
            .where(Membership.workspace_id == workspace_id, User.id.in_(ids)))
    return {row.id: ObjectRef(row.email) for row in db.session.execute(rows)}


LOOKUPS = {"endpoint": _live_endpoints, "rule": _rules, "job": _jobs, "delivery": _deliveries, "alert": _alerts,
           "api_key": _api_keys, "invite": _invites, "user": _members}


def _row_id(object_id: str | None) -> int | None:
    return int(object_id) if object_id and object_id.isascii() and object_id.isdigit() else None


def _gone(event: AuditEvent) -> ObjectRef:
    words = "no longer a member" if event.object_type == "user" else "deleted"
    return ObjectRef(f"{event.object_name or '#' + event.object_id} ({words})", exists=False)


def object_refs(workspace_id: int, events: list[AuditEvent]) -> dict[int, ObjectRef | None]:
    """Each event's object by event id (None when it names none): one query per object type on the page."""
    wanted: dict[str, set[int]] = {}
    for event in events:
        if event.object_type in LOOKUPS and _row_id(event.object_id) is not None:
            wanted.setdefault(event.object_type, set()).add(_row_id(event.object_id))
    found = {object_type: LOOKUPS[object_type](workspace_id, ids) for object_type, ids in wanted.items()}
    refs: dict[int, ObjectRef | None] = {}
    for event in events:
        if not event.object_id:
            refs[event.id] = None
        elif event.object_type not in LOOKUPS:
            refs[event.id] = ObjectRef(f"#{event.object_id}")
        else:
            refs[event.id] = found.get(event.object_type, {}).get(_row_id(event.object_id)) or _gone(event)
    return refs


# --- changes as from → to ----------------------------------------------------------------------

@dataclass(frozen=True)
class ChangeLine:
    """`field: old → new`; for a secret (`secret`) only that it changed."""

    field: str
    old: str = ""
    new: str = ""
    secret: bool = False


def _words(value) -> str:
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_words(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_words(item)}" for key, item in value.items())
    return str(value)


def _endpoint_words(ids, names: dict[int, ObjectRef]) -> str:
    if not ids:
        return EMPTY
    return ", ".join(names[endpoint_id].label if endpoint_id in names else f"#{endpoint_id} (deleted)"
                     for endpoint_id in ids)


def change_lines(workspace_id: int, events: list[AuditEvent]) -> dict[int, list[ChangeLine]]:
    """Each event's recorded changes by event id (empty for events before 0016, whose summary
    names the fields). A rule's endpoints are shown by name, looked up once for the page."""
    endpoint_ids = {endpoint_id for event in events for name, values in (event.changes or {}).items()
                    if name == "endpoint_ids" and isinstance(values, list)
                    for side in values for endpoint_id in (side or []) if isinstance(endpoint_id, int)}
    names = _live_endpoints(workspace_id, endpoint_ids) if endpoint_ids else {}
    lines: dict[int, list[ChangeLine]] = {}
    for event in events:
        lines[event.id] = []
        for name, values in (event.changes or {}).items():
            label = FIELD_LABELS.get(name, name.replace("_", " "))
            if values == SECRET_CHANGED or not isinstance(values, list) or len(values) != 2:
                lines[event.id].append(ChangeLine(label, secret=True))
            elif name == "endpoint_ids":
                lines[event.id].append(ChangeLine(label, *(_endpoint_words(side, names) for side in values)))
            else:
                lines[event.id].append(ChangeLine(label, _words(values[0]), _words(values[1])))
    return lines
