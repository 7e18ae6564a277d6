"""The lost-host scenario's rows and its count: the seed (one workspace, key, endpoint, rule),
what host A held at the cut, and the verdict from the receiver's arrivals and the database."""
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from standardwebhooks import Webhook

from tests.support.netns_receiver import SlowReceiver


def seed(app, receiver_url: str, timeout_seconds: int) -> str:
    """A user, its API key, one endpoint (the receiver) and a `run_failed` rule for every job
    (cooldown 0: each failed run raises its own alert). Returns the API key."""
    from webapp.extensions import db
    from webapp.models import Endpoint, Rule
    from webapp.services import accounts, crypto
    from webapp.services.signing import standard_webhooks

    with app.app_context():
        user = accounts.create_user("lost-host@example.com", "lost host scenario, not secret")
        _, api_key = accounts.create_api_key(workspace_id=user.workspace_id, user_id=user.id, name="lost host")
        endpoint = Endpoint(workspace_id=user.workspace_id, created_by_id=user.id, name="core receiver",
                            url=receiver_url, format="json", timeout_seconds=timeout_seconds, is_active=True,
                            headers_encrypted={}, secret_encrypted=crypto.encrypt(standard_webhooks.generate_secret()))
        db.session.add(Rule(workspace_id=user.workspace_id, name="every failure", event="run_failed", job_filter="*",
                            severity="critical", max_attempts=8, cooldown_seconds=0, is_active=True,
                            created_by_id=user.id, endpoints=[endpoint]))
        db.session.commit()
        db.session.remove()
    return api_key


def wait_for_schedulers(app, count: int, timeout: float = 60.0) -> None:
    """Until `count` scheduler processes have beaten (every host's workers can take rows over)."""
    from webapp.extensions import db
    from webapp.models import SchedulerHeartbeat

    deadline = time.monotonic() + timeout
    with app.app_context():
        while db.session.scalar(sa.select(sa.func.count()).select_from(SchedulerHeartbeat)) < count:
            db.session.rollback()
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} schedulers beat within {timeout:g} s")
            time.sleep(0.2)
        db.session.remove()


@dataclass
class Held:
    """Read just after the cut: the leases out (message id → lease end), and host A's database
    sessions caught inside a transaction (their locks stay until the server drops them)."""

    leases: dict[str, datetime]
    sessions_in_transaction: int


def held_leases(app, address_a: str) -> Held:
    from webapp.extensions import db
    from webapp.models import Delivery

    with app.app_context():
        leases = dict(db.session.execute(sa.select(Delivery.message_id, Delivery.lease_until)
                                         .where(Delivery.status == "sending")).all())
        in_transaction = db.session.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE client_addr = CAST(:address AS inet) "
            "AND state LIKE 'idle in transaction%'"), {"address": address_a})
        db.session.remove()
    return Held(leases, in_transaction)


def _finished(app, receiver: SlowReceiver) -> bool:
    from webapp.extensions import db
    from webapp.models import Delivery

    with app.app_context():
        rows = db.session.execute(sa.select(Delivery.message_id, Delivery.status)).all()
        db.session.remove()
    arrived = {arrival.webhook_id for arrival in receiver.snapshot()}
    return all(status in ("delivered", "dead") and message_id in arrived for message_id, status in rows)


def wait_until_drained(app, receiver: SlowReceiver, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _finished(app, receiver):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


@dataclass
class Outcome:
    answered: int  # runs host A answered 201
    rows: int  # delivery rows in the database
    lost: list[str]  # message ids (or "run <id>") that never arrived or never finished delivered
    arrivals: int
    duplicates: int  # arrivals beyond the first of each webhook-id
    in_flight_at_cut: int  # leases A held whose request had reached the receiver before the cut
    held_at_cut: int  # every lease out at the cut
    unexplained: int  # duplicates neither in flight at the cut nor after a recorded failed attempt
    mismatched_ids: int  # arrivals whose webhook-id is not their delivery's id
    bad_signatures: int
    failed_attempts: int
    takeover: tuple[float, float] | None  # B's first and last re-send of A's in-flight rows, s after the cut
    lease_seconds: float
    a_sessions_in_transaction: int
    leases_out: tuple[float, float] | None = None  # when A's in-flight rows' leases ran out, s after the cut
    drained_after: float | None = None  # the last arrival, s after the cut
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (not self.lost and self.unexplained == 0 and self.mismatched_ids == 0 and self.bad_signatures == 0
                and self.duplicates <= self.in_flight_at_cut + self.failed_attempts)

    def line(self) -> str:
        takeover = ("none held" if self.takeover is None or self.leases_out is None
                    else f"their leases ran out {self.leases_out[0]:.1f}–{self.leases_out[1]:.1f} s after the cut, "
                         f"B re-sent them {self.takeover[0]:.1f}–{self.takeover[1]:.1f} s after it")
        drained = "" if self.drained_after is None else f", all arrived {self.drained_after:.1f} s after the cut"
        return (f"lost host: {self.answered} runs answered 201 by A, {self.rows} deliveries; cut with "
                f"{self.in_flight_at_cut} attempts in flight ({self.held_at_cut} leases out, "
                f"{self.a_sessions_in_transaction} of A's sessions inside a transaction); lost {len(self.lost)}; "
                f"duplicates {self.duplicates} (unexplained {self.unexplained}, wrong webhook-id "
                f"{self.mismatched_ids}, bad signatures {self.bad_signatures}); {takeover} "
                f"(lease {self.lease_seconds:g} s){drained}; {self.failed_attempts} failed attempts; "
                f"{self.arrivals} arrivals"
                + "".join(f"; {note}" for note in self.notes))


def count(app, receiver: SlowReceiver, answered: list[int], held: Held, cut_at: float, address_a: str,
          address_b: str, *, lease_seconds: float) -> Outcome:
    from webapp.extensions import db
    from webapp.models import Alert, Delivery, DeliveryAttempt, Endpoint
    from webapp.services import crypto

    arrivals = receiver.snapshot()
    with app.app_context():
        rows = db.session.execute(sa.select(Delivery.id, Delivery.message_id, Delivery.alert_id, Delivery.status)).all()
        runs_with_rows = set(db.session.scalars(sa.select(Alert.run_id).join(Delivery, Delivery.alert_id == Alert.id)))
        failed = defaultdict(int)
        for delivery_id, in db.session.execute(sa.select(DeliveryAttempt.delivery_id)
                                               .where(DeliveryAttempt.outcome != "success")):
            failed[delivery_id] += 1
        secret = crypto.decrypt(db.session.scalar(sa.select(Endpoint.secret_encrypted)))
        db.session.remove()

    by_id = defaultdict(list)
    for arrival in arrivals:
        by_id[arrival.webhook_id].append(arrival)
    message_of_alert = {alert_id: message_id for _, message_id, alert_id, _ in rows}
    lost = [message_id for _, message_id, _, status in rows if status != "delivered" or message_id not in by_id]
    lost += [f"run {run_id}" for run_id in answered if run_id not in runs_with_rows]
    in_flight = {message_id for message_id in held.leases
                 if any(a.sender == address_a and a.arrived_at < cut_at for a in by_id.get(message_id, []))}
    delivery_of = {message_id: delivery_id for delivery_id, message_id, _, _ in rows}
    unexplained = 0
    for message_id, received in by_id.items():
        explained = (message_id in in_flight) + failed[delivery_of.get(message_id)]
        unexplained += max(0, len(received) - 1 - explained)
    resent = [min(a.arrived_at for a in by_id[message_id] if a.sender == address_b) - cut_at
              for message_id in in_flight if any(a.sender == address_b for a in by_id[message_id])]
    ends = [held.leases[message_id].timestamp() - cut_at for message_id in in_flight]
    verifier = Webhook(secret)
    return Outcome(
        answered=len(answered), rows=len(rows), lost=lost, arrivals=len(arrivals),
        duplicates=len(arrivals) - len(by_id), in_flight_at_cut=len(in_flight), held_at_cut=len(held.leases),
        unexplained=unexplained,
        mismatched_ids=sum(1 for a in arrivals if message_of_alert.get(a.alert_id) != a.webhook_id),
        bad_signatures=sum(1 for a in arrivals if not _verified(verifier, a)),
        failed_attempts=sum(failed.values()),
        takeover=(min(resent), max(resent)) if resent else None, lease_seconds=lease_seconds,
        a_sessions_in_transaction=held.sessions_in_transaction,
        leases_out=(min(ends), max(ends)) if ends else None,
        drained_after=max(a.arrived_at for a in arrivals) - cut_at if arrivals else None)


def _verified(verifier: Webhook, arrival) -> bool:
    try:
        verifier.verify(arrival.body, arrival.headers)
    except Exception:
        return False
    return True


def dispose(app) -> None:
    from webapp.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
