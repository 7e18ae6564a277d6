""""Retry now": a delivery waiting out its back-off after a failed attempt is made due at once.

Only its `next_attempt_at` moves, in one conditional UPDATE (still pending, attempted at least
once, its next attempt still in the future), so it never races a claim: once the caller commits
and hands its id to `pool.send_after_commit`, the send pool claims it like any due delivery
(`claims.claim_one`: pending, due, within the endpoint's limits) and a delivery another process
has claimed meanwhile is simply not claimed again. Never a second send of one attempt.
"""
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Delivery, Endpoint
from webapp.services import audit
from webapp.timeutil import utcnow


class NotWaiting(Exception):
    """The delivery is not waiting for a retry; `code` says why (for the API's error shape)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def is_waiting(delivery: Delivery) -> bool:
    """Whether "Retry now" applies: pending after a failed attempt, its next one in the future."""
    return (delivery.status == "pending" and (delivery.attempt_count or 0) > 0
            and delivery.next_attempt_at is not None and delivery.next_attempt_at > utcnow())


def _refusal(delivery: Delivery) -> NotWaiting:
    if delivery.status == "sending":
        return NotWaiting("not_waiting", "The delivery is being sent right now.")
    if delivery.status in ("delivered", "dead"):
        return NotWaiting("not_waiting", f"The delivery is {delivery.status}: use Redeliver to send it again.")
    if not delivery.attempt_count:
        return NotWaiting("not_waiting", "The delivery has not been attempted yet; its first attempt is on its way.")
    return NotWaiting("not_waiting", "The delivery's next attempt is already due; it goes out as soon as the "
                                     "endpoint has room.")


def retry_now(delivery: Delivery, *, user_id: int | None, client_ip: str | None, via: str) -> None:
    """Make a waiting delivery due now and audit it. Flushes, does not commit; raises NotWaiting
    (nothing changed) when it is not waiting or its endpoint cannot take it. After the commit the
    caller hands the id to `pool.send_after_commit`."""
    endpoint = db.session.get(Endpoint, delivery.endpoint_id)
    if endpoint is None or endpoint.deleted_at is not None:
        raise NotWaiting("endpoint_deleted", "The endpoint was deleted; this delivery cannot be sent.")
    if not endpoint.is_active and not delivery.is_test:
        raise NotWaiting("endpoint_disabled", "The endpoint is disabled: enable it first, or the attempt would "
                                              "fail at once.")
    now = utcnow()
    moved = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == "pending", Delivery.attempt_count > 0,
               Delivery.next_attempt_at > now)
        .values(next_attempt_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire(delivery)
    if not moved:
        raise _refusal(delivery)
    audit.record(workspace_id=delivery.workspace_id, user_id=user_id, action="delivery.retry_now",
                 object_type="delivery", object_id=delivery.id, client_ip=client_ip,
                 summary=f"retried {delivery.message_id} now (attempt {delivery.attempt_count + 1}) from {via}")
