"""An endpoint's URL as pages and the API show it: masked (`outbound.mask_url`), never in clear
except through the audited reveal; and the masked value sent back on an edit keeps the stored URL,
as a masked header value does."""
from webapp.models import Endpoint
from webapp.services import crypto
from webapp.services.outbound import masking

UNREADABLE = "(cannot be decrypted: its key is not in TOCSIN_ENCRYPTION_KEY)"


def shown_url(endpoint: Endpoint) -> str:
    """`https://hooks.slack.com/services/••••`; the stored host alone when no key reads the URL."""
    try:
        return masking.mask_url(endpoint.url)
    except crypto.DecryptionError:
        return f"{endpoint.url_host}/{masking.MASK} {UNREADABLE}"


def readable_url(endpoint: Endpoint) -> str | None:
    """The stored URL in clear, or None when no configured key reads it (so entering it again works)."""
    try:
        return endpoint.url
    except crypto.DecryptionError:
        return None


def without_unchanged_url(data: dict, endpoint: Endpoint | None) -> dict:
    """`data` minus its `url` when that is the endpoint's masked URL (the form or a client sent
    back what it was shown): the stored URL stays."""
    if endpoint is not None and "url" in data and isinstance(data["url"], str) \
            and data["url"].strip() == shown_url(endpoint):
        return {name: value for name, value in data.items() if name != "url"}
    return data


def refuse_masked(url: str) -> None:
    """A masked URL is not an address: saving one would send every alert to a path of bullets."""
    if masking.MASK in url:
        raise ValueError("This is a masked URL: enter the full URL (Reveal URL on the endpoint's page shows "
                         "the stored one), or leave the field as it is to keep it.")
