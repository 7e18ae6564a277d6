"""Invite links by email, when `TOCSIN_SMTP_URL` is set (no mail server is needed otherwise: the
link is always shown once to copy).

`TOCSIN_SMTP_URL` is `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it),
`smtps://…` (TLS from the start, port 465 by default) or `smtp+plain://…` (never TLS, for a relay
on the same host); `?from=tocsin@example.com` sets the sender (default `tocsin@<host>`). The
message is sent after the invite is committed, so no database connection waits on the mail
server; a failure is reported to the inviter and logged without the link or the password."""
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 10
SCHEMES = {"smtp": 587, "smtps": 465, "smtp+plain": 25}


class SmtpUrlError(ValueError):
    """TOCSIN_SMTP_URL cannot be used (the message never repeats the password)."""


@dataclass(frozen=True)
class SmtpSettings:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None
    sender: str


def parse_smtp_url(url: str) -> SmtpSettings:
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise SmtpUrlError(f"TOCSIN_SMTP_URL must start with {', '.join(s + '://' for s in SCHEMES)}")
    if not parts.hostname:
        raise SmtpUrlError("TOCSIN_SMTP_URL names no host")
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError:
        raise SmtpUrlError("TOCSIN_SMTP_URL has a port that is not a number from 1 to 65535") from None
    sender = parse_qs(parts.query).get("from", [f"tocsin@{parts.hostname}"])[0]
    return SmtpSettings(parts.scheme, parts.hostname, port, unquote(parts.username) if parts.username else None,
                        unquote(parts.password) if parts.password else None, sender)


def invite_message(*, sender: str, to: str, workspace_name: str, inviter: str, role: str, link: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = f"{inviter} invited you to {workspace_name} on Tocsin"
    message.set_content(
        f"{inviter} invited you to the workspace “{workspace_name}” on Tocsin, as {role}.\n\n"
        f"Open this link to join (it works once, for 7 days, for {to} only):\n\n{link}\n\n"
        "If you did not expect this, ignore this message: nothing happens until the link is opened.\n")
    return message


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.scheme == "smtps":
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS,
                                context=ssl.create_default_context())
    connection = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT_SECONDS)
    connection.ehlo()
    if settings.scheme == "smtp" and connection.has_extn("starttls"):
        connection.starttls(context=ssl.create_default_context())
        connection.ehlo()
    return connection


def send_invite(smtp_url: str, **message_fields) -> str | None:
    """Mail the invite; None when sent, else a sentence saying why not (for the inviter)."""
    try:
        settings = parse_smtp_url(smtp_url)
        with _connect(settings) as connection:
            if settings.username:
                _log_in(connection, settings)
            connection.send_message(invite_message(sender=settings.sender, **message_fields))
    except SmtpUrlError as error:
        logger.warning("invite mail not sent: %s", error)
        return str(error)
    except (OSError, smtplib.SMTPException) as error:
        reason = _reason(error)
        logger.warning("invite mail not sent: %s", reason)
        return f"The mail server did not take it ({reason})"
    return None


def _log_in(connection: smtplib.SMTP, settings: SmtpSettings) -> None:
    """PLAIN when offered (one try: a refused password reads as such), else what smtplib picks."""
    connection.user, connection.password = settings.username, settings.password or ""
    if "PLAIN" in connection.esmtp_features.get("auth", "").upper().split():
        connection.auth("PLAIN", connection.auth_plain)
    else:
        connection.login(settings.username, settings.password or "")


def _reason(error: Exception) -> str:
    """Plain words for what went wrong (never the server's own text, which may echo credentials)."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"it refused the user name or password: {error.smtp_code}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"it answered {error.smtp_code}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "it refused the address"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: is it running, at that host and port?"
    if isinstance(error, TimeoutError):
        return f"no answer within {SMTP_TIMEOUT_SECONDS} s"
    if isinstance(error, ssl.SSLError):
        return "the TLS handshake failed"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "it closed the connection"
    return type(error).__name__
