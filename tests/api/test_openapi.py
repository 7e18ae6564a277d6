"""The OpenAPI document: valid OpenAPI 3.1, served without a key, naming exactly the routes of
the URL map, the bodies' allowed fields and every error code the blueprints raise, and
rendered into docs/api.md."""
import re
from pathlib import Path

from openapi_spec_validator import validate

from webapp.blueprints.api import endpoints as endpoint_routes
from webapp.blueprints.api import rules as rule_routes
from webapp.blueprints.api.openapi import document
from webapp.blueprints.api.openapi.components import ERROR_CODES, SCHEMAS
from webapp.blueprints.api.openapi.markdown import render
from webapp.services.alerting import jobs, report_validation

ROOT = Path(__file__).resolve().parents[2]
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def test_document_is_valid_openapi_3_1():
    validate(document())
    assert document()["openapi"].startswith("3.1")


def test_document_names_the_same_routes_as_the_url_map(app):
    routed = {(method.lower(), re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1")))
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
              for method in rule.methods & METHODS}
    documented = {(method, path) for path, item in document()["paths"].items() for method in item
                  if method != "parameters"}
    assert documented == routed


def test_document_is_served_without_an_api_key_and_nothing_else_is(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == document()
    assert client.get("/api/v1/me").status_code == 401


def test_bodies_allow_exactly_the_fields_the_api_accepts():
    def fields(name):
        return set(SCHEMAS[name]["properties"])

    assert fields("EndpointCreate") == endpoint_routes.CREATE_FIELDS
    assert fields("EndpointUpdate") == endpoint_routes.UPDATE_FIELDS
    assert fields("RuleCreate") == fields("RuleUpdate") == rule_routes.WRITABLE
    assert fields("JobCreate") == jobs.CREATE_FIELDS and fields("JobUpdate") == jobs.UPDATE_FIELDS
    assert fields("RunReport") == report_validation.REPORT_FIELDS
    assert fields("RunFinish") == report_validation.FINISH_FIELDS
    for name, schema in SCHEMAS.items():
        if "properties" in schema:
            assert schema["additionalProperties"] is False, name


def test_every_error_code_the_code_raises_is_documented():
    raised = set()
    for source in (ROOT / "webapp").rglob("*.py"):
        raised |= set(re.findall(r"(?:ApiError|json_error)\(\s*\d{3},\s*\"(\w+)\"", source.read_text()))
    assert raised and raised <= set(ERROR_CODES)


def test_docs_api_md_is_rendered_from_the_document():
    assert (ROOT / "docs" / "api.md").read_text() == render(document()), (
        "docs/api.md is out of date: python -m webapp.blueprints.api.openapi --markdown > docs/api.md")


def test_docs_api_md_names_every_operation():
    text = (ROOT / "docs" / "api.md").read_text()
    for path, item in document()["paths"].items():
        for method in item:
            if method != "parameters":
                assert f"`{method.upper()} {path}`" in text
