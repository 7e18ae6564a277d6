"""The Jobs list's order and search, for the page and `GET /api/v1/jobs?q=`.

Natural order: digits compare as numbers, so job-2 comes before job-10 before job-100, by the
name people see (then the slug). SQL cannot sort that way portably (SQLite has no regular
expressions to pad the numbers, and a stored padded key would need every writer of jobs to
keep it), so `ordered_page` sorts in Python: it reads three narrow columns and the attention
rank of every matching job (an ORDER BY in SQL computes that rank for every row too), sorts
them, and loads whole rows, recent runs and all, for one page only. A workspace has hundreds or
a few thousand jobs, not millions: with 5,000 jobs on SQLite a page costs about 100 ms here
against 30 ms for the SQL order by slug; with 100 jobs the difference is a millisecond or two.
"""
import math
import re
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Job
from webapp.services.alerting import job_status

MAX_QUERY_CHARS = 200
_DIGITS = re.compile(r"(\d+)", re.ASCII)


def natural_key(text: str) -> list:
    """A sort key in which runs of ASCII digits compare as numbers, the rest case-insensitively:
    re.split puts text at even and numbers at odd places, so the types compared always agree."""
    parts = _DIGITS.split(text.casefold())
    parts[1::2] = map(int, parts[1::2])
    return parts


def search_text(raw: str | None) -> str:
    """The search as typed, trimmed (and cut to a length no slug or name exceeds)."""
    return (raw or "").strip()[:MAX_QUERY_CHARS]


def matching(query: str) -> sa.ColumnElement:
    """Jobs whose slug or name contains `query`, ignoring case (`%` and `_` match themselves)."""
    needle = query.lower()
    return sa.or_(sa.func.lower(Job.slug).contains(needle, autoescape=True),
                  sa.func.lower(Job.name).contains(needle, autoescape=True))


@dataclass
class JobPage:
    """One page of the ordered list, with what the `pager` macro reads."""

    items: list[Job]
    page: int
    per_page: int
    total: int
    pages: int = field(init=False)

    def __post_init__(self):
        self.pages = max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def ordered_page(statement: sa.Select, now: datetime, page: int, per_page: int) -> JobPage:
    """Page `page` of the jobs `statement` selects (already scoped and filtered): down and late
    first, then in natural order of name and slug."""
    rank = job_status.attention_rank(now).label("rank")
    rows = db.session.execute(statement.with_only_columns(Job.id, Job.name, Job.slug, rank).order_by(None)).all()
    keys = sorted((rank, natural_key(name), slug, job_id) for job_id, name, slug, rank in rows)
    wanted = [key[3] for key in keys[(page - 1) * per_page:page * per_page]]
    jobs = {job.id: job for job in db.session.scalars(sa.select(Job).where(Job.id.in_(wanted)))} if wanted else {}
    return JobPage([jobs[job_id] for job_id in wanted if job_id in jobs], page, per_page, len(keys))
