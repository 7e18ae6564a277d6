"""No signature, for Slack, Discord, Teams, ntfy and PagerDuty: their URL or routing key is the
credential and they would ignore a signature. The endpoint keeps a stored secret (never used,
never shown), so switching to a signing scheme later starts from a fresh secret shown once."""
from webapp.services.signing.text_secret import generate_secret  # noqa: F401 (the interface)

NAME = "none"
LABEL = "None (the URL or key is the credential)"
SIGNS = False
SEVERAL_SIGNATURES = False


def validate_secret(text: str) -> str:
    raise ValueError("the scheme none sends no signature: leave the secret empty")


def header_names(settings) -> frozenset[str]:
    return frozenset()


signature_header_names = header_names


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes, settings) -> dict[str, str]:
    return {}
