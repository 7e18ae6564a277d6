"""All models, one module per aggregate; import from here."""
from webapp.models import change_notices  # noqa: F401  (triggers the API cache listens to, on PostgreSQL)
from webapp.models.accounts import ApiKey, Membership, User, Workspace
from webapp.models.alerts import ALERT_STATES, PAYLOAD_TYPES, Alert
from webapp.models.audit import AuditEvent
from webapp.models.deliveries import DELIVERY_STATUSES, Delivery, DeliveryAttempt
from webapp.models.endpoints import DEFAULT_MAX_ATTEMPTS, Endpoint
from webapp.models.invites import Invite
from webapp.models.jobs import DEFAULT_GRACE_SECONDS, FAILED_STATUSES, JOB_STATUSES, RUN_STATUSES, Job, Run
from webapp.models.rules import (
    DEFAULT_CONSECUTIVE_COUNT,
    EVENT_CONDITIONS,
    EVENT_LABELS,
    RULE_EVENTS,
    SEVERITIES,
    SYSTEM_EVENTS,
    Rule,
    rule_endpoint,
)
from webapp.models.scheduler import SchedulerHeartbeat
from webapp.models.silences import Silence, SilenceHold
from webapp.models.throttle import AuthThrottle

__all__ = [
    "ALERT_STATES", "DEFAULT_GRACE_SECONDS", "FAILED_STATUSES", "JOB_STATUSES", "PAYLOAD_TYPES",
    "DEFAULT_CONSECUTIVE_COUNT", "DEFAULT_MAX_ATTEMPTS", "EVENT_CONDITIONS", "EVENT_LABELS",
    "Alert", "ApiKey", "AuditEvent", "AuthThrottle", "DELIVERY_STATUSES", "Delivery", "DeliveryAttempt",
    "Endpoint", "Invite", "Job", "Membership", "RULE_EVENTS", "RUN_STATUSES", "Rule", "Run",
    "SEVERITIES", "SYSTEM_EVENTS", "SchedulerHeartbeat", "Silence", "SilenceHold", "User", "Workspace",
    "rule_endpoint",
]
