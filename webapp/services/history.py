"""Delivery history: the filtered, keyset-paginated list behind the history pages and the API,
the "recent deliveries" tables of the endpoint and rule pages, and success rates.

Every function takes the workspace id explicitly (services see no request); pages pass
`tenancy.current_workspace_id()`.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Delivery
from webapp.services import labels, signing

# What the history shows and filters on: the one vocabulary of webapp/services/labels.py.
UI_STATUSES = labels.DELIVERY_STATES
UI_STATUS_LABELS = labels.DELIVERY_STATE_LABELS
UI_STATUS_BADGES = labels.DELIVERY_STATE_BADGES


def ui_status(delivery: Delivery) -> str:
    """The history's status of one delivery: one of UI_STATUSES, matching `status_condition`."""
    return labels.delivery_state(delivery.status, delivery.attempt_count, delivery.is_test)


def status_condition(status: str):
    """The SQL condition selecting the deliveries whose `ui_status` is `status`. A finished test
    send is never "delivered" or "dead" (it is "test-delivered" or "test-failed")."""
    if status == "pending":
        return sa.and_(Delivery.status == "pending", Delivery.attempt_count == 0)
    if status == "sending":
        return sa.and_(Delivery.status == "sending", Delivery.attempt_count == 0)
    if status == "failed-retrying":
        return sa.and_(Delivery.status.in_(("pending", "sending")), Delivery.attempt_count > 0)
    if status in ("delivered", "dead"):
        return sa.and_(Delivery.status == status, Delivery.is_test.is_(False))
    if status in ("test-delivered", "test-failed"):
        return sa.and_(Delivery.status == ("delivered" if status == "test-delivered" else "dead"),
                       Delivery.is_test.is_(True))
    raise ValueError(f"unknown delivery status {status!r}")


@dataclass
class HistoryFilter:
    """The filters of the history list; None means "any"."""

    endpoint_id: int | None = None
    rule_id: int | None = None
    status: str | None = None  # one of UI_STATUSES
    is_test: bool | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class HistoryPage:
    items: list[Delivery]
    next_before: int | None  # pass as `before` for the next (older) page
    newer_after: int | None  # pass as `after` for the previous (newer) page


def _driving_index(filters: HistoryFilter) -> str:
    """Which index reads a page. Without statistics a planner cannot tell that one endpoint's
    deliveries are few among a workspace's million, so the choice is made here: the narrowest
    filter drives, in id order where it can; the other conditions only filter what it reads."""
    if filters.endpoint_id is not None:
        return "endpoint"
    if filters.rule_id is not None:
        return "rule"
    if filters.status is not None and filters.status != "delivered":
        # Queue and dead-letter states are a small share of the table (most rows are delivered).
        return "status"
    return "workspace"


def _not_indexed(column):
    """The same value, written so that no index on `column` is picked for it (`x + 0`)."""
    return column + 0


def _filtered(workspace_id: int, filters: HistoryFilter) -> sa.Select:
    """`select(Delivery)` of one workspace with the filters, read through `_driving_index`, so a
    page costs about `limit` index entries (or the size of one status) whatever the table size."""
    driver = _driving_index(filters)
    # One stored status reads (workspace_id, status, id) in id order; "failed-retrying" (two stored
    # statuses) reads the status indexes, so the workspace must not pull it onto (workspace_id, id).
    one_status = driver == "status" and filters.status != "failed-retrying"
    workspace = Delivery.workspace_id if driver == "workspace" or one_status else _not_indexed(Delivery.workspace_id)
    statement = sa.select(Delivery).where(workspace == workspace_id)
    if filters.endpoint_id is not None:
        statement = statement.where(Delivery.endpoint_id == filters.endpoint_id)
    if filters.rule_id is not None:
        rule = Delivery.rule_id if driver == "rule" else _not_indexed(Delivery.rule_id)
        statement = statement.where(rule == filters.rule_id)
    if filters.status is not None:
        statement = statement.where(status_condition(filters.status))
    if filters.is_test is not None:
        statement = statement.where(Delivery.is_test.is_(filters.is_test))
    lowest, highest = _id_range(filters.since, filters.until)
    if lowest is not None:
        statement = statement.where(Delivery.id >= lowest)
    if highest is not None:
        statement = statement.where(Delivery.id <= highest)
    if filters.since is not None:
        statement = statement.where(Delivery.created_at >= filters.since)
    if filters.until is not None:
        statement = statement.where(Delivery.created_at <= filters.until)
    return statement


# Ids and creation times rise together (both are taken at insert); this margin absorbs the small
# disorder between processes whose inserts interleave.
ID_TIME_MARGIN = timedelta(minutes=1)


def _first_id_created_since(moment: datetime) -> int | None:
    """The smallest id created at or after `moment`, by bisecting the primary key (about 20
    point reads for a million rows): a time filter then becomes an id range on the index."""
    low, high = db.session.execute(sa.select(sa.func.min(Delivery.id), sa.func.max(Delivery.id))).one()
    if low is None:
        return None
    high += 1  # "none yet": past the newest row
    while low < high:
        middle = (low + high) // 2
        row = db.session.execute(sa.select(Delivery.id, Delivery.created_at).where(Delivery.id >= middle)
                                 .order_by(Delivery.id).limit(1)).one_or_none()
        if row is None or row.created_at >= moment:
            high = middle
        else:
            low = row.id + 1
    return low


def _id_range(since: datetime | None, until: datetime | None) -> tuple[int | None, int | None]:
    """Id bounds, widened by ID_TIME_MARGIN, that contain every row of the time window."""
    lowest = _first_id_created_since(since - ID_TIME_MARGIN) if since is not None else None
    highest = None
    if until is not None:
        after_window = _first_id_created_since(until + ID_TIME_MARGIN)
        highest = None if after_window is None else after_window - 1
    return lowest, highest


def page_statement(workspace_id: int, filters: HistoryFilter, *, limit: int, before: int | None = None,
                   after: int | None = None) -> sa.Select:
    """The query of one page (`limit + 1` rows, to know whether another page follows).
    Older pages: `id < before` read downwards; newer pages: `id > after` read upwards."""
    statement = _filtered(workspace_id, filters)
    if after is not None:
        return statement.where(Delivery.id > after).order_by(Delivery.id.asc()).limit(limit + 1)
    if before is not None:
        statement = statement.where(Delivery.id < before)
    return statement.order_by(Delivery.id.desc()).limit(limit + 1)


def list_deliveries(workspace_id: int, filters: HistoryFilter | None = None, *, limit: int = 50,
                    before: int | None = None, after: int | None = None) -> HistoryPage:
    """One page, newest first, by keyset on `id`: rows older than `before` (or, going back,
    the `limit` rows just newer than `after`). Rows inserted meanwhile have larger ids, so they
    never shift or repeat the rows of an older page."""
    filters = filters or HistoryFilter()
    statement = page_statement(workspace_id, filters, limit=limit, before=before, after=after)
    rows = list(db.session.scalars(statement).unique())
    has_more = len(rows) > limit
    if after is not None:
        items = list(reversed(rows[:limit]))
        return HistoryPage(items, items[-1].id if items else None, items[0].id if items and has_more else None)
    items = rows[:limit]
    return HistoryPage(items, items[-1].id if has_more else None,
                       items[0].id if items and before is not None else None)


def recent_deliveries(workspace_id: int, *, endpoint_id: int | None = None, rule_id: int | None = None,
                      limit: int = 10) -> list[Delivery]:
    """The newest deliveries of a workspace, an endpoint or a rule (for their detail pages)."""
    filters = HistoryFilter(endpoint_id=endpoint_id, rule_id=rule_id)
    return list_deliveries(workspace_id, filters, limit=limit).items


def success_rate(workspace_id: int, *, endpoint_id: int | None = None, rule_id: int | None = None,
                 since: datetime | None = None) -> float | None:
    """Share (0.0–1.0) of finished real deliveries that were delivered; None when none finished.
    Test sends are left out: they say nothing about alerts reaching their receiver."""
    conditions = [Delivery.workspace_id == workspace_id, Delivery.is_test.is_(False),
                  Delivery.status.in_(("delivered", "dead"))]
    if endpoint_id is not None:
        conditions.append(Delivery.endpoint_id == endpoint_id)
    if rule_id is not None:
        conditions.append(Delivery.rule_id == rule_id)
    if since is not None:
        conditions.append(Delivery.created_at >= since)
    delivered = sa.func.sum(sa.case((Delivery.status == "delivered", 1), else_=0))
    finished, succeeded = db.session.execute(
        sa.select(sa.func.count(), delivered).select_from(Delivery).where(*conditions)).one()
    if not finished:
        return None
    return (succeeded or 0) / finished


def mask_header(name: str, value) -> str:
    """A request header as the history may show it: signature values never appear, even if a
    sender stored one unmasked (`v1,abc… v1,def…` → `v1,•••• v1,••••`)."""
    if name.lower() in signing.SIGNATURE_HEADERS:
        return signing.mask_signature(value)
    return "" if value is None else str(value)


def masked_headers(headers: dict | None) -> dict:
    return {name: mask_header(name, value) for name, value in (headers or {}).items()}
