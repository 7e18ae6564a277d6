"""Per-endpoint history limits: an endpoint with `history_limit` N keeps only its newest N
finished deliveries (newest by id, the order its history is shown in), pruned with the age rule
by `jobs.prune_history`. Pending and sending deliveries are never touched, nor counted.

Each batch is its own short transaction (a few hundred deliveries and their attempts), so a big
table never holds SQLite's write lock long; the cost follows what is deleted, read through the
(endpoint_id, id) index, never the table's size.
"""
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Delivery, DeliveryAttempt, Endpoint

FINISHED_STATUSES = ("delivered", "dead")
BATCH = 500  # deliveries per transaction (with their attempts, up to 20 each)


def prune_beyond_limits() -> int:
    """Delete every endpoint's finished deliveries beyond its newest `history_limit`, with their
    attempts; returns how many rows (deliveries and attempts) went."""
    limits = db.session.execute(sa.select(Endpoint.id, Endpoint.history_limit)
                                .where(Endpoint.history_limit.is_not(None))).all()
    db.session.commit()
    return sum(prune_endpoint(endpoint_id, limit) for endpoint_id, limit in limits)


def prune_endpoint(endpoint_id: int, limit: int) -> int:
    """Keep the newest `limit` finished deliveries of one endpoint; returns the rows deleted."""
    oldest_kept = db.session.scalar(
        sa.select(Delivery.id).where(Delivery.endpoint_id == endpoint_id, Delivery.status.in_(FINISHED_STATUSES))
        .order_by(Delivery.id.desc()).offset(max(limit, 1) - 1).limit(1))
    if oldest_kept is None:  # fewer than `limit` finished deliveries
        db.session.commit()
        return 0
    beyond = (Delivery.endpoint_id == endpoint_id, Delivery.status.in_(FINISHED_STATUSES), Delivery.id < oldest_kept)
    removed = 0
    while True:
        ids = list(db.session.scalars(sa.select(Delivery.id).where(*beyond).order_by(Delivery.id).limit(BATCH)))
        if not ids:
            db.session.commit()
            return removed
        # Attempts first, explicitly (not left to the foreign key's cascade), then the deliveries
        # that are still finished: one redelivered meanwhile stays.
        removed += db.session.execute(sa.delete(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))
                                      .execution_options(synchronize_session=False)).rowcount
        removed += db.session.execute(sa.delete(Delivery).where(Delivery.id.in_(ids), *beyond)
                                      .execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        if len(ids) < BATCH:
            return removed
