"""Paging every JSON list the same way: `?limit=` and `?cursor=`, keyset on `id DESC`, one answer
shape `{"items": [...], "next_cursor": "…" | null}` and one error for a cursor we never gave out."""
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from flask import request

from webapp import validators
from webapp.blueprints.api.validation import page_limit
from webapp.errors import ApiError
from webapp.extensions import db


def page_cursor() -> int | None:
    """The id in `?cursor=` (the last id of the previous page), or None on the first page."""
    raw = request.args.get("cursor", "").strip()
    if not raw:
        return None
    if not validators.is_id(raw):
        raise ApiError(400, "invalid_filter", "cursor is not one this API returned.",
                       {"cursor": "Use next_cursor from the previous page."})
    return int(raw)


def collection(items: list[dict], next_id: int | None) -> dict:
    """The one shape of a list; `next_id` is where the next page starts (None: this is the last)."""
    return {"items": items, "next_cursor": None if next_id is None else str(next_id)}


def keyset_rows(statement: sa.Select, model, limit: int, cursor: int | None) -> tuple[list, int | None]:
    """Up to `limit` rows of `statement` older than `cursor`, newest first, and the next page's cursor."""
    if cursor is not None:
        statement = statement.where(model.id < cursor)
    statement = statement.order_by(None).order_by(model.id.desc()).limit(limit + 1)
    rows = list(db.session.scalars(statement).unique())
    page = rows[:limit]
    return page, page[-1].id if len(rows) > limit else None


def keyset_page(statement: sa.Select, model, serialise: Callable[[Sequence], list[dict]]) -> dict:
    """A whole list answer: the request's `limit` and `cursor` applied to `statement`."""
    rows, next_id = keyset_rows(statement, model, page_limit(), page_cursor())
    return collection(serialise(rows), next_id)


def count_rows(statement: sa.Select) -> int:
    """How many rows `statement` matches, for a list that also reports its `total`."""
    subquery = statement.order_by(None).limit(None).offset(None).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(subquery)) or 0
