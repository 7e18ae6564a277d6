"""What the format tests share: a context with a 10,000-character message, a receiver's limits
checked per format, and an alert of such a message delivered for real to a loopback receiver."""
import json

import sqlalchemy as sa

from tests.support.factories import make_alert, make_delivery, make_endpoint, make_workspace
from webapp.models import DeliveryAttempt
from webapp.services import crypto, formats
from webapp.services.delivery import attempt
from webapp.services.formats import discord, ntfy, pagerduty, slack, teams

# 10,000 characters with text Slack must escape (& < >) and characters over one UTF-8 byte.
LONG_MESSAGE = ("billing & <payments> failed — exit code 3; " * 250)[:10_000]
ROUTING_KEY = "R0ut1ngKeyR0ut1ngKeyR0ut1ngKey32"
ACCESS_TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"


def long_context(message: str = LONG_MESSAGE) -> dict:
    context = formats.sample_context(None, None)
    context["alert"].update(id="812", type="run_failed", message=message)
    return context


def assert_within_limits(payload_format: str, body: bytes) -> None:
    """The receiver's documented limits hold, and the message was cut with "…"."""
    if payload_format == "ntfy":
        assert len(body) <= ntfy.MESSAGE_BYTES_LIMIT and body.decode("utf-8").endswith("…")
        return
    document = json.loads(body)
    if payload_format == "slack":
        texts = [document["text"], document["blocks"][0]["text"]["text"],
                 *(element["text"] for element in document["blocks"][1]["elements"])]
        assert all(len(text) <= slack.SECTION_TEXT_LIMIT for text in texts)
        assert document["blocks"][0]["text"]["text"].endswith("…") and document["text"].endswith("…")
        assert "&amp;" in document["text"] and "&am…" not in document["text"]
    elif payload_format == "discord":
        embed = document["embeds"][0]
        assert len(document["content"]) <= discord.CONTENT_LIMIT and document["content"].endswith("…")
        assert len(embed["title"]) <= discord.EMBED_TITLE_LIMIT
        assert len(embed["description"]) <= discord.EMBED_DESCRIPTION_LIMIT and embed["description"].endswith("…")
        assert all(len(field["value"]) <= discord.FIELD_VALUE_LIMIT for field in embed["fields"])
        assert len(embed["title"]) + len(embed["description"]) + sum(
            len(field["name"]) + len(field["value"]) for field in embed["fields"]) <= discord.EMBED_TOTAL_LIMIT
    elif payload_format == "teams":
        assert len(body) <= teams.MESSAGE_BYTES_LIMIT
    elif payload_format == "pagerduty":
        summary = document["payload"]["summary"]
        assert len(summary) <= pagerduty.SUMMARY_LIMIT == 1024 and summary.endswith("…")
    else:
        raise AssertionError(f"no limits known for {payload_format}")


def deliver_for_real(db, receiver, payload_format: str, *, message: str = LONG_MESSAGE, event: str = "alert.fired"):
    """An alert of `message` sent once by the engine to `receiver` in `payload_format`; returns
    (the request the receiver got, the recorded attempt)."""
    workspace = make_workspace()
    endpoint, _ = make_endpoint(workspace, receiver.url())
    endpoint.format = payload_format
    endpoint.routing_key_encrypted = crypto.encrypt(ROUTING_KEY)
    endpoint.access_token_encrypted = crypto.encrypt(ACCESS_TOKEN)
    alert = make_alert(endpoint)
    alert.message = message  # SQLite keeps it whole; a receiver's limit must not depend on Tocsin's own
    delivery = make_delivery(endpoint, alert, event=event, status="pending")
    db.session.commit()
    assert attempt.claim_and_attempt(delivery.id) == "delivered"
    [request] = receiver.wait_for(1)
    db.session.rollback()
    record = db.session.scalar(sa.select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id))
    return request, record
