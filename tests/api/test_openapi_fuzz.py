"""schemathesis against a live server: every operation of the OpenAPI document, with bounded
examples and a fixed seed, on loopback only. No answer is a 5xx, and every answer's status,
content type, headers and body are what the document says.

Every other case is steered to real objects, so reads, changes and actions succeed too: path
ids become rows made first, a body's `url` the loopback receiver, `endpoint_ids` a real
endpoint. A DELETE only ever deletes a row kept for it. Nothing leaves the machine: no DNS
(names do not resolve) and every address outside 127.0.0.0/8 is refused, public ones too.
(The document is loaded from `document()`, which the server answers at /api/v1/openapi.json,
as test_openapi.py checks: schemathesis' `from_fixture` loader does not run under pytest 9.2.)"""
import itertools
import socket
import uuid
from contextlib import contextmanager
from urllib.parse import quote

import pytest
import schemathesis
import sqlalchemy as sa
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.accounts import ApiClient, AuthActions, create_api_key_via_page
from tests.support.app import TEST_DATABASE_URL, make_app
from tests.support.live_server import LiveServer
from tests.support.receiver import Receiver
from webapp.blueprints.api.openapi import document
from webapp.config import normalise_database_url
from webapp.extensions import db
from webapp.services.outbound import targets

EXAMPLES_PER_OPERATION = 15
SEED = 17
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def _config() -> schemathesis.Config:
    config = schemathesis.Config()
    config.projects.override.generation.update(max_examples=EXAMPLES_PER_OPERATION, deterministic=True,
                                               database="none")
    config.projects.override.seed = SEED
    return config


schema = schemathesis.openapi.from_dict(document(), config=_config())
turns = itertools.count()


def _seed_rows(api, receiver) -> dict:
    """An endpoint (the loopback receiver), a rule, a running run and a failed one whose alert
    was delivered; one more endpoint, rule and job for the DELETEs."""
    def created(path, body):
        response = api.post(path, json=body)
        assert response.status_code in (200, 201), response.get_json()
        return response.get_json()

    endpoint = created("/endpoints", {"name": "receiver", "url": receiver.url()})
    doomed_endpoint = created("/endpoints", {"name": "doomed", "url": receiver.url("/doomed")})
    rule = created("/rules", {"name": "failures", "event": "run_failed", "endpoint_ids": [endpoint["id"]]})
    doomed_rule = created("/rules", {"name": "doomed", "event": "run_failed", "endpoint_ids": [endpoint["id"]]})
    created("/runs", {"job": "nightly", "status": "failed", "external_id": "fuzz-1"})
    running = created("/runs", {"job": "nightly", "external_id": "fuzz-2"})
    doomed_job = created("/jobs", {"slug": "doomed"})
    receiver.wait_for(1)
    alert = api.get("/alerts").get_json()["items"][0]
    silence = created("/silences", {"job_filter": "fuzz-silenced", "ends_at": "2099-01-01T00:00:00Z"})
    doomed_silence = created("/silences", {"job_filter": "fuzz-doomed", "ends_at": "2099-01-01T00:00:00Z"})
    return {
        "endpoint_id": endpoint["id"], "rule_id": rule["id"], "run_id": running["id"], "alert_id": alert["id"],
        "delivery_id": alert["deliveries"][0]["id"], "slug": "nightly", "url": receiver.url(),
        "silence_id": silence["id"],
        "doomed": {"endpoint_id": doomed_endpoint["id"], "rule_id": doomed_rule["id"], "slug": doomed_job["slug"],
                   "silence_id": doomed_silence["id"]},
    }


def _no_dns(host, port):
    raise socket.gaierror(socket.EAI_NONAME, "the fuzz test resolves no names")


def _steer(case, rows) -> None:
    for name in list(case.path_parameters or {}):
        case.path_parameters[name] = rows[name]
    if isinstance(case.body, dict):
        if "url" in case.body:
            case.body["url"] = rows["url"]
        if "endpoint_ids" in case.body:
            case.body["endpoint_ids"] = [rows["endpoint_id"]]


def _spare_seeded_rows(case, rows) -> None:
    """A DELETE of a row the other operations use deletes the row kept for deleting instead."""
    for name, doomed in rows["doomed"].items():
        if str((case.path_parameters or {}).get(name)) == str(rows[name]):
            case.path_parameters[name] = doomed


@contextmanager
def _database(backend: str):
    """A SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if backend == "sqlite":
        yield None
        return
    schema_name = f"fuzz_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(normalise_database_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema_name}"'))
    try:
        url = normalise_database_url(TEST_DATABASE_URL)
        yield url + ("&" if "?" in url else "?") + "options=" + quote(f"-csearch_path={schema_name}")
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema_name}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"] if TEST_DATABASE_URL else ["sqlite"])
def target(request, tmp_path_factory):
    """One app, database and live server for every operation: (base URL, headers, rows). On
    PostgreSQL too when TEST_DATABASE_URL is set (it found ids past its INTEGER columns)."""
    with _database(request.param) as database_uri, pytest.MonkeyPatch.context() as loopback_only:
        loopback_only.setattr(targets, "resolve_host", _no_dns)
        loopback_only.setattr(targets, "refusal", lambda address: "outside 127.0.0.0/8, where this test sends nothing")
        yield from _serve(tmp_path_factory.mktemp("openapi-fuzz"), database_uri)


def _serve(tmp_path, database_uri):
    # Rate limits as high as they go: the fuzzer sends hundreds of requests a second with one key.
    app = make_app(tmp_path, database_uri, TOCSIN_API_RATE=1e9, TOCSIN_API_BURST=10**9)
    receiver = Receiver().start()
    with app.app_context():
        client = app.test_client()
        AuthActions(client).signup()
        api = ApiClient(client, create_api_key_via_page(client))
        rows = _seed_rows(api, receiver)
        db.session.remove()
    server = LiveServer(app).start()
    yield f"{server.url}/api/v1", {"Authorization": f"Bearer {api.key}"}, rows
    server.stop()
    receiver.stop()
    with app.app_context():
        db.engine.dispose()


@schema.parametrize()
def test_every_operation_answers_as_documented(case, target):
    base_url, headers, rows = target
    if next(turns) % 2 == 0:
        _steer(case, rows)
    if case.method.upper() == "DELETE":
        _spare_seeded_rows(case, rows)
    case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)
