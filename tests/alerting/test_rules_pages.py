"""Settings → Alerts → Rules: what a person sees and can do on the rule pages, the form's
checks (shared with the API), the audit trail, and that another workspace's rules stay out of reach."""
import re

import pytest
import sqlalchemy as sa

from tests.support.factories import endpoint_id_via_api
from webapp.extensions import db as _db
from webapp.models import AuditEvent, Rule

FORM_DEFAULTS = {"name": "Nightly failures", "event": "run_failed", "job_filter": "nightly-*",
                 "threshold_seconds": "", "consecutive_count": "3", "severity": "critical",
                 "max_attempts": "8", "cooldown_seconds": "300", "is_active": "y"}


@pytest.fixture
def endpoint_id(api):
    """The owner's endpoint (the `api` fixture also leaves the owner logged in on `client`)."""
    return endpoint_id_via_api(api)


def submit(client, path="/settings/alerts/rules/new", endpoint_ids=(), **fields):
    data = {**FORM_DEFAULTS, **fields, "endpoint_ids": [str(value) for value in endpoint_ids]}
    return client.post(path, data={key: value for key, value in data.items() if value is not None})


def create_rule(client, endpoint_ids, **fields) -> Rule:
    response = submit(client, endpoint_ids=endpoint_ids, **fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    rule_id = int(re.search(r"/settings/alerts/rules/(\d+)$", response.headers["Location"]).group(1))
    return _db.session.get(Rule, rule_id)


def errors_of(response) -> list[str]:
    assert response.status_code == 200  # the form again, with its errors
    return re.findall(r'<p class="error">([^<]*)</p>', response.get_data(as_text=True))


def audit_actions(db) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEvent.action).where(AuditEvent.object_type == "rule")
                                   .order_by(AuditEvent.id)))


def test_empty_list_explains_rules_and_links_to_new(client, api):
    html = client.get("/settings/alerts/rules").get_data(as_text=True)
    assert "No rules yet" in html
    assert 'href="/settings/alerts/rules/new"' in html
    assert "create an endpoint" in html  # no endpoint yet: say where to start


def test_create_through_the_form_then_list_and_detail_show_it(client, db, endpoint_id):
    rule = create_rule(client, [endpoint_id])
    assert (rule.name, rule.event, rule.job_filter, rule.severity) == ("Nightly failures", "run_failed",
                                                                       "nightly-*", "critical")
    assert [endpoint.id for endpoint in rule.endpoints] == [endpoint_id]
    assert (rule.max_attempts, rule.cooldown_seconds, rule.is_active) == (8, 300, True)

    detail = client.get(f"/settings/alerts/rules/{rule.id}").get_data(as_text=True)
    assert "Rule “Nightly failures” created." in detail
    assert "run failed" in detail and "<code>nightly-*</code>" in detail and "Ops hook" in detail
    listing = client.get("/settings/alerts/rules").get_data(as_text=True)
    row = re.search(rf'<tr data-rule-id="{rule.id}">.*?</tr>', listing, re.S).group(0)
    assert "Nightly failures" in row and "run failed" in row and "Ops hook" in row
    assert "critical" in row and "active" in row


def test_new_form_lists_only_this_workspaces_endpoints(client, api, other_api, endpoint_id):
    endpoint_id_via_api(other_api, "Their secret hook")
    html = client.get("/settings/alerts/rules/new").get_data(as_text=True)
    assert "Ops hook" in html
    assert "Their secret hook" not in html


def test_form_marks_the_fields_each_event_needs(client, endpoint_id):
    html = client.get("/settings/alerts/rules/new").get_data(as_text=True)
    # Each event parameter sits in a block tagged with its event; a script shows only the chosen one.
    slow = re.search(r'<div data-for-event="run_slow">(.*?)</div>\s*<div', html, re.S).group(1)
    streak = re.search(r'<div data-for-event="consecutive_failures">(.*?)</div>\s*(<div|\{)', html, re.S).group(1)
    assert 'name="threshold_seconds"' in slow and 'name="consecutive_count"' not in slow
    assert 'name="consecutive_count"' in streak and 'name="threshold_seconds"' not in streak
    assert html.count("data-for-event=") == 2
    assert 'src="/static/tocsin.js"' in html
    script = client.get("/static/tocsin.js").get_data(as_text=True)
    assert 'block.hidden = block.getAttribute("data-for-event") !== event.value' in script
    assert 'event.addEventListener("change", sync)' in script
    for field in ("name", "event", "job_filter", "severity", "endpoint_ids", "max_attempts", "cooldown_seconds"):
        assert f'name="{field}"' in html


@pytest.mark.parametrize(("fields", "message"), [
    ({"event": "run_slow", "threshold_seconds": ""}, "A slow-run rule needs a threshold in seconds."),
    ({"event": "run_slow", "threshold_seconds": "soon"}, "The threshold must be a whole number."),
    ({"event": "consecutive_failures", "consecutive_count": "1"}, "The number of failures must be between 2 and 100."),
    ({"max_attempts": "0"}, "Maximum attempts must be between 1 and 20."),
    ({"max_attempts": "21"}, "Maximum attempts must be between 1 and 20."),
    ({"cooldown_seconds": "-1"}, "The cooldown must be between 0 and 604800."),
    ({"name": "  "}, "Give the rule a name."),
    ({"job_filter": "billing jobs"}, "Use letters, digits, . _ - and the wildcards * ? [ ] only."),
])
def test_form_refuses_bad_values_with_a_message_next_to_the_field(client, db, endpoint_id, fields, message):
    response = submit(client, endpoint_ids=[endpoint_id], **fields)
    assert message in errors_of(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rule)) == 0


def test_form_accepts_the_boundaries(client, endpoint_id):
    slow = create_rule(client, [endpoint_id], event="run_slow", threshold_seconds="1", max_attempts="20",
                       cooldown_seconds="0")
    streak = create_rule(client, [endpoint_id], event="consecutive_failures", consecutive_count="2",
                         max_attempts="1", threshold_seconds="60")
    assert (slow.threshold_seconds, slow.max_attempts, slow.cooldown_seconds) == (1, 20, 0)
    # A parameter the event does not use is not stored.
    assert (streak.consecutive_count, streak.threshold_seconds, streak.max_attempts) == (2, None, 1)


def test_form_needs_an_endpoint_of_this_workspace(client, db, other_api, endpoint_id):
    assert "Choose at least one endpoint." in errors_of(submit(client, endpoint_ids=[]))
    foreign = endpoint_id_via_api(other_api, "Their hook")
    assert f"Unknown endpoint: {foreign}." in errors_of(submit(client, endpoint_ids=[endpoint_id, foreign]))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rule)) == 0


def test_edit_shows_the_saved_values_and_saves_changes(client, db, endpoint_id, api):
    second = endpoint_id_via_api(api, "Chat")
    rule = create_rule(client, [endpoint_id])
    form = client.get(f"/settings/alerts/rules/{rule.id}/edit").get_data(as_text=True)
    assert 'value="Nightly failures"' in form and 'value="nightly-*"' in form
    assert re.search(rf'<input checked [^>]*type="checkbox" value="{endpoint_id}">', form)
    assert re.search(rf'<input [^>]*type="checkbox" value="{second}">', form).group(0).startswith("<input id=")

    response = submit(client, f"/settings/alerts/rules/{rule.id}/edit", endpoint_ids=[second],
                      name="Billing slow", event="run_slow", threshold_seconds="90", job_filter="")
    assert response.status_code == 302
    db.session.expire_all()
    assert (rule.name, rule.event, rule.threshold_seconds, rule.job_filter) == ("Billing slow", "run_slow", 90, None)
    assert [endpoint.id for endpoint in rule.endpoints] == [second]
    detail = client.get(f"/settings/alerts/rules/{rule.id}").get_data(as_text=True)
    assert "Rule “Billing slow” saved." in detail and "run slower than 90 s" in detail and "all jobs" in detail


def test_a_refused_edit_changes_nothing(client, db, endpoint_id):
    rule = create_rule(client, [endpoint_id])
    response = submit(client, f"/settings/alerts/rules/{rule.id}/edit", endpoint_ids=[endpoint_id],
                      name="Renamed", event="run_slow", threshold_seconds="")
    assert "A slow-run rule needs a threshold in seconds." in errors_of(response)
    db.session.expire_all()
    assert (rule.name, rule.event) == ("Nightly failures", "run_failed")
    assert audit_actions(db) == ["rule.create"]


def test_delete_asks_for_confirmation_first(client, db, endpoint_id):
    rule = create_rule(client, [endpoint_id])
    confirm = client.get(f"/settings/alerts/rules/{rule.id}/delete")
    assert confirm.status_code == 200
    assert "Delete rule “Nightly failures”?" in confirm.get_data(as_text=True)
    assert db.session.get(Rule, rule.id) is not None  # looking is not deleting

    response = client.post(f"/settings/alerts/rules/{rule.id}/delete", follow_redirects=True)
    assert "Rule “Nightly failures” deleted." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Rule, rule.id) is None
    assert client.get(f"/settings/alerts/rules/{rule.id}").status_code == 404


def test_pause_and_resume_from_the_list(client, db, endpoint_id):
    rule = create_rule(client, [endpoint_id])
    response = client.post(f"/settings/alerts/rules/{rule.id}/disable", data={"next": "/settings/alerts/rules"})
    assert response.headers["Location"] == "/settings/alerts/rules"
    db.session.expire_all()
    assert rule.is_active is False
    listing = client.get("/settings/alerts/rules").get_data(as_text=True)
    assert "paused" in listing and "Resume “Nightly failures”" in listing

    client.post(f"/settings/alerts/rules/{rule.id}/enable")
    db.session.expire_all()
    assert rule.is_active is True


def test_toggle_never_redirects_off_the_rule_pages(client, endpoint_id):
    rule = create_rule(client, [endpoint_id])
    response = client.post(f"/settings/alerts/rules/{rule.id}/disable", data={"next": "https://evil.example/"})
    assert response.headers["Location"] == f"/settings/alerts/rules/{rule.id}"


def test_every_change_on_the_pages_is_audited_with_who_and_where(client, db, endpoint_id):
    rule = create_rule(client, [endpoint_id])
    submit(client, f"/settings/alerts/rules/{rule.id}/edit", endpoint_ids=[endpoint_id], name="Renamed")
    client.post(f"/settings/alerts/rules/{rule.id}/disable")
    client.post(f"/settings/alerts/rules/{rule.id}/disable")  # already paused: nothing to record
    client.post(f"/settings/alerts/rules/{rule.id}/enable")
    client.post(f"/settings/alerts/rules/{rule.id}/delete")

    events = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.object_type == "rule")
                                .order_by(AuditEvent.id)).all()
    assert [event.action for event in events] == ["rule.create", "rule.update", "rule.disable", "rule.enable",
                                                  "rule.delete"]
    assert all(event.object_id == str(rule.id) and event.user_id is not None and event.client_ip == "127.0.0.1"
               for event in events)
    assert "name" in events[1].summary
    log = client.get("/settings/audit-log").get_data(as_text=True)
    assert "rule.create" in log and "rule.delete" in log


def test_another_workspaces_rule_is_404_on_every_page(client, db, api, other_api):
    theirs = create_rule(other_api.client, [endpoint_id_via_api(other_api)], name="Their rule")
    base = f"/settings/alerts/rules/{theirs.id}"
    for path in (base, base + "/edit", base + "/delete"):
        assert client.get(path).status_code == 404, path
    for path in (base + "/edit", base + "/delete", base + "/disable", base + "/enable"):
        assert client.post(path, data={**FORM_DEFAULTS, "name": "hijacked"}).status_code == 404, path
    assert "Their rule" not in client.get("/settings/alerts/rules").get_data(as_text=True)
    db.session.expire_all()
    assert (theirs.name, theirs.is_active) == ("Their rule", True)


def test_rule_pages_need_a_login(app):
    response = app.test_client().get("/settings/alerts/rules")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_rule_whose_endpoints_were_deleted_says_it_sends_nowhere(client, db, api, endpoint_id):
    rule = create_rule(client, [endpoint_id])
    assert api.delete(f"/endpoints/{endpoint_id}").status_code == 204
    for path in ("/settings/alerts/rules", f"/settings/alerts/rules/{rule.id}"):
        assert "no endpoint — alerts are recorded but not sent" in client.get(path).get_data(as_text=True)

    # It can still be renamed without choosing an endpoint...
    response = submit(client, f"/settings/alerts/rules/{rule.id}/edit", endpoint_ids=[], name="Orphan")
    assert response.status_code == 302
    db.session.expire_all()
    assert rule.name == "Orphan"
    # ...and a new endpoint can be chosen for it.
    fresh = endpoint_id_via_api(api, "New hook")
    submit(client, f"/settings/alerts/rules/{rule.id}/edit", endpoint_ids=[fresh], name="Orphan")
    assert "no endpoint" not in client.get(f"/settings/alerts/rules/{rule.id}").get_data(as_text=True)


def test_a_blank_attempt_budget_means_each_endpoints_own(client, db, endpoint_id):
    rule = create_rule(client, [endpoint_id], max_attempts="")
    assert rule.max_attempts is None
    detail = client.get(f"/settings/alerts/rules/{rule.id}").get_data(as_text=True)
    assert "each endpoint's own budget" in detail
    edit = client.get(f"/settings/alerts/rules/{rule.id}/edit").get_data(as_text=True)
    assert re.search(r'<input[^>]*name="max_attempts"[^>]*value=""', edit)
    assert "Blank: each endpoint" in edit
