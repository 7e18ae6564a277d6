"""Every format stays within its receiver's limits with a 10,000-character alert message,
cutting with "…" rather than being refused: built directly, and delivered for real to a
loopback receiver by the engine."""
import json

import pytest

from tests.formats.helpers import LONG_MESSAGE, assert_within_limits, deliver_for_real, long_context
from webapp.services import formats
from webapp.services.formats import teams
from webapp.services.formats.base import truncate, truncate_utf8

LIMITED_FORMATS = ("slack", "discord", "teams", "pagerduty", "ntfy")


def build(payload_format: str, event_type: str = "alert.fired", context: dict | None = None):
    return formats.FORMATS[payload_format].build(event_type, context or long_context(), timestamp="t",
                                                 credential="key")


def test_truncate_cuts_with_an_ellipsis_counting_characters():
    assert truncate("short", 10) == "short"
    assert truncate("x" * 11, 10) == "x" * 9 + "…" and len(truncate("é" * 50, 10)) == 10


def test_truncate_utf8_never_cuts_inside_a_character():
    cut = truncate_utf8("🔥" * 10, 10)
    assert len(cut.encode("utf-8")) <= 10 and cut == "🔥" + "…"


@pytest.mark.parametrize("payload_format", LIMITED_FORMATS)
@pytest.mark.parametrize("event_type", ["alert.fired", "alert.repeated", "alert.resolved", "alert.test"])
def test_a_10000_character_message_is_cut_to_the_receivers_limits(app, payload_format, event_type):
    assert len(LONG_MESSAGE) == 10_000
    assert_within_limits(payload_format, build(payload_format, event_type).body)


def test_discord_title_and_fields_are_cut_too(app):
    context = long_context()
    context["job"].update(name="N" * 400, slug="s" * 2000)
    context["rule"]["name"] = "r" * 2000
    document = json.loads(build("discord", context=context).body)
    assert document["embeds"][0]["title"].endswith("…")
    assert_within_limits("discord", build("discord", context=context).body)


def test_teams_shrinks_a_card_of_multibyte_text_under_28_kb(app):
    context = long_context("🔥" * 10_000)  # 40,000 bytes of message alone
    context["job"]["name"] = "é" * 3000
    body = build("teams", context=context).body
    assert len(body) <= teams.MESSAGE_BYTES_LIMIT == 28_000
    card = json.loads(body)["attachments"][0]["content"]
    assert card["body"][1]["text"].endswith("…") and card["body"][1]["text"].startswith("🔥🔥")


def test_a_short_message_is_sent_whole(app):
    context = long_context("billing-nightly failed after 42 s: exit code 3")
    for payload_format in LIMITED_FORMATS:
        assert "…" not in build(payload_format, context=context).body.decode("utf-8")


@pytest.mark.parametrize("payload_format", LIMITED_FORMATS)
def test_a_delivered_10000_character_alert_is_within_the_receivers_limits(app, db, receiver, payload_format):
    request, record = deliver_for_real(db, receiver, payload_format)
    assert_within_limits(payload_format, request.body)
    assert record.outcome == "success"
