"""Wake-ups measured against the running server (issue 15, point 7): how late, after the moment
it became due, work reaches the receiver.

- Deadlines: open runs reported through the API with `deadline_at` one to two seconds ahead, one
  `run_timed_out` rule and endpoint per job; lateness = the alert's arrival − the deadline.
- Rate-limited burst: failed runs of one job reported back to back, one endpoint, its default
  rate limit (TOCSIN_ENDPOINT_RATE, 10/s); the k-th arrival is allowed at the later of its
  report and one second after the (k − rate)-th arrival (a slot frees a second after an
  attempt started; the arrival stands in for that start, a few ms later, so the lateness is
  if anything understated by as much); lateness = arrival − that moment.
- Retries: failed runs whose first attempt the receiver answers with 500; lateness = the
  retry's arrival − the `next_attempt_at` the engine wrote (read from the database while the
  delivery waits; the back-off is 8–12 s).

Times that cross processes are unix times from one clock, `time.time()`, on one machine.
"""
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from bench import database
from bench.load import ApiClient, LoadResult
from bench.server_runs import percentile, receiver_get

RATE_PER_SECOND = 10  # the server's default TOCSIN_ENDPOINT_RATE
BURST_JOB = "burst"


@dataclass
class WakeupSeed:
    deadline_jobs: int
    retry_jobs: int
    retry_endpoint_ids: list[int]


@dataclass
class Lateness:
    p50: float
    p95: float
    p99: float
    maximum: float
    matched: int
    expected: int
    errors: int = 0
    first_error: str | None = None

    @classmethod
    def of(cls, late_ms: list[float], expected: int, load: LoadResult | None = None) -> "Lateness":
        if not late_ms:
            raise RuntimeError(f"nothing arrived of {expected} ({load.first_error if load else ''})")
        return cls(percentile(late_ms, 0.50), percentile(late_ms, 0.95), percentile(late_ms, 0.99), max(late_ms),
                   len(late_ms), expected, load.errors if load else 0, load.first_error if load else None)

    def text(self) -> str:
        return f"{self.p50:.0f} / {self.p95:.0f} / {self.p99:.0f} ms"


def seed_wakeups(app, receiver_port: int, jobs: int = 20) -> WakeupSeed:
    """Per job `deadline-NN` a `run_timed_out` rule and endpoint; one `run_failed` rule and
    endpoint for the burst; per job `retry-NN` a `run_failed` rule and an endpoint under /retry/."""
    from webapp.extensions import db
    from webapp.models import Rule, User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == database.EMAIL))
        receiver = f"http://127.0.0.1:{receiver_port}"

        def rule(name: str, event: str, job_filter: str, url: str) -> Rule:
            endpoint = database._endpoint(user.workspace_id, user.id, name, url)
            return Rule(workspace_id=user.workspace_id, name=name, event=event, job_filter=job_filter,
                        severity="critical", max_attempts=8, cooldown_seconds=0, is_active=True,
                        created_by_id=user.id, endpoints=[endpoint])

        rules = [rule(f"deadline-{n:02d} overdue", "run_timed_out", f"deadline-{n:02d}", f"{receiver}/deadline/{n}")
                 for n in range(jobs)]
        rules.append(rule("burst failed", "run_failed", BURST_JOB, f"{receiver}/burst/0"))
        retry_rules = [rule(f"retry-{n:02d} failed", "run_failed", f"retry-{n:02d}", f"{receiver}/retry/{n}")
                       for n in range(jobs)]
        db.session.add_all(rules + retry_rules)
        db.session.commit()
        result = WakeupSeed(jobs, jobs, [r.endpoints[0].id for r in retry_rules])
        db.session.remove()
    return result


def _arrivals(receiver_port: int, bucket: str, wanted, timeout: float) -> dict[str, float]:
    """The receiver's arrivals in `bucket`, once every key of `wanted` arrived or `timeout` passed."""
    wanted, give_up = set(wanted), time.monotonic() + timeout
    arrivals = receiver_get(receiver_port, f"/arrivals/{bucket}")
    while not wanted <= set(arrivals) and time.monotonic() < give_up:
        time.sleep(0.25)
        arrivals = receiver_get(receiver_port, f"/arrivals/{bucket}")
    return arrivals


def _post_all(server_port: int, api_key: str, reports: list[dict], per_second: float | None
              ) -> tuple[LoadResult, dict[str, float]]:
    """POST the reports (at `per_second`, or back to back); when each 201 came back, by external id."""
    client, accepted = ApiClient(server_port, api_key), {}
    completed = errors = 0
    first_error = None
    started = time.perf_counter()
    try:
        for number, report in enumerate(reports):
            if per_second:
                pause = started + number / per_second - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            status, body = client.post_run(report)
            if status == 201:
                completed += 1
                accepted[report["external_id"]] = time.time()
            else:
                errors += 1
                first_error = first_error or f"HTTP {status}: {body[:200]!r}"
    finally:
        client.close()
    return LoadResult(completed, errors, time.perf_counter() - started, first_error), accepted


def deadline_lateness(server_port: int, receiver_port: int, api_key: str, seed: WakeupSeed, count: int,
                      per_second: float = 50.0) -> Lateness:
    rng = random.Random(15)
    deadlines: dict[str, float] = {}
    reports = []
    first = time.time() + 1.0
    for number in range(count):
        external_id = f"dl-{number}"
        # Reported at `per_second`; each deadline 1–2 s after its report, so deadlines and
        # reports interleave and each report may set an earlier deadline than the loop sleeps for.
        deadline = first + number / per_second + rng.uniform(0.0, 1.0)
        deadlines[external_id] = deadline
        reports.append({"job": f"deadline-{number % seed.deadline_jobs:02d}", "external_id": external_id,
                        "deadline_at": datetime.fromtimestamp(deadline, UTC).isoformat()})
    load, _ = _post_all(server_port, api_key, reports, per_second)
    arrivals = _arrivals(receiver_port, "deadline", deadlines, timeout=30)
    late = [(arrivals[key] - deadline) * 1000 for key, deadline in deadlines.items() if key in arrivals]
    return Lateness.of(late, count, load)


def burst_lateness(server_port: int, receiver_port: int, api_key: str, count: int = 40) -> Lateness:
    reports = [{"job": BURST_JOB, "external_id": f"burst-{number}", "status": "failed", "duration_ms": 1000,
                "message": "exit code 3"} for number in range(count)]
    load, accepted = _post_all(server_port, api_key, reports, None)
    arrivals = _arrivals(receiver_port, "burst", accepted, timeout=count / RATE_PER_SECOND + 30)
    arrived = sorted(arrivals[key] for key in accepted if key in arrivals)
    reported = sorted(accepted.values())
    late = []
    for k, arrival in enumerate(arrived):
        allowed = reported[k] if k < RATE_PER_SECOND else max(reported[k], arrived[k - RATE_PER_SECOND] + 1.0)
        late.append((arrival - allowed) * 1000)
    return Lateness.of(late, count, load)


def retry_lateness(app, server_port: int, receiver_port: int, api_key: str, seed: WakeupSeed,
                   count: int) -> Lateness:
    from webapp.extensions import db
    from webapp.models import Delivery

    reports = [{"job": f"retry-{number % seed.retry_jobs:02d}", "external_id": f"retry-{number}", "status": "failed",
                "duration_ms": 1000, "message": "exit code 3"} for number in range(count)]
    load, _ = _post_all(server_port, api_key, reports, 100.0)
    due_at: dict[str, float] = {}
    waiting = (sa.select(Delivery.message_id, Delivery.next_attempt_at)
               .where(Delivery.endpoint_id.in_(seed.retry_endpoint_ids), Delivery.status == "pending",
                      Delivery.attempt_count == 1))
    give_up = time.monotonic() + 30
    with app.app_context():
        while len(due_at) < load.completed and time.monotonic() < give_up:
            for message_id, next_attempt_at in db.session.execute(waiting):
                due_at.setdefault(message_id, next_attempt_at.timestamp())
            db.session.rollback()
            time.sleep(0.1)
        db.session.remove()
    timeout = max(due_at.values(), default=time.time()) - time.time() + 30
    arrivals = _arrivals(receiver_port, "retry", due_at, timeout=timeout)
    late = [(arrivals[key] - due) * 1000 for key, due in due_at.items() if key in arrivals]
    return Lateness.of(late, count, load)
