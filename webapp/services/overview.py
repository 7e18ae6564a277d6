"""Figures for the overview page."""
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Alert, Delivery, Endpoint, Job, Rule


def summary(workspace_id: int) -> dict:
    def count(model, *conditions):
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.workspace_id == workspace_id, *conditions)
        )

    return {
        "jobs": count(Job),
        "endpoints": count(Endpoint, Endpoint.deleted_at.is_(None)),
        "rules": count(Rule),
        "open_alerts": count(Alert, Alert.acknowledged_at.is_(None)),
        "pending": count(Delivery, Delivery.status == "pending", Delivery.attempt_count == 0),
        "retrying": count(Delivery, Delivery.status.in_(("pending", "sending")), Delivery.attempt_count > 0),
        "dead": count(Delivery, Delivery.status == "dead"),
    }
