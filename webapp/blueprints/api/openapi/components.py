"""The OpenAPI document's schemas: every resource the API answers with and every body it takes,
each field written once, with the limits and choices read from the services that enforce them.

Answers are closed (`additionalProperties: false`, every field required), so a field the API
starts to send without documenting it here fails the schemathesis test; bodies are closed
because `json_body(allowed)` refuses unknown fields.
"""
from webapp import validators
from webapp.errors import HTTP_ERROR_CODES
from webapp.models import ALERT_STATES, DELIVERY_STATUSES, JOB_STATUSES, RULE_EVENTS, RUN_STATUSES, SEVERITIES
from webapp.services import formats, labels, signing
from webapp.services import silences as silence_service
from webapp.services.alerting import alerts, jobs, report_validation, rules, schedules
from webapp.services.delivery import claims
from webapp.services.endpoints import credentials, delivery_policy, signature_settings
from webapp.services.silences import windows as silence_windows

# Codes the blueprints raise themselves, besides the one per HTTP status (webapp/errors.py).
API_ERROR_CODES = ("invalid_filter", "invalid_json", "validation_error", "secret_unreadable", "url_unreadable",
                   "database_unavailable", "not_waiting", "endpoint_disabled", "endpoint_deleted")
ERROR_CODES = sorted(set(HTTP_ERROR_CODES.values()) | set(API_ERROR_CODES))

ID = {"type": "integer", "minimum": 1, "maximum": validators.MAX_ID}
MOMENT = {"type": "string", "format": "date-time", "description": "RFC 3339 in UTC, e.g. 2026-11-24T09:00:00Z."}
BOOLEAN = {"type": "boolean"}
TEXT = {"type": "string"}
MASKED = {"type": "string", "description": "Shown only as a mask (••••••): the value is never sent back."}


def nullable(schema: dict) -> dict:
    """`schema` or null (JSON Schema 2020-12, as OpenAPI 3.1 has it)."""
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    if "oneOf" in schema:
        return {**schema, "oneOf": [*schema["oneOf"], {"type": "null"}]}
    nulled = {**schema, "type": [schema["type"], "null"]}
    if "enum" in schema:
        nulled["enum"] = [*schema["enum"], None]
    return nulled


def text(maximum: int, minimum: int = 0, **extra) -> dict:
    return {"type": "string", "minLength": minimum, "maxLength": maximum, **extra}


def whole(minimum: int, maximum: int = validators.MAX_INTEGER, **extra) -> dict:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


def choice(values, **extra) -> dict:
    return {"type": "string", "enum": list(values), **extra}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(properties: dict, required=None, **extra) -> dict:
    """An object with exactly these properties; an answer (required=None) always has them all."""
    return {"type": "object", "properties": properties,
            "required": sorted(properties) if required is None else sorted(required),
            "additionalProperties": False, **extra}


def page_of(item: dict, **more_properties) -> dict:
    """The one list shape (webapp/blueprints/api/pagination.py)."""
    return closed({"items": {"type": "array", "items": item},
                   "next_cursor": nullable(TEXT | {"description": "Pass as `cursor` for the next page; "
                                                                  "null on the last page."}),
                   **more_properties})


# --- the endpoint: every field once, with where it appears ----------------------------------
# "r": in answers, "c": in the create body, "u": in the update body. A new field is one line.
ENDPOINT_FIELDS = {
    "id": (ID, "r"),
    "name": (text(100, 1), "rcu"),
    "url": (text(2048, 1, description="http or https; every address it resolves to must be public (or inside "
                                      "TOCSIN_ALLOWED_NETWORKS). Stored encrypted: answers show it masked (its host "
                                      "and a mask), GET …/url reveals it; send the mask back to keep it."), "rcu"),
    "format": (choice(formats.FORMATS, default=formats.DEFAULT_FORMAT), "rcu"),
    "template": (nullable(TEXT | {"description": "The body template; required by the template format."}), "rcu"),
    "headers": ({"type": "object", "additionalProperties": TEXT,
                 "description": "Custom headers {name: value}. Answers mask every value; send the mask back "
                                "to keep a stored value."}, "rcu"),
    "timeout_seconds": (whole(claims.MIN_ENDPOINT_TIMEOUT_SECONDS, claims.MAX_ENDPOINT_TIMEOUT_SECONDS,
                              default=10), "rcu"),
    "secret": (nullable(TEXT | {"description": "A secret by the rules of the signature scheme (Standard Webhooks: "
                                               "whsec_ + base64); made for you when absent."}), "c"),
    "is_active": (BOOLEAN, "rcu"),
    "disabled_reason": (nullable(TEXT), "r"),
    "health": (choice(("new", "healthy", "failing", "disabled"), description=(
        "new: no attempt yet; disabled: not active (see disabled_reason); failing: the latest attempt failed "
        "and either it was a test send or none of the last 3 attempts succeeded (test sends count); "
        "else healthy.")), "r"),
    "health_error": (nullable(TEXT | {"description": "The failing attempt's error when health is failing."}), "r"),
    **{name: (nullable(MASKED | {"description": f"The receiver's {credentials.WORDS[name]}, stored encrypted; "
                                                "answers show a mask or null."}), "rcu")
       for name in credentials.FIELDS},
    "signature_scheme": (choice(signing.SCHEMES, default=signing.DEFAULT_SCHEME), "rcu"),
    "signature_header": (nullable(text(signature_settings.MAX_HEADER_CHARACTERS, description=(
        "The header of the hmac-sha256-hex scheme."))), "rcu"),
    "signature_header_prefix": (nullable(text(signature_settings.MAX_PREFIX_CHARACTERS, description=(
        "The header prefix of the timestamped-hmac-hex scheme, ending in -."))), "rcu"),
    "retry_delays_seconds": (nullable({"type": "array", "items": whole(1, delivery_policy.MAX_DELAY_SECONDS),
                                       "minItems": 1, "maxItems": delivery_policy.MAX_DELAYS,
                                       "description": "Delays after the 1st, 2nd, … failed attempt; null: "
                                                      "the default schedule."}), "rcu"),
    "max_attempts": (whole(1, delivery_policy.MAX_ATTEMPTS, description="The attempt budget of its deliveries, "
                                                                        "unless their rule sets one."), "rcu"),
    "history_limit": (nullable(whole(1, delivery_policy.MAX_HISTORY_LIMIT, description=(
        "Keep only the newest N finished deliveries; null: by age only."))), "rcu"),
    "created_at": (MOMENT, "r"),
    "updated_at": (MOMENT, "r"),
}


def endpoint_part(where: str) -> dict:
    return {name: schema for name, (schema, places) in ENDPOINT_FIELDS.items() if where in places}


ENDPOINT = closed(endpoint_part("r"))
# The answer to a create, and to a change of signature scheme whose secret did not fit the new one:
# the new secret, shown once (none with the none scheme, or when the secret stays).
ENDPOINT_WITH_SECRET = closed({**endpoint_part("r"), "secret": TEXT | {"description": "The new signing secret."}},
                              required=endpoint_part("r"))
ENDPOINT_CREATE = closed(endpoint_part("c"), required=["name", "url"])
ENDPOINT_UPDATE = closed(endpoint_part("u"), required=[])


# --- jobs and runs -----------------------------------------------------------------------------
SLUG = text(100, 1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            description=report_validation.SLUG_RULE)
SCHEDULE = {"oneOf": [
    closed({"every_seconds": whole(1, schedules.MAX_EVERY_SECONDS)}),
    closed({"cron": text(schedules.MAX_CRON_CHARS, description="Five cron fields, e.g. */15 * * * *."),
            "timezone": text(64, description="An IANA time zone name; UTC when absent.")}, required=["cron"]),
], "description": "Every N seconds, or a cron expression in a time zone."}
JOB_WRITABLE = {
    "slug": SLUG,
    "name": text(jobs.MAX_NAME_CHARS, 1),
    "schedule": nullable(SCHEDULE),
    "grace_seconds": whole(0, schedules.MAX_GRACE_SECONDS),
    "is_paused": BOOLEAN,
}
JOB = closed({
    "id": ID, "slug": TEXT, "name": TEXT, "default_deadline_seconds": nullable(whole(1)),
    "schedule": nullable(SCHEDULE), "grace_seconds": whole(0), "is_paused": BOOLEAN,
    "status": choice(JOB_STATUSES), "next_expected_at": nullable(MOMENT),
    "last_run_status": nullable(choice(["running", "succeeded", "failed", "verification failed", "timed out"])),
    "created_at": MOMENT,
})
JOB_CREATE = closed({**{name: schema for name, schema in JOB_WRITABLE.items() if name in jobs.CREATE_FIELDS},
                     "name": nullable(JOB_WRITABLE["name"])}, required=["slug"])
JOB_UPDATE = closed({**{name: schema for name, schema in JOB_WRITABLE.items() if name in jobs.UPDATE_FIELDS},
                     "name": nullable(JOB_WRITABLE["name"] | {"description": "The name people see; null: the slug."})},
                    required=[])

RUN = closed({
    "id": ID, "job": TEXT, "external_id": nullable(TEXT), "status": choice(RUN_STATUSES),
    "started_at": MOMENT, "deadline_at": nullable(MOMENT), "finished_at": nullable(MOMENT),
    "timed_out_at": nullable(MOMENT), "duration_ms": nullable(whole(0)), "message": nullable(TEXT),
    "metadata": nullable({"type": "object"}), "created_at": MOMENT,
})
DURATION_MS = whole(0, report_validation.MAX_DURATION_MS, description="Only for a finished run.")
MESSAGE = text(report_validation.MAX_MESSAGE_CHARS)
RUN_REPORT = closed({
    "job": SLUG | {"description": "The job's slug; a new slug creates the job."},
    "external_id": nullable(text(report_validation.MAX_EXTERNAL_ID_CHARS, 1, description=(
        "Your id of the run: a second report with the same id updates that run."))),
    "deadline_seconds": nullable(whole(1, report_validation.MAX_DEADLINE_SECONDS)),
    "deadline_at": nullable(MOMENT | {"description": "In the future, at most 7 days away; not with "
                                                     "deadline_seconds."}),
    "status": nullable(choice(RUN_STATUSES, default="running")),
    "duration_ms": nullable(DURATION_MS),
    "message": nullable(MESSAGE),
    "metadata": nullable({"type": "object", "description": f"At most {report_validation.MAX_METADATA_BYTES} "
                                                           "bytes as JSON."}),
}, required=["job"])
RUN_FINISH = closed({
    "status": choice(report_validation.FINISHED_STATUSES),
    "duration_ms": nullable(DURATION_MS),
    "message": nullable(MESSAGE),
}, required=["status"])

# --- rules -------------------------------------------------------------------------------------
RULE_WRITABLE = {
    "name": text(100, 1),
    "event": choice(RULE_EVENTS),
    "job_filter": nullable(text(rules.MAX_JOB_FILTER, description="A glob of job slugs; null or * for every job.")),
    "threshold_seconds": nullable(whole(1, rules.MAX_THRESHOLD_SECONDS, description="run_slow only.")),
    "consecutive_count": nullable(whole(rules.MIN_CONSECUTIVE_COUNT, rules.MAX_CONSECUTIVE_COUNT,
                                        description="consecutive_failures only.")),
    "severity": nullable(choice(SEVERITIES, default=rules.DEFAULT_SEVERITY)),
    "endpoint_ids": {"type": "array", "items": ID, "description": "Live endpoints of this workspace."},
    "max_attempts": nullable(whole(1, rules.MAX_ATTEMPTS)),
    "cooldown_seconds": nullable(whole(0, rules.MAX_COOLDOWN_SECONDS, default=rules.DEFAULT_COOLDOWN_SECONDS)),
    "notify_on_resolve": BOOLEAN,
    "repeat_interval_seconds": nullable(whole(rules.MIN_REPEAT_INTERVAL_SECONDS, rules.MAX_REPEAT_INTERVAL_SECONDS,
                                              description="null: never repeat.")),
    "is_active": BOOLEAN,
}
RULE = closed({
    "id": ID, **{name: RULE_WRITABLE[name] for name in rules.FIELDS}, "name": TEXT,
    "max_attempts": nullable(whole(1)), "created_at": MOMENT, "updated_at": MOMENT,
})
RULE_CREATE = closed(RULE_WRITABLE, required=["name", "event", "endpoint_ids"])
RULE_UPDATE = closed(RULE_WRITABLE, required=[])

# --- alerts and deliveries ---------------------------------------------------------------------
ALERT = closed({
    "id": ID, "type": choice(alerts.ALERT_TYPES), "severity": choice(SEVERITIES), "message": TEXT,
    "state": choice(ALERT_STATES), "repeat_count": whole(0), "last_seen_at": nullable(MOMENT),
    "created_at": MOMENT, "acknowledged_at": nullable(MOMENT), "acknowledged_by": nullable(TEXT),
    "acknowledged_note": nullable(TEXT), "resolved_at": nullable(MOMENT), "resolved_by": nullable(TEXT),
    "rule_id": nullable(ID), "job": nullable(TEXT), "run_id": nullable(ID),
    "silenced_by": nullable(ID | {"description": "The silence that held its deliveries when it was raised."}),
    "deliveries": {"type": "array", "items": closed({
        "id": ID, "endpoint_id": ID, "event": TEXT, "status": choice(DELIVERY_STATUSES)})},
})
ACKNOWLEDGE = closed({"note": nullable(text(alerts.MAX_NOTE))}, required=[])

DELIVERY_PROPERTIES = {
    "id": ID, "message_id": TEXT, "alert_id": nullable(ID), "endpoint_id": ID, "rule_id": nullable(ID),
    "is_test": BOOLEAN, "event": TEXT | {"description": "alert.fired, alert.repeated, alert.resolved or alert.test."},
    "status": choice(DELIVERY_STATUSES),
    "attempt_count": whole(0, description="Every attempt ever made, across Redeliver rounds."),
    "max_attempts": whole(0, description="The engine's limit for attempt_count (grows by a fresh budget on "
                                         "each Redeliver)."),
    "round_attempt_count": whole(0, description="Attempts of the current round (a Redeliver or Retry all dead "
                                                "starts a new round): the screens' \"attempt 2 of 8\"."),
    "round_max_attempts": whole(0, description="The attempt budget of the current round; never grows on "
                                               "Redeliver."),
    "state": choice(labels.DELIVERY_STATES, description=(
        "The screens' state: failed-retrying is pending/sending after a failed attempt; a finished test send "
        "is test-delivered or test-failed, never delivered or dead.")),
    "state_label": TEXT, "event_label": TEXT,
    "next_attempt_at": nullable(MOMENT), "last_http_status": nullable(whole(0)), "last_error": nullable(TEXT),
    "last_duration_ms": nullable(whole(0)), "created_at": MOMENT, "finished_at": nullable(MOMENT),
}
DELIVERY = closed(DELIVERY_PROPERTIES)
ATTEMPT = closed({
    "number": whole(1), "started_at": MOMENT, "duration_ms": nullable(whole(0)), "http_status": nullable(whole(0)),
    "outcome": TEXT | {"description": "success, client_error, server_error, timeout, connection, tls, blocked, "
                                      "template, redirect or skipped."},
    "request_headers": nullable({"type": "object", "additionalProperties": TEXT,
                                 "description": "Signatures and credentials masked."}),
    "request_body": nullable(TEXT), "response_excerpt": nullable(TEXT), "error": nullable(TEXT),
    "response_headers": nullable({"type": "object", "additionalProperties": TEXT,
                                  "description": "The receiver's answer headers (capped; cookies and tokens "
                                                 "masked). Null when there was no answer or before they were "
                                                 "recorded."}),
})
DELIVERY_WITH_ATTEMPTS = closed({**DELIVERY_PROPERTIES, "attempts": {"type": "array", "items": ref("Attempt")}})
TEST_SEND = closed({
    "delivery_id": ID, "status": choice(DELIVERY_STATUSES), "http_status": nullable(whole(0)),
    "duration_ms": nullable(whole(0)), "response_excerpt": TEXT, "error": nullable(TEXT),
    "outcome": TEXT | {"description": "The attempt's outcome, or pending when the test waits for the endpoint's "
                                      "limits."},
})
SECRET = closed({"id": ID, "secret": TEXT})
ENDPOINT_URL = closed({"id": ID, "url": TEXT})
ROTATED_SECRET = closed({"id": ID, "secret": TEXT, "previous_secret_valid_until": nullable(MOMENT)})
ME = closed({"workspace": closed({"id": ID, "name": TEXT})})

ERROR = closed({"error": closed({
    "code": choice(ERROR_CODES),
    "message": TEXT,
    "fields": {"type": "object", "additionalProperties": TEXT,
               "description": "One message per field at fault (dotted for nested ones: schedule.cron)."},
}, required=["code", "message"])}, description='The one error shape: {"error": {"code", "message", "fields"?}}.')

SCHEMAS = {
    "Error": ERROR, "Me": ME, "OpenApiDocument": {"type": "object", "required": ["openapi", "info", "paths"]},
    "Job": JOB, "JobCreate": JOB_CREATE, "JobUpdate": JOB_UPDATE, "JobPage": page_of(ref("Job")),
    "Run": RUN, "RunReport": RUN_REPORT, "RunFinish": RUN_FINISH, "RunPage": page_of(ref("Run")),
    "Rule": RULE, "RuleCreate": RULE_CREATE, "RuleUpdate": RULE_UPDATE, "RulePage": page_of(ref("Rule")),
    "Endpoint": ENDPOINT, "EndpointWithSecret": ENDPOINT_WITH_SECRET, "EndpointCreate": ENDPOINT_CREATE,
    "EndpointUpdate": ENDPOINT_UPDATE, "EndpointPage": page_of(ref("Endpoint")),
    "TestSend": TEST_SEND, "Secret": SECRET, "EndpointUrl": ENDPOINT_URL, "RotatedSecret": ROTATED_SECRET,
    "Alert": ALERT, "Acknowledge": ACKNOWLEDGE,
    "AlertPage": page_of(ref("Alert"), total=whole(0), next_offset=nullable(whole(0, description=(
        "Pass as `offset` for the next page when paging by offset; null on cursor pages and the last page.")))),
    "Delivery": DELIVERY, "DeliveryWithAttempts": DELIVERY_WITH_ATTEMPTS, "Attempt": ATTEMPT,
    "DeliveryPage": page_of(ref("Delivery")),
}

# == scopes ==
# An API key's scope (API_KEY_SCOPES): GET /me names it; a request outside it answers 403 `insufficient_scope`.
from webapp.models.accounts import API_KEY_SCOPES  # noqa: E402

API_ERROR_CODES += ("insufficient_scope",)
ERROR_CODES[:] = sorted({*ERROR_CODES, *API_ERROR_CODES})
ERROR["properties"]["error"]["properties"]["code"]["enum"] = list(ERROR_CODES)
ME["properties"]["scope"] = choice(API_KEY_SCOPES, description=(
    "What this key may do: `ingest` reports, finishes and reads runs (and reads /me); `full` is the whole API."))
ME["required"] = sorted(ME["properties"])

# == silences ==
WEEKLY = closed({
    "weekdays": {"type": "array", "minItems": 1, "items": choice(silence_windows.WEEKDAYS)},
    "start_time": text(5, 5, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM on the zone's clock."),
    "end_time": text(5, 5, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                     description="HH:MM; not after start_time: the window crosses midnight."),
    "timezone": text(64, 1, description="An IANA zone, e.g. Europe/Paris."),
}, description="A weekly window, on the wall clock of `timezone` (daylight saving included).")
SILENCE_WRITABLE = {
    "job_filter": nullable(text(200, description="A glob on the job's slug (billing-*; * for every job).")),
    "rule_id": nullable(ID | {"description": "Only this rule's alerts."}),
    "endpoint_id": nullable(ID | {"description": "Only the deliveries to this endpoint."}),
    "starts_at": nullable(TEXT | {"description": "RFC 3339 (UTC when no offset); default now."}),
    "ends_at": nullable(TEXT | {"description": "RFC 3339 (UTC when no offset) or `now`; required unless "
                                               "weekly. Set it to now to end the silence."}),
    "weekly": nullable(ref("SilenceWeekly")),
    "comment": text(silence_service.MAX_COMMENT),
}
SILENCE = closed({
    "id": ID, **{name: SILENCE_WRITABLE[name] for name in ("job_filter", "rule_id", "endpoint_id", "weekly")},
    "starts_at": MOMENT, "ends_at": nullable(MOMENT), "comment": TEXT, "created_by_id": nullable(ID),
    "created_at": MOMENT, "state": choice(silence_windows.STATES),
    "next_start_at": nullable(MOMENT | {"description": "When an upcoming silence next comes into force."}),
})
SCHEMAS.update({
    "Silence": SILENCE, "SilenceWeekly": WEEKLY, "SilencePage": page_of(ref("Silence")),
    "SilenceCreate": closed(SILENCE_WRITABLE, required=[]), "SilenceUpdate": closed(SILENCE_WRITABLE, required=[]),
})

# == config ==
CONFIG_DOCUMENT = closed({
    "version": {"type": "integer", "enum": [1]},
    **{section: {"type": "array", "items": {"type": "object"}} for section in ("jobs", "endpoints", "rules")},
}, required=["version"], description="A configuration document (docs/config.md): `version: 1` and the lists "
                                     "`jobs`, `endpoints`, `rules`. Secrets are references `{env: NAME}`.")
CONFIG_CHANGE = closed({
    "kind": choice(("job", "endpoint", "rule")), "key": TEXT, "action": choice(("create", "update", "unchanged",
                                                                                 "delete")),
    "notes": {"type": "array", "items": TEXT},
    "fields": {"type": "array", "items": closed({"field": TEXT, "from": {}, "to": {}})},
})
CONFIG_PLAN = closed({
    "dry_run": BOOLEAN, "applied": BOOLEAN,
    "counts": closed({name: whole(0) for name in ("create", "update", "unchanged", "delete")}),
    "changes": {"type": "array", "items": ref("ConfigChange")},
    "plan": {"type": "array", "items": TEXT, "description": "The changes as the shell prints them."},
})
SCHEMAS.update({"ConfigDocument": CONFIG_DOCUMENT, "ConfigChange": CONFIG_CHANGE, "ConfigPlan": CONFIG_PLAN})
