"""Raising alerts: which rules a finished or timed-out run triggers, and the alerts and pending
deliveries they write. `raise_alerts` is the one entry point, for run reports and the sweeps alike.

Everything is written in the caller's transaction (flush, never commit), so the run update,
its alerts and their deliveries become visible together and sending starts after that commit.
Only rules of the run's own workspace are read, and only that workspace's endpoints get
deliveries: one tenant's runs can never reach another tenant's receivers.
"""
import fnmatch
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from webapp.extensions import db
from webapp.models import DEFAULT_CONSECUTIVE_COUNT, FAILED_STATUSES, Alert, Delivery, Endpoint, Job, Rule, Run
from webapp.models.rules import rule_endpoint
from webapp.services import api_cache
from webapp.services.alerting import lifecycle
from webapp.services.alerting.schedule_words import local_time
from webapp.services.delivery import retry_policy
from webapp.services.silences import holding
from webapp.timeutil import isoformat, utcnow


def finished_events(status: str) -> tuple[str, ...]:
    """The events a run finishing with `status` can trigger (none while it is still running)."""
    outcome_event = {"failed": "run_failed", "succeeded": "run_succeeded",
                     "verification_failed": "run_verification_failed"}.get(status)
    return (outcome_event, "run_slow", "consecutive_failures") if outcome_event else ()


def events_for(status: str) -> tuple[str, ...]:
    """The events whose rules a run finishing with `status` concerns: those it can trigger, and
    for a success also those whose firing alerts it resolves (`lifecycle.RESOLVED_BY_SUCCESS`).
    Ingestion asks `any_rule_for_job` about these, so a workspace without such rules keeps
    the one-statement path."""
    events = finished_events(status)
    if status == "succeeded":
        events += tuple(event for event in lifecycle.RESOLVED_BY_SUCCESS if event not in events)
    return events


def any_rule_for_job(connection: Connection, workspace_id: int, slug: str, events: tuple[str, ...]) -> bool:
    """Whether any of the workspace's active rules for `events` has a job filter matching
    `slug`, read with one light Core query on `connection` (or from the API cache on
    PostgreSQL). Ingestion asks before it writes the run, so a report no rule can match skips
    the matcher (and its transaction) altogether."""
    if not events:
        return False
    job_filters = api_cache.cached(("rule_filters", workspace_id, events), lambda: tuple(connection.execute(
        _ACTIVE_RULE_FILTERS, {"workspace_id": workspace_id, "events": list(events)}).scalars()))
    return any(job_filter is None or fnmatch.fnmatchcase(slug, job_filter) for job_filter in job_filters)


def describe(rule: Rule, run: Run) -> str | None:
    """The alert message in words when `rule` fires for `run`, else None.

    - run_failed / run_succeeded: the run's outcome.
    - run_timed_out: only called for a run whose deadline passed (`timed_out_at` is set).
    - run_slow: fires when the run took strictly longer than the threshold
      (`duration_ms > threshold_seconds * 1000`): a run of exactly 60 s is not slower than 60 s.
      Any finished run counts, failed or succeeded.
    - consecutive_failures: fires when the job's unbroken streak of failures (finished runs,
      newest first; a failed verification is a failure) is exactly N, so once per streak; a
      success starts a new streak.
    - run_verification_failed: the run finished but its own check of its result failed.
    - run_missed: only for a missed slot of a scheduled job (`MissedSlot`, no run).
    """
    if isinstance(run, MissedSlot):
        return run.message() if rule.event == "run_missed" else None
    slug = run.job.slug
    took = format_duration(run.duration_ms)
    if rule.event == "run_failed" and run.status == "failed":
        return f"{slug} failed" + (f" after {took}" if took else "") + _detail(run)
    if rule.event == "run_succeeded" and run.status == "succeeded":
        return f"{slug} succeeded" + (f" in {took}" if took else "")
    if rule.event == "run_verification_failed" and run.status == "verification_failed":
        return f"{slug} ran but its verification failed" + (f" after {took}" if took else "") + _detail(run)
    if rule.event == "run_timed_out" and run.timed_out_at is not None:
        return f"{slug} {deadline_words(run.deadline_at, run.started_at)}"
    if rule.event == "run_slow" and rule.threshold_seconds and run.duration_ms is not None \
            and run.duration_ms > rule.threshold_seconds * 1000:
        if round(run.duration_ms / 1000) <= rule.threshold_seconds:
            took = f"{run.duration_ms / 1000:g} s"  # just over: "60.001 s", not a puzzling "60 s"
        return f"{slug} took {took}, slower than the {rule.threshold_seconds} s threshold"
    if rule.event == "consecutive_failures" and run.status in FAILED_STATUSES:
        count = rule.consecutive_count or DEFAULT_CONSECUTIVE_COUNT
        if failure_streak(run.job_id, count + 1) == count:
            return f"{slug} failed {count} times in a row" + _detail(run)
    return None


def failure_streak(job_id: int, look_back: int) -> int:
    """How many of the job's most recent finished runs failed in a row (counted up to `look_back`)."""
    statuses = db.session.scalars(
        sa.select(Run.status)
        .where(Run.job_id == job_id, Run.status.in_(("succeeded", *FAILED_STATUSES)))
        .order_by(Run.finished_at.desc(), Run.id.desc())
        .limit(look_back)
    )
    streak = 0
    for status in statuses:
        if status not in FAILED_STATUSES:
            break
        streak += 1
    return streak


def deadline_words(deadline_at, started_at) -> str:
    """"passed its 10:46:43 UTC deadline, started 10:41" (with the start's day when it differs)."""
    if deadline_at is None:
        return "passed its deadline"
    deadline, started = deadline_at.astimezone(UTC), started_at.astimezone(UTC)
    start = f"{started:%H:%M}" if started.date() == deadline.date() else f"{started.day} {started:%b %H:%M}"
    return f"passed its {deadline:%H:%M:%S} UTC deadline, started {start}"


def format_duration(duration_ms: int | None) -> str | None:
    """"850 ms", "42 s", "12 min 5 s", "3 h 20 min" — what a person reads in an alert."""
    if duration_ms is None:
        return None
    if duration_ms < 1000:
        return f"{duration_ms} ms"
    seconds = round(duration_ms / 1000)
    if seconds < 120:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 120:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


# Built once: every finished run reads its workspace's rules, and building costs more than running.
@dataclass(frozen=True, slots=True)
class RuleEndpoint:
    """What raising reads of a rule's endpoint (its attribute names are the model's)."""
    id: int
    workspace_id: int
    is_active: bool
    deleted_at: datetime | None
    max_attempts: int | None


@dataclass(frozen=True, slots=True)
class RuleRow:
    """An active rule as raising reads it, with its endpoints: plain values under the model's
    attribute names, read with one Core query (ORM rules and their selectin-loaded endpoints
    were half of raising's CPU per report)."""
    id: int
    workspace_id: int
    name: str
    event: str
    job_filter: str | None
    threshold_seconds: int | None
    consecutive_count: int | None
    severity: str
    max_attempts: int | None
    cooldown_seconds: int
    notify_on_resolve: bool
    repeat_interval_seconds: int | None
    endpoints: list[RuleEndpoint]


_RULE_COLUMNS = (Rule.id, Rule.workspace_id, Rule.name, Rule.event, Rule.job_filter, Rule.threshold_seconds,
                 Rule.consecutive_count, Rule.severity, Rule.max_attempts, Rule.cooldown_seconds,
                 Rule.notify_on_resolve, Rule.repeat_interval_seconds)
_ENDPOINT_COLUMNS = (Endpoint.id, Endpoint.workspace_id, Endpoint.is_active, Endpoint.deleted_at,
                     Endpoint.max_attempts)
# Built once: every finished run reads its workspace's rules, and building costs more than running.
_ACTIVE_RULES = (sa.select(*_RULE_COLUMNS, *_ENDPOINT_COLUMNS)
                 .outerjoin(rule_endpoint, rule_endpoint.c.rule_id == Rule.id)
                 .outerjoin(Endpoint, Endpoint.id == rule_endpoint.c.endpoint_id)
                 .where(Rule.workspace_id == sa.bindparam("workspace_id"), Rule.is_active.is_(True),
                        Rule.event.in_(sa.bindparam("events", expanding=True)))
                 .order_by(Rule.id, Endpoint.id))


def active_rule_rows(workspace_id: int, events: tuple[str, ...]) -> list[RuleRow]:
    """The workspace's active rules for `events` with their endpoints, in one Core query."""
    rules: dict[int, RuleRow] = {}
    split = len(_RULE_COLUMNS)
    for row in db.session.execute(_ACTIVE_RULES, {"workspace_id": workspace_id, "events": list(events)}):
        rule = rules.get(row[0])
        if rule is None:
            rule = rules[row[0]] = RuleRow(*row[:split], endpoints=[])
        if row[split] is not None:
            rule.endpoints.append(RuleEndpoint(*row[split:]))
    return list(rules.values())


_ACTIVE_RULE_FILTERS = (sa.select(Rule.job_filter)
                        .where(Rule.workspace_id == sa.bindparam("workspace_id"), Rule.is_active.is_(True),
                               Rule.event.in_(sa.bindparam("events", expanding=True))))


def _raise(rule: Rule, run: Run, message: str, now) -> list[int]:
    """One alert and one pending delivery per live endpoint — or, within the cooldown, a repeat
    counted on the rule's firing alert for the job (a resolved alert never absorbs a new run)."""
    recent = _alert_within_cooldown(rule, run.job_id, now)
    if recent is not None:
        recent.repeat_count = Alert.repeat_count + 1  # in SQL: concurrent repeats are all counted
        recent.last_seen_at = now
        db.session.flush()
        return []
    live = [endpoint for endpoint in rule.endpoints
            if endpoint.is_active and endpoint.deleted_at is None and endpoint.workspace_id == run.workspace_id]
    # An active matching silence records the alert as silenced and holds the deliveries it covers.
    silence = holding.check(run.workspace_id, run.job.slug, rule.id, [endpoint.id for endpoint in live], now)
    connection = db.session.connection()  # Core rows in the session's transaction: no unit of work
    alert_id = connection.execute(_INSERT_ALERT, {
        "workspace_id": run.workspace_id, "rule_id": rule.id, "job_id": run.job_id, "run_id": run.id,
        "type": rule.event, "severity": rule.severity, "message": message[:2000],
        "metadata": _summary(rule, run), "repeat_count": 1, "last_seen_at": now, "created_at": now,
        "next_repeat_at": lifecycle.first_repeat_at(rule, now), "silenced_by": silence.silenced_by}).scalar_one()
    holding.hold(run.workspace_id, alert_id, silence, now)
    deliveries = [
        {"workspace_id": run.workspace_id, "alert_id": alert_id, "endpoint_id": endpoint.id, "rule_id": rule.id,
         "max_attempts": retry_policy.attempt_budget(rule.max_attempts, endpoint.max_attempts),
         "status": "pending", "next_attempt_at": now, "created_at": now, "updated_at": now}
        for endpoint in live if endpoint.id not in silence.held
    ]
    if not deliveries:
        return []
    return list(connection.execute(INSERT_DELIVERIES, deliveries).scalars())


# Built once: the ORM's unit of work for an alert and its ten deliveries was two fifths of a
# run report's CPU; these Core INSERTs (one for all deliveries, ids back in order) are not.
_INSERT_ALERT = sa.insert(Alert).returning(Alert.id)
INSERT_DELIVERIES = sa.insert(Delivery).returning(Delivery.id, sort_by_parameter_order=True)


def _alert_within_cooldown(rule: Rule, job_id: int, now) -> Alert | None:
    if not rule.cooldown_seconds or rule.cooldown_seconds <= 0:
        return None
    return db.session.scalar(
        sa.select(Alert)
        .where(Alert.rule_id == rule.id, Alert.job_id == job_id, Alert.state == "firing",
               Alert.created_at >= now - timedelta(seconds=rule.cooldown_seconds))
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(1)
    )


def _fast_enough(rule: Rule, run: Run) -> bool:
    """A finished run at or under a run_slow rule's threshold ends that rule's slow-run alerts."""
    return (rule.event == "run_slow" and bool(rule.threshold_seconds) and run.finished_at is not None
            and run.duration_ms is not None and run.duration_ms <= rule.threshold_seconds * 1000)


def _detail(run: Run) -> str:
    return f": {run.message}" if run.message else ""


def _summary(rule: Rule, run: Run) -> dict:
    """What the alert keeps about its cause (IDs and summaries; the run's metadata stays on the run)."""
    if isinstance(run, MissedSlot):
        return {"rule": {"id": rule.id, "name": rule.name, "event": rule.event}, **run.summary()}
    return {
        "rule": {"id": rule.id, "name": rule.name, "event": rule.event,
                 "threshold_seconds": rule.threshold_seconds, "consecutive_count": rule.consecutive_count},
        "job": {"id": run.job.id, "slug": run.job.slug, "name": run.job.name},
        "run": {"id": run.id, "external_id": run.external_id, "status": run.status,
                "started_at": isoformat(run.started_at), "finished_at": isoformat(run.finished_at),
                "deadline_at": isoformat(run.deadline_at), "timed_out_at": isoformat(run.timed_out_at),
                "duration_ms": run.duration_ms},
    }


def active_rules(workspace_ids, events: tuple[str, ...]) -> dict[int, list[Rule]]:
    """The active rules for `events` of each of these workspaces, in id order, in one query: a
    caller raising alerts for a batch of runs (the deadline sweep) reads them once per batch."""
    rules = db.session.scalars(
        sa.select(Rule)
        .where(Rule.workspace_id.in_(set(workspace_ids)), Rule.is_active.is_(True), Rule.event.in_(events))
        .order_by(Rule.id)
    ).all()
    grouped: dict[int, list[Rule]] = {}
    for rule in rules:
        grouped.setdefault(rule.workspace_id, []).append(rule)
    return grouped


def raise_alerts(run: Run, events: tuple[str, ...], rules: list[Rule] | None = None) -> list[int]:
    """Raise the alerts that `run` calls for among the workspace's active rules for `events`
    (a finished run: `events_for(run.status)`; a timed-out one: `run_timed_out`), and resolve
    the firing alerts a success or a fast run ends; returns the new delivery ids. A caller raising for a batch of runs passes the rules it read once
    (`active_rules`); rules of any other workspace are ignored, so a mix-up never crosses tenants."""
    if not events:
        return []
    if rules is None:
        rules = active_rule_rows(run.workspace_id, events)
    now = utcnow()
    delivery_ids: list[int] = []
    resolved_by_success = False
    for rule in rules:
        if rule.workspace_id != run.workspace_id or rule.event not in events:
            continue
        if rule.job_filter is not None and not fnmatch.fnmatchcase(run.job.slug, rule.job_filter):
            continue
        if not resolved_by_success and run.status == "succeeded" and rule.event in lifecycle.RESOLVED_BY_SUCCESS:
            resolved_by_success = True  # once per run: every firing failure-like alert of the job
            delivery_ids += lifecycle.resolve_firing(run.workspace_id, run.job_id, lifecycle.RESOLVED_BY_SUCCESS,
                                                     now=now)
        if _fast_enough(rule, run):
            delivery_ids += lifecycle.resolve_firing(run.workspace_id, run.job_id, lifecycle.RESOLVED_BY_A_FAST_RUN,
                                                     rule_id=rule.id, now=now)
        message = describe(rule, run)
        if message is None:
            continue
        delivery_ids += _raise(rule, run, message, now)
    return delivery_ids


@dataclass(frozen=True)
class MissedSlot:
    """A scheduled job's slot that passed its grace with no report. It has no run, so it stands
    in for one where `raise_alerts` reads a run (`job`, `job_id`, `workspace_id`; `id` None)."""
    job: Job
    expected_at: datetime
    missing_after: datetime
    id: None = None
    duration_ms: None = None
    status: None = None  # nothing finished: a missed slot resolves nothing

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def workspace_id(self) -> int:
        return self.job.workspace_id

    def message(self) -> str:
        """"nightly-backup did not run: expected at 02:00 CET (grace 5 min)", in the job's zone."""
        grace = format_duration(self.job.grace_seconds * 1000) if self.job.grace_seconds else None
        return (f"{self.job.slug} did not run: expected at {local_time(self.job.schedule, self.expected_at)}"
                + (f" (grace {grace})" if grace else " (no grace)"))

    def summary(self) -> dict:
        return {"job": {"id": self.job.id, "slug": self.job.slug, "name": self.job.name},
                "slot": {"expected_at": isoformat(self.expected_at), "missing_after": isoformat(self.missing_after),
                         "schedule": self.job.schedule, "grace_seconds": self.job.grace_seconds}}


def raise_missed(slot: MissedSlot, rules: list[Rule] | None = None) -> list[int]:
    """Raise the `run_missed` alerts of one missed slot (the missed-run sweep's path); returns
    the new delivery ids. Cooldown grouping and deliveries are those of every alert."""
    return raise_alerts(slot, ("run_missed",), rules)
