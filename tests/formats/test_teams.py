"""Microsoft Teams Workflows webhooks: a `message` with one Adaptive Card 1.4 (title, the
message, facts, a button to the alert), green once resolved."""
from tests.formats.helpers import deliver_for_real, long_context
from webapp.services.formats import teams


def card_of(document: dict) -> dict:
    assert document["type"] == "message" and len(document["attachments"]) == 1
    attachment = document["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def test_a_delivered_alert_is_one_adaptive_card_with_title_facts_and_a_button(app, db, receiver):
    request, _ = deliver_for_real(db, receiver, "teams", message="billing-nightly failed after 42 s: exit code 3")

    assert request.headers["content-type"] == "application/json"
    card = card_of(request.json())
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, message, facts = card["body"]
    assert title["type"] == "TextBlock" and title["weight"] == "Bolder" and title["color"] == "Attention"
    assert title["text"] == "Critical: run_failed of billing-nightly"
    assert message == {"type": "TextBlock", "text": "billing-nightly failed after 42 s: exit code 3", "wrap": True}
    assert facts["type"] == "FactSet"
    assert {fact["title"]: fact["value"] for fact in facts["facts"]} == {
        "Severity": "critical", "State": "firing", "Job": "billing-nightly", "Run": facts["facts"][3]["value"],
        "Rule": "billing-nightly fails"}
    [button] = card["actions"]
    assert button["type"] == "Action.OpenUrl" and button["url"].startswith("http://tocsin.test/alerts/")


def test_a_resolution_is_green_and_says_resolved(app):
    context = long_context("billing-nightly failed")
    context["alert"].update(state="resolved", resolved_at="2026-11-24T09:05:00Z")
    title = card_of(teams.teams_body("alert.resolved", context))["body"][0]
    assert title["color"] == "Good" and title["text"].startswith("Resolved: ")
    assert card_of(teams.teams_body("alert.repeated", long_context()))["body"][0]["text"].startswith("Still firing: ")
