"""Configuration read from the environment, with safe defaults (documented in README.md)."""
import os
import secrets
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "on", "true", "yes"}


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _development_secret_key() -> str:
    """A random key generated once and kept in instance/, so dev sessions survive restarts."""
    INSTANCE_DIR.mkdir(exist_ok=True)
    key_file = INSTANCE_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Accept the common postgres:// spellings and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_config() -> dict:
    """Everything Tocsin reads from the environment, as Flask config keys."""
    environment = os.environ.get("TOCSIN_ENV", "production")
    secret_key = os.environ.get("SECRET_KEY") or None
    if secret_key is None and environment == "development":
        secret_key = _development_secret_key()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'tocsin.db'}"
    return {
        "TOCSIN_ENV": environment,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "TOCSIN_ENCRYPTION_KEY": os.environ.get("TOCSIN_ENCRYPTION_KEY", ""),
        "TOCSIN_BASE_URL": os.environ.get("TOCSIN_BASE_URL", "http://127.0.0.1:5000").rstrip("/"),
        "TOCSIN_ALLOWED_NETWORKS": os.environ.get("TOCSIN_ALLOWED_NETWORKS", ""),
        "TOCSIN_SCHEDULER": _flag("TOCSIN_SCHEDULER", False),
        "TOCSIN_RETRY_INTERVAL": _float("TOCSIN_RETRY_INTERVAL", 2.0),
        "TOCSIN_SWEEP_INTERVAL": _float("TOCSIN_SWEEP_INTERVAL", 5.0),
        "TOCSIN_PRUNE_INTERVAL": _float("TOCSIN_PRUNE_INTERVAL", 3600.0),
        "TOCSIN_HEARTBEAT_INTERVAL": _float("TOCSIN_HEARTBEAT_INTERVAL", 10.0),
        "TOCSIN_HISTORY_DAYS": _int("TOCSIN_HISTORY_DAYS", 30),
        "TOCSIN_RETRY_SCALE": _float("TOCSIN_RETRY_SCALE", 1.0),
        "TOCSIN_SEND_WORKERS": _int("TOCSIN_SEND_WORKERS", 8),
        "TOCSIN_ENDPOINT_CONCURRENCY": _int("TOCSIN_ENDPOINT_CONCURRENCY", 4),
        "TOCSIN_ENDPOINT_RATE": _float("TOCSIN_ENDPOINT_RATE", 10.0),
        "TOCSIN_DISABLE_AFTER_HOURS": _float("TOCSIN_DISABLE_AFTER_HOURS", 72.0),
        "TOCSIN_METRICS_TOKEN": os.environ.get("TOCSIN_METRICS_TOKEN", ""),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
    }
