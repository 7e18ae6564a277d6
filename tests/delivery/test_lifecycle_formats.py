"""Payload formats for notifications beyond the first: every format carries the payload type
and the alert's state; Slack and Discord say "Resolved" in green, and name a repeat."""
import json

import pytest

from webapp.services import formats
from webapp.services.formats import discord, slack, template
from webapp.services.formats.base import RESOLVED_COLOR


@pytest.fixture
def resolved_context(app):
    context = formats.sample_context(None, None)
    context["alert"].update(type="run_failed", state="resolved", resolved_at="2026-11-24T09:05:00Z",
                            message="billing-nightly failed after 42 s: exit code 3")
    return context


def test_json_payload_carries_the_type_and_state(resolved_context):
    body = json.loads(formats.FORMATS["json"].build("alert.resolved", resolved_context, timestamp="t").body)
    assert body["type"] == "alert.resolved"
    assert (body["data"]["alert"]["state"], body["data"]["alert"]["resolved_at"]) == ("resolved",
                                                                                     "2026-11-24T09:05:00Z")


def test_slack_resolution_says_resolved_in_green(resolved_context):
    body = slack.slack_body("alert.resolved", resolved_context)
    assert "RESOLVED" in body["blocks"][0]["text"]["text"] and ":large_green_circle:" in body["text"]
    assert body["attachments"][0]["color"] == f"#{RESOLVED_COLOR:06X}" == "#2EB67D"
    fired = slack.slack_body("alert.fired", resolved_context)
    assert "attachments" not in fired and "RESOLVED" not in fired["text"]


def test_discord_resolution_is_a_green_embed_titled_resolved(resolved_context):
    body = discord.discord_body("alert.resolved", resolved_context, "2026-11-24T09:05:00Z")
    embed = body["embeds"][0]
    assert embed["color"] == RESOLVED_COLOR and embed["title"].startswith("Resolved: ")
    assert "RESOLVED" in body["content"]


def test_chat_formats_name_a_repeat(resolved_context):
    resolved_context["alert"].update(state="firing", resolved_at=None)
    assert "STILL FIRING" in slack.slack_body("alert.repeated", resolved_context)["text"].upper()
    assert discord.discord_body("alert.repeated", resolved_context, "t")["embeds"][0]["title"].startswith(
        "Still firing: ")


def test_a_template_sees_the_type_and_the_state(resolved_context):
    text = template.render_template("{{ type }} {{ alert.state }} {{ alert.resolved_at }}", "alert.resolved",
                                    resolved_context, "t")
    assert text == "alert.resolved resolved 2026-11-24T09:05:00Z"
