"""Templates see the run's metadata as `run.metadata` (real alerts and the preview alike), and an
unknown field is an error that names the object and the field, never a Python type error."""
import pytest
import sqlalchemy as sa

from tests.formats.helpers import long_context
from webapp.models import Delivery, DeliveryAttempt
from webapp.services import formats
from webapp.services.delivery import pool
from webapp.services.formats import template

METADATA_TEMPLATE = ('{"exit": {{ run.metadata.exit_code|tojson }}, "host": {{ run.metadata.host|tojson }}'
                     '{% if run.metadata.deep is defined %}, "x": {{ run.metadata.deep.x|tojson }}{% endif %}}')


@pytest.fixture(autouse=True)
def drain_send_pool():
    yield
    pool.wait_idle(10)


def templated_hook(api, receiver, text: str) -> dict:
    response = api.post("/endpoints", json={"name": "Custom", "url": receiver.url(), "format": "template",
                                            "template": text})
    assert response.status_code == 201, response.get_json()
    hook = response.get_json()
    assert api.post("/rules", json={"name": "Fails", "event": "run_failed", "endpoint_ids": [hook["id"]]}
                    ).status_code == 201
    return hook


def report_failure(api, metadata: dict):
    response = api.post("/runs", json={"job": "billing-nightly", "status": "failed", "metadata": metadata})
    assert response.status_code == 201, response.get_json()


def test_a_real_alert_renders_the_runs_metadata(api, db, receiver):
    templated_hook(api, receiver, METADATA_TEMPLATE)
    report_failure(api, {"exit_code": 7, "host": "worker-9"})
    [request] = receiver.wait_for(1)
    assert request.json() == {"exit": 7, "host": "worker-9"}
    assert request.headers["content-type"] == "application/json"


def test_an_unknown_nested_field_at_send_time_fails_the_delivery_naming_its_path(api, db, receiver):
    templated_hook(api, receiver, METADATA_TEMPLATE)
    report_failure(api, {"exit_code": 7, "host": "worker-9", "deep": {"y": 1}})
    assert pool.wait_idle(10)
    db.session.rollback()
    record = db.session.scalar(sa.select(DeliveryAttempt).join(Delivery).where(Delivery.is_test.is_(False)))
    assert record.outcome == "template"
    assert record.error == "template error: 'run.metadata.deep' has no field 'x'"
    assert receiver.requests == []


def test_the_preview_renders_the_sample_runs_metadata(auth, client, receiver):
    auth.signup()
    page = client.post("/settings/alerts/endpoints/new", data={
        "name": "Custom", "url": receiver.url(), "format": "template", "timeout_seconds": 10,
        "template": "commit {{ run.metadata.commit }} on {{ run.metadata.host }}",
        "preview": "Preview payload"}).get_data(as_text=True)
    assert "commit 4f2c9e1 on worker-1" in page


@pytest.mark.parametrize("text, message", [
    ("{{ alert.mesage }}", "'alert' has no field 'mesage'"),
    ("{{ alert['mesage'] }}", "'alert' has no field 'mesage'"),
    ("{{ run.metadata.exit_codee }}", "'run.metadata' has no field 'exit_codee'"),
    ("{{ job.slug.x }}", "a text value has no field 'x'"),
    ("{{ alrt.message }}", "there is no variable 'alrt'"),
    ("{{ run.deadline_at.x }}", "None has no field 'x'"),
    ("{{ alert.mesage + 1 }}", "'alert' has no field 'mesage'"),
    ("{{ alert.mesage|length }}", "'alert' has no field 'mesage'"),
])
def test_an_unknown_field_names_the_object_and_the_field(app, text, message):
    with pytest.raises(formats.PayloadError) as raised:
        template.validate_template(text)
    assert str(raised.value).startswith(f"template error: {message}")
    assert "TypeError" not in str(raised.value) and "dict object" not in str(raised.value)


def test_the_api_refuses_a_template_with_an_unknown_field_naming_it(api, receiver):
    response = api.post("/endpoints", json={"name": "Custom", "url": receiver.url(), "format": "template",
                                            "template": '{"text": {{ alert.mesage|tojson }}}'})
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"]["template"] == "template error: 'alert' has no field 'mesage'"


def test_items_of_lists_in_metadata_know_their_path(app):
    context = long_context("x")
    with pytest.raises(formats.PayloadError, match=r"'run.metadata.hosts\[1\]' has no field 'port'"):
        template.render_template("{{ run.metadata.hosts[1].port }}", "alert.fired", context, "t",
                                 {"hosts": [{"port": 1}, {"name": "b"}]})
    assert template.render_template("{{ run.metadata.hosts[0].port }}", "alert.fired", context, "t",
                                    {"hosts": [{"port": 1}]}) == "1"
