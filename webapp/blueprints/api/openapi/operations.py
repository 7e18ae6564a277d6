"""The OpenAPI document's operations: every route under /api/v1 with its parameters, body and
every status it can answer (a test holds this list and the URL map to the same pairs)."""
from webapp.blueprints.api.alerts import MAX_OFFSET
from webapp.blueprints.api.openapi.components import ID, SLUG, choice, ref, text, whole
from webapp.models import RUN_STATUSES, SEVERITIES
from webapp.services import history
from webapp.services.alerting import alerts, job_list

ERROR_WORDS = {
    400: "Bad input: `validation_error` (with `fields`), `invalid_json` or `invalid_filter`.",
    401: "No valid API key (`unauthorized`).",
    404: "No such object in this workspace (`not_found`).",
    408: "The body did not arrive in time (`request_timeout`).",
    409: "The object's state forbids it (`conflict`).",
    413: "The body is larger than 64 KiB (`payload_too_large`).",
    415: "The body is not sent as application/json (`unsupported_media_type`).",
    428: "The header X-Confirm-Destructive: true is missing (`confirmation_required`).",
    429: "Too many requests with this API key (`rate_limited`): wait the Retry-After seconds.",
    503: "The database is unreachable for the moment, e.g. restarting (`database_unavailable`): "
         "try again after the Retry-After seconds.",
}


def query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def path(name: str, schema: dict = ID) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "string"}}}
PAGE = [query("limit", whole(1, 200, default=50), "Items per page (1–200)."),
        query("cursor", text(19, pattern=r"^[0-9]*$"), "`next_cursor` of the previous page.")]


def operation(operation_id: str, tag: str, summary: str, answers: dict, *, errors=(), body: str | None = None,
              body_required: bool = True, parameters=(), description: str = "", headers: dict | None = None,
              public: bool = False) -> dict:
    """One operation. `answers`: {status: (schema name or None, words)}; `headers` are those of
    the first answer. Every operation may answer 400 (a query value no column can hold) and,
    unless public, 401, 429 (limits per key) and 503 (the database unreachable); one that takes a
    body also 408, 413 and 415."""
    statuses = {400, *errors} | (set() if public else {401, 429, 503})
    if body is not None:
        statuses |= {408, 413, 415}
    responses = {}
    for status, (schema, words) in answers.items():
        responses[str(status)] = {"description": words}
        if schema is not None:
            responses[str(status)]["content"] = {"application/json": {"schema": ref(schema)}}
    if headers:
        responses[str(min(answers))]["headers"] = headers
    for status in sorted(statuses):
        responses[str(status)] = {"description": ERROR_WORDS[status],
                                  "content": {"application/json": {"schema": ref("Error")}}}
        if status in (429, 503):
            responses[str(status)]["headers"] = RETRY_AFTER
    result = {"operationId": operation_id, "tags": [tag], "summary": summary, "responses": responses}
    if public:
        result["security"] = []
    if description:
        result["description"] = description
    if parameters:
        result["parameters"] = list(parameters)
    if body is not None:
        result["requestBody"] = {"required": body_required,
                                 "content": {"application/json": {"schema": ref(body)}}}
    return result


CONFIRM = {"name": "X-Confirm-Destructive", "in": "header", "required": True,
           "schema": {"type": "string", "enum": ["true"]}, "description": "Must be `true`."}
NO_STORE = {"Cache-Control": {"description": "no-store", "schema": {"type": "string"}}}

LOCATION = {"Location": {"description": "The new endpoint's URL.", "schema": {"type": "string"}}}

PATHS = {
    "/openapi.json": {"get": operation("getOpenApiDocument", "Workspace", "This document (no API key needed)",
                                       {200: ("OpenApiDocument", "The OpenAPI 3.1 document.")}, public=True)},
    "/me": {"get": operation("getMe", "Workspace", "The API key's workspace", {200: ("Me", "The workspace.")})},
    "/jobs": {
        "get": operation("listJobs", "Jobs", "List jobs, newest first", {200: ("JobPage", "A page of jobs.")},
                         parameters=[*PAGE, query("q", text(job_list.MAX_QUERY_CHARS),
                                                  "Only jobs whose slug or name contains this text (any case).")]),
        "post": operation("createJob", "Jobs", "Create a job before its first run", {201: ("Job", "Created.")},
                          body="JobCreate", errors=[409], description="409 `conflict`: the slug is taken."),
    },
    "/jobs/{slug}": {
        "parameters": [path("slug", SLUG)],
        "get": operation("getJob", "Jobs", "Read a job", {200: ("Job", "The job.")}, errors=[404]),
        "patch": operation("updateJob", "Jobs", "Change a job's name, schedule, grace or pause",
                           {200: ("Job", "The changed job.")}, body="JobUpdate", errors=[404],
                           description="`name: null` shows the slug again; the slug never changes."),
        "delete": operation("deleteJob", "Jobs", "Delete a job with its runs, its alerts and their deliveries",
                            {204: (None, "Deleted.")}, errors=[404, 409],
                            description="409 `conflict`: one of its alerts is firing, or a delivery of one is "
                                        "still being sent. A later run report of the slug creates the job anew."),
    },
    "/runs": {
        "get": operation("listRuns", "Runs", "List runs, newest first", {200: ("RunPage", "A page of runs.")},
                         parameters=[*PAGE, query("job", text(100), "A job's slug."),
                                     query("status", choice(RUN_STATUSES), "A run status.")]),
        "post": operation("reportRun", "Runs", "Report a run (start, or start and finish at once)",
                          {200: ("Run", "The run with this external_id, updated."), 201: ("Run", "A new run.")},
                          body="RunReport", errors=[409],
                          description="Alerts the report raises are sent after it is stored."),
    },
    "/runs/{run_id}": {
        "parameters": [path("run_id")],
        "get": operation("getRun", "Runs", "Read a run", {200: ("Run", "The run.")}, errors=[404]),
    },
    "/runs/{run_id}/finish": {
        "parameters": [path("run_id")],
        "post": operation("finishRun", "Runs", "Finish a running run", {200: ("Run", "The finished run.")},
                          body="RunFinish", errors=[404, 409], description="409 `conflict`: it finished already."),
    },
    "/rules": {
        "get": operation("listRules", "Rules", "List rules, newest first", {200: ("RulePage", "A page of rules.")},
                         parameters=PAGE),
        "post": operation("createRule", "Rules", "Create a rule", {201: ("Rule", "Created.")}, body="RuleCreate"),
    },
    "/rules/{rule_id}": {
        "parameters": [path("rule_id")],
        "get": operation("getRule", "Rules", "Read a rule", {200: ("Rule", "The rule.")}, errors=[404]),
        "patch": operation("updateRule", "Rules", "Change a rule (the merged rule is validated whole)",
                           {200: ("Rule", "The changed rule.")}, body="RuleUpdate", errors=[404]),
        "delete": operation("deleteRule", "Rules", "Delete a rule (its alerts and deliveries stay)",
                            {204: (None, "Deleted.")}, errors=[404]),
    },
    "/endpoints": {
        "get": operation("listEndpoints", "Endpoints", "List endpoints, newest first",
                         {200: ("EndpointPage", "A page of endpoints.")}, parameters=PAGE),
        "post": operation("createEndpoint", "Endpoints", "Create an endpoint",
                          {201: ("EndpointWithSecret", "Created; the only answer besides the secret routes that "
                                                "shows the signing secret.")}, body="EndpointCreate",
                          headers=LOCATION),
    },
    "/endpoints/{endpoint_id}": {
        "parameters": [path("endpoint_id")],
        "get": operation("getEndpoint", "Endpoints", "Read an endpoint", {200: ("Endpoint", "The endpoint.")},
                         errors=[404]),
        "patch": operation("updateEndpoint", "Endpoints", "Change an endpoint",
                           {200: ("EndpointWithSecret", "The changed endpoint (with `secret` when a new scheme "
                                                     "made a new one).")}, body="EndpointUpdate", errors=[404]),
        "delete": operation("deleteEndpoint", "Endpoints", "Delete an endpoint (its history stays)",
                            {204: (None, "Deleted.")}, errors=[404]),
    },
    "/endpoints/{endpoint_id}/test": {
        "parameters": [path("endpoint_id")],
        "post": operation("testEndpoint", "Endpoints", "Send a signed alert.test now and wait for the answer",
                          {200: ("TestSend", "What the receiver answered.")}, errors=[404]),
    },
    "/endpoints/{endpoint_id}/secret": {
        "parameters": [path("endpoint_id")],
        "get": operation("getEndpointSecret", "Endpoints", "Reveal the signing secret (audited)",
                         {200: ("Secret", "The secret.")}, errors=[404, 409], headers=NO_STORE,
                         description="409 `secret_unreadable`: no configured key decrypts it."),
    },
    "/endpoints/{endpoint_id}/url": {
        "parameters": [path("endpoint_id")],
        "get": operation("getEndpointUrl", "Endpoints", "Reveal the URL (audited)", {200: ("EndpointUrl", "The URL.")},
                         errors=[404, 409], headers=NO_STORE,
                         description="409 `url_unreadable`: no configured key decrypts it."),
    },
    "/endpoints/{endpoint_id}/secret/rotate": {
        "parameters": [path("endpoint_id")],
        "post": operation("rotateEndpointSecret", "Endpoints", "Make a new signing secret",
                          {200: ("RotatedSecret", "The new secret; the old one signs too for 24 hours.")},
                          errors=[404, 428], parameters=[CONFIRM], headers=NO_STORE),
    },
    "/alerts": {
        "get": operation(
            "listAlerts", "Alerts", "List alerts, newest first (by cursor, or by offset with a total)",
            {200: ("AlertPage", "A page of alerts.")},
            parameters=[*PAGE, query("offset", whole(0, MAX_OFFSET, default=0), "Not with cursor."),
                        query("alert_type", choice(alerts.ALERT_TYPES), "The event that raised it."),
                        query("severity", choice(SEVERITIES), "A severity."),
                        query("job", text(100), "A job's slug."),
                        query("acknowledged", choice(["yes", "no", "all", "true", "false"]), "Acknowledged or not."),
                        query("since", text(40), "A date (2026-11-24) or an RFC 3339 time."),
                        query("state", choice(alerts.STATE_FILTERS), "firing, acknowledged or resolved.")]),
    },
    "/alerts/{alert_id}": {
        "parameters": [path("alert_id")],
        "get": operation("getAlert", "Alerts", "Read an alert", {200: ("Alert", "The alert.")}, errors=[404]),
    },
    "/alerts/{alert_id}/acknowledge": {
        "parameters": [path("alert_id")],
        "post": operation("acknowledgeAlert", "Alerts", "Acknowledge a firing alert, with an optional note",
                          {200: ("Alert", "The alert (unchanged when acknowledged already).")},
                          body="Acknowledge", body_required=False, errors=[404, 409],
                          description="409 `conflict`: the alert is resolved."),
    },
    "/alerts/{alert_id}/unacknowledge": {
        "parameters": [path("alert_id")],
        "post": operation("unacknowledgeAlert", "Alerts", "Take back an acknowledgement",
                          {200: ("Alert", "The alert.")}, errors=[404, 409],
                          description="409 `conflict`: the alert is resolved."),
    },
    "/alerts/{alert_id}/resolve": {
        "parameters": [path("alert_id")],
        "post": operation("resolveAlert", "Alerts", "Resolve a firing alert", {200: ("Alert", "The resolved alert.")},
                          errors=[404, 409], description="409 `conflict`: resolved already."),
    },
    "/deliveries": {
        "get": operation(
            "listDeliveries", "Deliveries", "The delivery history, newest first",
            {200: ("DeliveryPage", "A page of deliveries.")},
            parameters=[*PAGE, query("status", choice(history.UI_STATUSES), "The history's status."),
                        query("is_test", choice(["true", "false"]), "Test sends only, or none."),
                        query("endpoint_id", ID, "An endpoint of this workspace (deleted ones too)."),
                        query("rule_id", ID, "A rule of this workspace.")]),
    },
    "/deliveries/{delivery_id}": {
        "parameters": [path("delivery_id")],
        "get": operation("getDelivery", "Deliveries", "Read a delivery with its attempts",
                         {200: ("DeliveryWithAttempts", "The delivery.")}, errors=[404]),
    },
    "/deliveries/{delivery_id}/redeliver": {
        "parameters": [path("delivery_id")],
        "post": operation("redeliverDelivery", "Deliveries", "Queue a delivered or dead delivery again",
                          {202: ("Delivery", "Queued, with the same message id.")}, errors=[404, 409]),
    },
    "/deliveries/{delivery_id}/retry": {
        "parameters": [path("delivery_id")],
        "post": operation("retryDeliveryNow", "Deliveries", "Send a delivery waiting for its next attempt now",
                          {202: ("Delivery", "Due now and handed to the send pool.")}, errors=[404, 409],
                          description="Only for a pending delivery whose last attempt failed and whose next "
                                      "attempt is in the future. 409 `not_waiting`: it is not waiting (not yet "
                                      "attempted, being sent, already due, delivered or dead — use redeliver "
                                      "for those); `endpoint_disabled`: enable the endpoint first; "
                                      "`endpoint_deleted`."),
    },
}



# == silences ==
PATHS.update({
    "/silences": {
        "get": operation("listSilences", "Silences", "List silences, newest first",
                         {200: ("SilencePage", "A page of silences.")}, parameters=PAGE),
        "post": operation("createSilence", "Silences", "Create a silence", {201: ("Silence", "Created.")},
                          body="SilenceCreate",
                          description="Give at least one of job_filter, rule_id, endpoint_id (all given must "
                                      "match), and ends_at or weekly. An alert raised while it is active is "
                                      "recorded with `silenced_by` and not delivered; if it still fires when the "
                                      "silence ends, it is delivered then, once."),
    },
    "/silences/{silence_id}": {
        "parameters": [path("silence_id")],
        "get": operation("getSilence", "Silences", "Read a silence", {200: ("Silence", "The silence.")}, errors=[404]),
        "patch": operation("updateSilence", "Silences", "Change a silence (PATCH ends_at to now ends it)",
                           {200: ("Silence", "The changed silence.")}, body="SilenceUpdate", errors=[404]),
        "delete": operation("deleteSilence", "Silences", "Delete a silence (what it held is released)",
                            {204: (None, "Deleted.")}, errors=[404]),
    },
})


# == config ==
CONFIG_FLAG = {"type": "string", "enum": ["true", "false", "1", "0"]}
PATHS.update({
    "/config": {
        "get": operation("exportConfig", "Workspace", "The workspace's jobs, endpoints and rules as a document",
                         {200: ("ConfigDocument", "The document (`format=yaml`: as YAML, application/yaml).")},
                         parameters=[query("format", {"type": "string", "enum": ["json", "yaml"]},
                                           "json (default) or yaml.")]),
        "post": operation("importConfig", "Workspace", "Apply a configuration document (all or nothing)",
                          {200: ("ConfigPlan", "Applied, or with dry_run=true only planned.")},
                          body="ConfigDocument",
                          parameters=[query("dry_run", CONFIG_FLAG, "true: say what would change, change nothing."),
                                      query("prune", CONFIG_FLAG, "true: also delete what the document does not name.")],
                          description="Objects are matched by name (jobs by slug), created or updated, never deleted "
                                      "unless prune=true. A refused document answers 400 `validation_error` whose "
                                      "`fields` name each error's path, e.g. `rules[2].event`."),
    },
})
YAML_TEXT = {"schema": ref("ConfigDocument")}  # the same document, written as YAML
PATHS["/config"]["get"]["responses"]["200"]["content"]["application/yaml"] = YAML_TEXT
PATHS["/config"]["post"]["requestBody"]["content"]["application/yaml"] = YAML_TEXT


# == scopes ==
# Every operation an `ingest` key may not call can answer 403 `insufficient_scope`
# (webapp/blueprints/api/scopes.py decides, once per request).
from webapp.blueprints.api.scopes import INGEST_OPERATIONS  # noqa: E402

SCOPE_REFUSAL = ("This API key's scope does not allow it (`insufficient_scope`): an `ingest` key only reports, "
                 "finishes and reads runs; use a key with scope `full`.")
ERROR_WORDS[403] = SCOPE_REFUSAL


def _add_scope_refusals(paths: dict) -> None:
    for path_name, item in paths.items():
        for method, described in item.items():
            if method == "parameters" or described.get("security") == [] or (method, path_name) in INGEST_OPERATIONS:
                continue
            responses = described["responses"]
            earlier = responses.get("403", {}).get("description")
            responses["403"] = {"description": f"{earlier} {SCOPE_REFUSAL}" if earlier else SCOPE_REFUSAL,
                                "content": {"application/json": {"schema": ref("Error")}}}
            described["responses"] = dict(sorted(responses.items()))


_add_scope_refusals(PATHS)
