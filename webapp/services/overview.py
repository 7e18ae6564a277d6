"""Figures for the overview page: counts, deliveries per hour (with the geometry of its
server-rendered SVG chart: no JavaScript, no CDN), endpoint health, runs near deadline."""
from datetime import UTC, timedelta, tzinfo

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Alert, Delivery, DeliveryAttempt, Endpoint, Job, Rule, Run
from webapp.timeutil import utcnow

CHART_HOURS = 24
NEAR_DEADLINE = timedelta(minutes=30)


def summary(workspace_id: int) -> dict:
    def count(model, *conditions):
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.workspace_id == workspace_id, *conditions)
        )

    return {
        "jobs": count(Job),
        "endpoints": count(Endpoint, Endpoint.deleted_at.is_(None)),
        "rules": count(Rule),
        "open_alerts": count(Alert, Alert.state == "firing"),
        # Test sends are not alerts: they never count as queued, retrying or dead here.
        "pending": count(Delivery, Delivery.status == "pending", Delivery.attempt_count == 0,
                         Delivery.is_test.is_(False)),
        "retrying": count(Delivery, Delivery.status.in_(("pending", "sending")), Delivery.attempt_count > 0,
                          Delivery.is_test.is_(False)),
        "dead": count(Delivery, Delivery.status == "dead", Delivery.is_test.is_(False)),
    }


def _hour_bucket(column):
    """The hour a timestamp falls in, as text, in the database's own dialect."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD HH24")
    return sa.func.strftime("%Y-%m-%d %H", column)


def deliveries_per_hour(workspace_id: int, zone: tzinfo = UTC) -> list[dict]:
    """The last 24 hours, oldest first: {"label", "start", "delivered", "retrying", "dead"} per
    hour; buckets are UTC hours, labelled with their start in `zone` (the reader's)."""
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=CHART_HOURS - 1)
    bucket = _hour_bucket(Delivery.created_at)
    outcome = sa.case((Delivery.status == "delivered", "delivered"), (Delivery.status == "dead", "dead"),
                      else_="retrying")
    rows = db.session.execute(
        sa.select(bucket, outcome, sa.func.count())
        .where(Delivery.workspace_id == workspace_id, Delivery.created_at >= start, Delivery.is_test.is_(False))
        .group_by(bucket, outcome)
    ).all()
    counts = {(hour, kind): number for hour, kind, number in rows}
    hours = []
    for index in range(CHART_HOURS):
        moment = start + timedelta(hours=index)
        key = moment.strftime("%Y-%m-%d %H")
        hours.append({"label": moment.astimezone(zone).strftime("%H:%M"), "start": moment,
                      **{kind: counts.get((key, kind), 0) for kind in ("delivered", "retrying", "dead")}})
    return hours


def endpoint_stats(workspace_id: int) -> list[dict]:
    """Success rate and p95 attempt latency per live endpoint over the last 24 hours, of alert
    deliveries only (a test send says nothing about alerts reaching their receiver)."""
    since = utcnow() - timedelta(hours=CHART_HOURS)
    endpoints = db.session.scalars(
        sa.select(Endpoint).where(Endpoint.workspace_id == workspace_id, Endpoint.deleted_at.is_(None))
        .order_by(Endpoint.name)).all()
    stats = []
    for endpoint in endpoints:
        attempts = (sa.select(DeliveryAttempt.duration_ms, DeliveryAttempt.outcome)
                    .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
                    .where(Delivery.endpoint_id == endpoint.id, Delivery.is_test.is_(False),
                           DeliveryAttempt.started_at >= since))
        total, succeeded = _totals(attempts)
        stats.append({"endpoint": endpoint, "attempts": total,
                      "success_rate": (succeeded / total) if total else None,
                      "p95_ms": _p95(attempts, total)})
    return stats


def _totals(attempts) -> tuple[int, int]:
    subquery = attempts.subquery()
    total, succeeded = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((subquery.c.outcome == "success", 1),
                                                                        else_=0)), 0))
        .select_from(subquery)
    ).one()
    return int(total), int(succeeded)


def _p95(attempts, total: int) -> int | None:
    """The 95th percentile by offset (portable: SQLite has no percentile function)."""
    if not total:
        return None
    offset = min(total - 1, int(total * 0.95))
    subquery = attempts.subquery()
    return db.session.scalar(
        sa.select(subquery.c.duration_ms).where(subquery.c.duration_ms.is_not(None))
        .order_by(subquery.c.duration_ms).offset(offset).limit(1))


def runs_near_deadline(workspace_id: int, limit: int = 10) -> list[Run]:
    """Open runs whose deadline is past or within the next 30 minutes, soonest first."""
    return db.session.scalars(
        sa.select(Run).where(Run.workspace_id == workspace_id, Run.status == "running",
                             Run.deadline_at.is_not(None), Run.deadline_at <= utcnow() + NEAR_DEADLINE)
        .order_by(Run.deadline_at).limit(limit)).all()


# --- the chart's geometry ---------------------------------------------------------------------

# Each series is coloured by the stylesheet (`.chart-delivered` …), so dark mode can recolour it.
SERIES = ("delivered", "retrying", "dead")
# The legend's words: the delivery vocabulary's (services/labels.py), where "dead" reads "failed".
SERIES_LABELS = {"delivered": "delivered", "retrying": "retrying", "dead": "failed"}


def stacked_bars(hours: list[dict], width: int = 720, height: int = 160) -> dict:
    """Rectangles for a stacked bar chart of deliveries per hour, scaled to the busiest hour."""
    peak = max((sum(hour[name] for name in SERIES) for hour in hours), default=0) or 1
    slot = width / max(len(hours), 1)
    bars = []
    for index, hour in enumerate(hours):
        y = height
        for name in SERIES:
            size = hour[name] / peak * (height - 10)
            if hour[name]:
                y -= size
                bars.append({"x": round(index * slot + 2, 1), "y": round(y, 1), "width": round(slot - 4, 1),
                             "height": round(size, 1), "series": name,
                             "title": f"{hour['label']}: {hour[name]} {name}"})
    labels = [{"x": round(index * slot + slot / 2, 1), "text": hour["label"]}
              for index, hour in enumerate(hours) if index % 3 == 0]
    now_x = None
    if hours and "start" in hours[0]:
        elapsed_hours = (utcnow() - hours[0]["start"]).total_seconds() / 3600
        now_x = round(min(max(elapsed_hours * slot, 0), width), 1)
    return {"width": width, "height": height, "bars": bars, "labels": labels, "peak": peak,
            "series": SERIES, "series_labels": SERIES_LABELS, "now_x": now_x}
