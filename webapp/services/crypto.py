"""Encryption at rest for endpoint URLs, secrets and header values (Fernet tokens in the database).

Keys come from `TOCSIN_ENCRYPTION_KEY`: a comma-separated list of Fernet keys, newest first.
New values are encrypted with the first key; a value encrypted with any listed key still
decrypts, so a key is rotated by listing a new one in front of the old. When the setting is
empty, one key is derived from `SECRET_KEY` with HKDF. That derived key is also kept as the
last, decrypt-only key when `TOCSIN_ENCRYPTION_KEY` is set later, so rows written before the
setting existed stay readable (and `rotate` moves them onto the new key).
"""
import base64
import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

HKDF_INFO = b"tocsin-encryption-v1"


class DecryptionError(ValueError):
    """A stored value that none of the configured keys can decrypt."""


def derive_key(secret_key: str) -> bytes:
    """The Fernet key derived from SECRET_KEY (HKDF-SHA256, fixed info, no salt)."""
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(
        secret_key.encode("utf-8")
    )
    return base64.urlsafe_b64encode(material)


def parse_keys(setting: str) -> list[bytes]:
    """The Fernet keys listed in TOCSIN_ENCRYPTION_KEY, newest first (blank entries ignored)."""
    return [part.strip().encode("ascii") for part in (setting or "").split(",") if part.strip()]


@functools.lru_cache(maxsize=8)
def _build(encryption_key_setting: str, secret_key: str | None) -> MultiFernet:
    """Built once per configuration: Fernet key parsing is cheap but not free at 500 sends/s."""
    keys = parse_keys(encryption_key_setting)
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"TOCSIN_ENCRYPTION_KEY entry {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with `Fernet.generate_key()`)"
            ) from error
    if secret_key:
        derived = derive_key(secret_key)
        if derived not in keys:
            fernets.append(Fernet(derived))
    if not fernets:
        raise RuntimeError("set SECRET_KEY or TOCSIN_ENCRYPTION_KEY: Tocsin needs a key to encrypt secrets")
    return MultiFernet(fernets)


def _fernet() -> MultiFernet:
    config = current_app.config
    return _build(config.get("TOCSIN_ENCRYPTION_KEY") or "", config.get("SECRET_KEY"))


def encrypt(text: str) -> str:
    """A Fernet token (ASCII text) for `text`, made with the newest key."""
    return _fernet().encrypt(text.encode("utf-8")).decode("ascii")


@functools.lru_cache(maxsize=1024)
def _decrypted(fernet: MultiFernet, token: str) -> str:
    """Per key set (the cached MultiFernet) and token: a token never changes its clear text, and
    the delivery engine decrypts the same endpoint secrets on every send (HMAC + AES each time)."""
    return fernet.decrypt(token.encode("ascii")).decode("utf-8")


def decrypt(token: str, *, remember: bool = True) -> str:
    """The clear text of a token made by `encrypt` with any configured key. `remember=False`
    for a value used once, which then stays out of the process's cache of decrypted values."""
    try:
        if not remember:
            return _decrypted.__wrapped__(_fernet(), token)
        return _decrypted(_fernet(), token)
    except (InvalidToken, UnicodeError) as error:
        raise DecryptionError(
            "cannot decrypt a stored secret: the key that encrypted it is not in TOCSIN_ENCRYPTION_KEY"
        ) from error


def rotate(token: str) -> str:
    """The same value re-encrypted with the newest key (for re-keying old rows)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError) as error:
        raise DecryptionError(
            "cannot re-encrypt a stored secret: the key that encrypted it is not in TOCSIN_ENCRYPTION_KEY"
        ) from error
