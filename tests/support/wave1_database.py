"""A database as wave 1 left it (migration 0006), populated the way wave 1's app wrote rows, for
the upgrade test (tests/operations/test_upgrade_from_wave1.py).

The tables below are Core `sa.table` views of the columns migrations 0001–0006 created, not the
ORM models (those describe the head schema). Values are written as wave 1 wrote them: endpoint
URLs in clear in `endpoint.url`, signing secrets and header values as Fernet tokens made with the
key HKDF-derived from SECRET_KEY (wave 1's webapp/services/crypto.py, re-stated here so that a
later change to how keys are derived would make this test fail rather than follow it).
"""
import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from werkzeug.security import generate_password_hash

from webapp.timeutil import UTCDateTime, utcnow

WAVE1_REVISION = "0006"
PASSWORD = "correct horse battery"


def _table(name: str, *columns: tuple) -> sa.TableClause:
    return sa.table(name, *(sa.column(column_name, kind) for column_name, kind in columns))


ID, TEXT, WHEN, FLAG, JSON = sa.Integer, sa.String, UTCDateTime, sa.Boolean, sa.JSON
USER = _table("user", ("id", ID), ("email", TEXT), ("password_hash", TEXT), ("created_at", WHEN))
WORKSPACE = _table("workspace", ("id", ID), ("name", TEXT), ("created_at", WHEN))
MEMBERSHIP = _table("membership", ("id", ID), ("user_id", ID), ("workspace_id", ID), ("role", TEXT),
                    ("created_at", WHEN))
API_KEY = _table("api_key", ("id", ID), ("workspace_id", ID), ("name", TEXT), ("prefix", TEXT),
                 ("key_hash", TEXT), ("created_by_id", ID), ("created_at", WHEN))
AUDIT_EVENT = _table("audit_event", ("id", ID), ("workspace_id", ID), ("user_id", ID), ("action", TEXT),
                     ("object_type", TEXT), ("object_id", TEXT), ("summary", TEXT), ("created_at", WHEN))
ENDPOINT = _table("endpoint", ("id", ID), ("workspace_id", ID), ("name", TEXT), ("url", TEXT),
                  ("secret_encrypted", TEXT), ("headers_encrypted", JSON), ("format", TEXT),
                  ("timeout_seconds", ID), ("is_active", FLAG), ("created_by_id", ID), ("created_at", WHEN),
                  ("updated_at", WHEN))
JOB = _table("job", ("id", ID), ("workspace_id", ID), ("slug", TEXT), ("name", TEXT),
             ("default_deadline_seconds", ID), ("created_at", WHEN))
RUN = _table("run", ("id", ID), ("workspace_id", ID), ("job_id", ID), ("external_id", TEXT), ("status", TEXT),
             ("started_at", WHEN), ("finished_at", WHEN), ("duration_ms", ID), ("message", TEXT),
             ("metadata", JSON), ("created_at", WHEN))
RULE = _table("rule", ("id", ID), ("workspace_id", ID), ("name", TEXT), ("event", TEXT), ("job_filter", TEXT),
              ("severity", TEXT), ("max_attempts", ID), ("cooldown_seconds", ID), ("is_active", FLAG),
              ("created_by_id", ID), ("created_at", WHEN), ("updated_at", WHEN))
RULE_ENDPOINT = _table("rule_endpoint", ("rule_id", ID), ("endpoint_id", ID))
ALERT = _table("alert", ("id", ID), ("workspace_id", ID), ("rule_id", ID), ("job_id", ID), ("run_id", ID),
               ("type", TEXT), ("severity", TEXT), ("message", TEXT), ("metadata", JSON), ("repeat_count", ID),
               ("last_seen_at", WHEN), ("created_at", WHEN))
DELIVERY = _table("delivery", ("id", ID), ("workspace_id", ID), ("message_id", TEXT), ("alert_id", ID),
                  ("endpoint_id", ID), ("rule_id", ID), ("is_test", FLAG), ("status", TEXT),
                  ("attempt_count", ID), ("max_attempts", ID), ("next_attempt_at", WHEN),
                  ("last_http_status", ID), ("last_error", TEXT), ("created_at", WHEN), ("updated_at", WHEN),
                  ("finished_at", WHEN))
DELIVERY_ATTEMPT = _table("delivery_attempt", ("id", ID), ("workspace_id", ID), ("delivery_id", ID),
                          ("number", ID), ("started_at", WHEN), ("duration_ms", ID), ("http_status", ID),
                          ("outcome", TEXT), ("error", TEXT))


def wave1_fernet(secret_key: str) -> Fernet:
    """Wave 1's key when TOCSIN_ENCRYPTION_KEY was empty: HKDF-SHA256 of SECRET_KEY, info
    `tocsin-encryption-v1`, no salt."""
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=b"tocsin-encryption-v1").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(material))


@dataclass
class Wave1Rows:
    """What was written, for the test to compare with what the head schema reads back."""

    api_key: str
    secret: str
    endpoint_url: str
    header_value: str
    pending_message_ids: list[str] = field(default_factory=list)
    delivered_message_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    written_at: datetime = field(default_factory=utcnow)


def populate(connection: sa.Connection, *, secret_key: str, endpoint_url: str) -> Wave1Rows:
    """One owner with a workspace and API key, two jobs with runs, an endpoint with a secret and a
    custom header, a rule routing `run_failed` of `nightly-*` to it, two firing alerts, and three
    deliveries: two pending and due now (one a retry after a 503), one delivered long ago."""
    fernet = wave1_fernet(secret_key)
    now = utcnow()
    earlier = now - timedelta(hours=2)
    api_key = "tk_" + secrets.token_urlsafe(32)
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    rows = Wave1Rows(api_key=api_key, secret=secret, endpoint_url=endpoint_url, header_value="team-ops-7",
                     pending_message_ids=["msg_wave1pending000001", "msg_wave1retrying00002"],
                     delivered_message_id="msg_wave1delivered0003", written_at=now)
    inserts = [
        (USER, [{"id": 1, "email": "owner@example.com", "password_hash": generate_password_hash(PASSWORD),
                 "created_at": earlier}]),
        (WORKSPACE, [{"id": 1, "name": "Wave one", "created_at": earlier}]),
        (MEMBERSHIP, [{"id": 1, "user_id": 1, "workspace_id": 1, "role": "owner", "created_at": earlier}]),
        (API_KEY, [{"id": 1, "workspace_id": 1, "name": "cron hosts", "prefix": api_key[:10],
                    "key_hash": hashlib.sha256(api_key.encode()).hexdigest(), "created_by_id": 1,
                    "created_at": earlier}]),
        (AUDIT_EVENT, [{"id": 1, "workspace_id": 1, "user_id": 1, "action": "api_key.create",
                        "object_type": "api_key", "object_id": "1", "summary": "created API key 'cron hosts'",
                        "created_at": earlier}]),
        (ENDPOINT, [{"id": 1, "workspace_id": 1, "name": "Ops receiver", "url": endpoint_url,
                     "secret_encrypted": fernet.encrypt(secret.encode()).decode(),
                     "headers_encrypted": {"X-Team": fernet.encrypt(b"team-ops-7").decode()},
                     "format": "json", "timeout_seconds": 5, "is_active": True, "created_by_id": 1,
                     "created_at": earlier, "updated_at": earlier}]),
        (JOB, [{"id": 1, "workspace_id": 1, "slug": "nightly-backup", "name": "Nightly backup",
                "default_deadline_seconds": 3600, "created_at": earlier},
               {"id": 2, "workspace_id": 1, "slug": "hourly-sync", "name": "Hourly sync",
                "default_deadline_seconds": None, "created_at": earlier}]),
        (RUN, [{"id": 1, "workspace_id": 1, "job_id": 1, "external_id": "backup-1", "status": "failed",
                "started_at": earlier, "finished_at": earlier + timedelta(seconds=42), "duration_ms": 42000,
                "message": "exit code 3", "metadata": {"host": "db-1"}, "created_at": earlier},
               {"id": 2, "workspace_id": 1, "job_id": 2, "external_id": None, "status": "succeeded",
                "started_at": earlier, "finished_at": earlier + timedelta(seconds=5), "duration_ms": 5000,
                "message": None, "metadata": None, "created_at": earlier},
               {"id": 3, "workspace_id": 1, "job_id": 1, "external_id": "backup-2", "status": "failed",
                "started_at": now - timedelta(minutes=5), "finished_at": now - timedelta(minutes=4),
                "duration_ms": 60000, "message": "disk full", "metadata": None, "created_at": now}]),
        (RULE, [{"id": 1, "workspace_id": 1, "name": "Nightly failures", "event": "run_failed",
                 "job_filter": "nightly-*", "severity": "critical", "max_attempts": 8, "cooldown_seconds": 0,
                 "is_active": True, "created_by_id": 1, "created_at": earlier, "updated_at": earlier}]),
        (RULE_ENDPOINT, [{"rule_id": 1, "endpoint_id": 1}]),
        (ALERT, [{"id": 1, "workspace_id": 1, "rule_id": 1, "job_id": 1, "run_id": 1, "type": "run_failed",
                  "severity": "critical", "message": "nightly-backup failed: exit code 3",
                  "metadata": {"run_status": "failed"}, "repeat_count": 1, "last_seen_at": earlier,
                  "created_at": earlier},
                 {"id": 2, "workspace_id": 1, "rule_id": 1, "job_id": 1, "run_id": 3, "type": "run_failed",
                  "severity": "critical", "message": "nightly-backup failed: disk full", "metadata": None,
                  "repeat_count": 1, "last_seen_at": now, "created_at": now}]),
        (DELIVERY, [_delivery(1, rows.pending_message_ids[0], alert_id=2, status="pending", attempts=0,
                              next_attempt_at=now - timedelta(seconds=1), at=now),
                    _delivery(2, rows.pending_message_ids[1], alert_id=1, status="pending", attempts=1,
                              next_attempt_at=now - timedelta(seconds=1), at=earlier, last_http_status=503,
                              last_error="HTTP 503"),
                    _delivery(3, rows.delivered_message_id, alert_id=1, status="delivered", attempts=1,
                              next_attempt_at=None, at=earlier, last_http_status=200, finished_at=earlier)]),
        (DELIVERY_ATTEMPT, [{"id": 1, "workspace_id": 1, "delivery_id": 2, "number": 1, "started_at": earlier,
                             "duration_ms": 12, "http_status": 503, "outcome": "server_error",
                             "error": "HTTP 503 Service Unavailable"},
                            {"id": 2, "workspace_id": 1, "delivery_id": 3, "number": 1, "started_at": earlier,
                             "duration_ms": 9, "http_status": 200, "outcome": "success", "error": None}]),
    ]
    for table, values in inserts:
        connection.execute(sa.insert(table), values)
        rows.counts[table.name] = len(values)
    _advance_sequences(connection, [table.name for table, _ in inserts if "id" in table.c])
    return rows


def _delivery(delivery_id, message_id, *, alert_id, status, attempts, next_attempt_at, at,
              last_http_status=None, last_error=None, finished_at=None) -> dict:
    return {"id": delivery_id, "workspace_id": 1, "message_id": message_id, "alert_id": alert_id,
            "endpoint_id": 1, "rule_id": 1, "is_test": False, "status": status, "attempt_count": attempts,
            "max_attempts": 8, "next_attempt_at": next_attempt_at, "last_http_status": last_http_status,
            "last_error": last_error, "created_at": at, "updated_at": at, "finished_at": finished_at}


def _advance_sequences(connection: sa.Connection, tables: list[str]) -> None:
    """PostgreSQL: explicit ids leave each serial's sequence at 1; move it past the rows, as
    wave 1's own inserts (without ids) would have left it."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), (SELECT max(id) FROM \"{table}\"))"))
