"""Queueing finished deliveries again: "Redeliver" one, or "Retry all dead since …" for an endpoint.

Both keep the delivery's id (its `webhook-id`), give it a fresh attempt budget and record who
asked; the retry job (or the send pool, right after the caller's commit) sends it.
"""
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Delivery, Endpoint, Rule
from webapp.services import audit
from webapp.services.delivery import retry_policy
from webapp.timeutil import utcnow


def _attempt_budget(delivery: Delivery) -> int:
    """The rule's maximum attempts when it sets them, else the endpoint's (a test send gets one)."""
    if delivery.is_test:
        return 1
    rule = db.session.get(Rule, delivery.rule_id) if delivery.rule_id else None
    endpoint = db.session.get(Endpoint, delivery.endpoint_id)
    return retry_policy.attempt_budget(rule.max_attempts if rule is not None else None,
                                       endpoint.max_attempts if endpoint is not None else None)


def _requeue_values(now: datetime, budget) -> dict:
    """A new round: the attempts so far stay recorded (and counted), the budget is fresh, and
    `round_base_attempts` remembers where the round starts so it reads "attempt 1 of N"."""
    return {"status": "pending", "next_attempt_at": now, "finished_at": None, "lease_until": None,
            "max_attempts": Delivery.attempt_count + budget, "round_base_attempts": Delivery.attempt_count,
            "updated_at": now}


def _queue_again(delivery: Delivery) -> bool:
    """Queue a delivered or dead delivery again: same id (webhook-id), a fresh attempt budget.

    False when the delivery was not delivered or dead."""
    queued = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status.in_(("delivered", "dead")))
        .values(**_requeue_values(utcnow(), _attempt_budget(delivery)))
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(delivery)
    return bool(queued)


def _queue_dead_since(endpoint: Endpoint, since: datetime) -> int:
    """"Retry all dead since …": queue again every dead real delivery to `endpoint` created at or
    after `since` (recovery after an outage); returns how many."""
    budget = retry_policy.attempt_budget_expression()
    count = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.endpoint_id == endpoint.id, Delivery.workspace_id == endpoint.workspace_id,
               Delivery.status == "dead", Delivery.is_test.is_(False), Delivery.created_at >= since)
        .values(**_requeue_values(utcnow(), budget))
        .execution_options(synchronize_session=False)
    ).rowcount
    return count


def redeliver(delivery: Delivery, *, user_id: int | None, client_ip: str | None, via: str) -> bool:
    """Redeliver from a page or the API: queue a delivered or dead delivery again (same id) and
    audit it. Flushes, does not commit; False, with nothing changed, for any other status.
    After the commit the caller hands the id to `pool.send_after_commit` so it goes out at once."""
    previous, message_id = delivery.status, delivery.message_id
    if not _queue_again(delivery):
        return False
    audit.record(workspace_id=delivery.workspace_id, user_id=user_id, action="delivery.redeliver",
                 object_type="delivery", object_id=delivery.id, client_ip=client_ip,
                 summary=f"redelivered {message_id} ({previous}) to endpoint #{delivery.endpoint_id} from {via}")
    return True


class EndpointDisabled(Exception):
    """Retrying dead deliveries to a disabled endpoint: they would die again at once."""


def count_dead_since(endpoint: Endpoint, since: datetime) -> int:
    """How many dead real deliveries "Retry all dead since …" would queue again."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Delivery)
        .where(Delivery.endpoint_id == endpoint.id, Delivery.workspace_id == endpoint.workspace_id,
               Delivery.status == "dead", Delivery.is_test.is_(False), Delivery.created_at >= since)) or 0


def retry_dead_since(endpoint: Endpoint, since: datetime, *, user_id: int | None, client_ip: str | None) -> int:
    """"Retry all dead since …" for an endpoint, audited. Flushes, does not commit. Refused
    (EndpointDisabled) while the endpoint is disabled: the caller enables it first, if asked to."""
    if not endpoint.is_active:
        raise EndpointDisabled(endpoint.disabled_reason or "disabled")
    count = _queue_dead_since(endpoint, since)
    audit.record(workspace_id=endpoint.workspace_id, user_id=user_id, action="endpoint.retry_dead",
                 object_type="endpoint", object_id=endpoint.id, client_ip=client_ip,
                 summary=f"queued {count} dead deliveries to {endpoint.name} again "
                         f"(created since {since:%Y-%m-%d %H:%M} UTC)")
    return count
