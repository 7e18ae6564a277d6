"""With `TOCSIN_SMTP_URL` set, an invite link is also mailed to the invitee (a real SMTP server on
127.0.0.1 receives it); without a reachable server the link is still shown once to copy, the
inviter is told, and neither the link nor the SMTP password reaches the log."""
import email
import logging
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.accounts.test_invites import INVITEE, accept, shown_invite_link
from webapp.services.invite_mail import SmtpUrlError, parse_smtp_url

SMTP_USER, SMTP_PASSWORD = "tocsin", "s3cret-smtp-password"


class Mailbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


def tocsin_log(caplog) -> str:
    """What Tocsin itself logged (the test's SMTP server logs the whole conversation)."""
    return "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("mail.log"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def mailbox():
    box = Mailbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode(),
                          handled=False)  # handled=False: aiosmtpd answers the 535 itself

    controller = Controller(box, hostname="127.0.0.1", port=free_port(), authenticator=authenticate,
                            auth_require_tls=False)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def owner(auth, client):
    auth.signup()
    client.application.config["TOCSIN_SIGNUP"] = "invite"
    return client


def test_an_invite_is_mailed_with_its_link_and_the_mailed_link_works(app, owner, mailbox, caplog):
    app.config["TOCSIN_SMTP_URL"] = (f"smtp+plain://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{mailbox.port}"
                                     "?from=alerts@tocsin.test")
    caplog.set_level(logging.DEBUG)
    page = owner.post("/settings/invites", data={"email": INVITEE, "role": "admin"},
                      follow_redirects=True).get_data(as_text=True)
    link = shown_invite_link(page)  # still shown once to copy
    assert f"The link was also mailed to {INVITEE}." in page

    [(recipients, message)] = mailbox.messages
    assert recipients == [INVITEE]
    assert message["From"] == "alerts@tocsin.test" and message["To"] == INVITEE
    assert message["Subject"] == "owner@example.com invited you to owner@example.com on Tocsin" \
        or message["Subject"].startswith("owner@example.com invited you to ")
    body = message.get_payload(decode=True).decode()
    assert link in body and "as admin" in body

    newcomer = app.test_client()
    joined = accept(newcomer, link.removeprefix("http://tocsin.test"))
    assert joined.status_code == 302
    assert link.rsplit("/", 1)[1] not in tocsin_log(caplog) and SMTP_PASSWORD not in tocsin_log(caplog)


def test_an_unreachable_mail_server_leaves_the_link_to_copy_and_says_so(app, owner, caplog):
    app.config["TOCSIN_SMTP_URL"] = f"smtp+plain://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{free_port()}"
    page = owner.post("/settings/invites", data={"email": INVITEE}, follow_redirects=True).get_data(as_text=True)
    link = shown_invite_link(page)
    assert "The invite could not be mailed" in page and "Copy the link below and send it yourself." in page
    assert SMTP_PASSWORD not in page and SMTP_PASSWORD not in caplog.text
    assert link.rsplit("/", 1)[1] not in caplog.text


def test_a_wrong_smtp_password_is_reported_without_repeating_it(app, owner, mailbox, caplog):
    app.config["TOCSIN_SMTP_URL"] = f"smtp+plain://{SMTP_USER}:wrong-password@127.0.0.1:{mailbox.port}"
    page = owner.post("/settings/invites", data={"email": INVITEE}, follow_redirects=True).get_data(as_text=True)
    shown_invite_link(page)
    assert "The invite could not be mailed" in page and "535" in page, page
    assert mailbox.messages == [] and "wrong-password" not in page and "wrong-password" not in tocsin_log(caplog)


def test_without_an_smtp_url_nothing_is_mailed(app, owner, mailbox):
    page = owner.post("/settings/invites", data={"email": INVITEE}, follow_redirects=True).get_data(as_text=True)
    shown_invite_link(page)
    assert "mailed" not in page and mailbox.messages == []


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://host:99999", "mail.example.com"])
def test_an_smtp_url_tocsin_cannot_use_is_refused_clearly(url):
    with pytest.raises(SmtpUrlError):
        parse_smtp_url(url)


def test_smtp_url_defaults():
    plain = parse_smtp_url("smtp://user:p%40ss@mail.example.com")
    assert (plain.port, plain.username, plain.password, plain.sender) == (587, "user", "p@ss", "tocsin@mail.example.com")
    assert parse_smtp_url("smtps://mail.example.com").port == 465
