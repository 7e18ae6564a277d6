"""Configuration read from the environment, with safe defaults (documented in README.md)."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = PROJECT_ROOT / "instance"
REMEMBER_DAYS = 30  # "Remember me" keeps a browser logged in at most this long


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "on", "true", "yes"}


def _number(name: str, default, kind):
    """A numeric setting; a typo stops start-up with the variable's name, not a bare traceback."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return kind(raw.strip())
    except ValueError:
        raise ValueError(f"{name} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    return _number(name, default, float)


def _int(name: str, default: int) -> int:
    return _number(name, default, int)


SIGNUP_MODES = ("open", "invite", "closed")


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """A setting with a fixed set of values; a typo stops start-up with the variable's name."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def _development_secret_key(instance_dir: Path) -> str:
    """A random key generated once and kept in instance/, so dev sessions survive restarts."""
    instance_dir.mkdir(parents=True, exist_ok=True)
    key_file = instance_dir / "secret_key"
    try:
        # O_EXCL: two processes starting at once cannot both write; 0600 from the first byte.
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return key_file.read_text().strip()


def _default_environment(instance_dir: Path, secret_key: str | None) -> str:
    """`development` for the instance `make run` set up (its key file exists and no SECRET_KEY is
    given), so the README's shell commands work in a second shell; `production` otherwise."""
    if secret_key is None and (instance_dir / "secret_key").is_file():
        return "development"
    return "production"


def normalise_database_url(url: str) -> str:
    """Accept the common postgres:// spellings and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_config(instance_dir: Path = INSTANCE_DIR) -> dict:
    """Everything Tocsin reads from the environment, as Flask config keys.

    `instance_dir` holds the development SECRET_KEY and the default SQLite file (tests pass a
    temporary one).
    """
    secret_key = os.environ.get("SECRET_KEY") or None
    environment = os.environ.get("TOCSIN_ENV") or _default_environment(instance_dir, secret_key)
    if secret_key is None and environment == "development":
        secret_key = _development_secret_key(instance_dir)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        instance_dir.mkdir(parents=True, exist_ok=True)  # a fresh clone has no instance/ yet
        database_url = f"sqlite:///{instance_dir / 'tocsin.db'}"
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
        "TOCSIN_WAKEUP_POLL": _float("TOCSIN_WAKEUP_POLL", 0.5),
        "TOCSIN_PRUNE_INTERVAL": _float("TOCSIN_PRUNE_INTERVAL", 3600.0),
        "TOCSIN_HEARTBEAT_INTERVAL": _float("TOCSIN_HEARTBEAT_INTERVAL", 10.0),
        "TOCSIN_HISTORY_DAYS": _int("TOCSIN_HISTORY_DAYS", 30),
        "TOCSIN_RETRY_SCALE": _float("TOCSIN_RETRY_SCALE", 1.0),
        "TOCSIN_SEND_WORKERS": _int("TOCSIN_SEND_WORKERS", 8),
        "TOCSIN_SEND_THREADS_MAX": _int("TOCSIN_SEND_THREADS_MAX", 0),  # 0: 4 × TOCSIN_SEND_WORKERS
        "TOCSIN_WORKSPACE_SEND_LIMIT": _int("TOCSIN_WORKSPACE_SEND_LIMIT", 0),  # 0: TOCSIN_SEND_WORKERS
        "TOCSIN_WEB_THREADS": _int("TOCSIN_WEB_THREADS", 8),  # set by gunicorn.conf.py from its threads
        "TOCSIN_DB_POOL_SIZE": _int("TOCSIN_DB_POOL_SIZE", 0),  # 0: sized from the threads (database.pool_sizes)
        "TOCSIN_ENDPOINT_CONCURRENCY": _int("TOCSIN_ENDPOINT_CONCURRENCY", 4),
        "TOCSIN_ENDPOINT_RATE": _float("TOCSIN_ENDPOINT_RATE", 10.0),
        "TOCSIN_DISABLE_AFTER_HOURS": _float("TOCSIN_DISABLE_AFTER_HOURS", 72.0),
        "TOCSIN_LEASE_MARGIN": _float("TOCSIN_LEASE_MARGIN", 15.0),
        "TOCSIN_API_RATE": _float("TOCSIN_API_RATE", 50.0),
        "TOCSIN_API_BURST": _int("TOCSIN_API_BURST", 100),
        "TOCSIN_API_REPORT_RATE": _float("TOCSIN_API_REPORT_RATE", 1000.0),
        "TOCSIN_API_REPORT_BURST": _int("TOCSIN_API_REPORT_BURST", 2000),
        "TOCSIN_BODY_TIMEOUT": _float("TOCSIN_BODY_TIMEOUT", 10.0),
        # Reverse proxies in front trusted for X-Forwarded-For/Proto/Host (webapp/proxy_headers.py).
        "TOCSIN_PROXY_HOPS": _int("TOCSIN_PROXY_HOPS", 0),
        # Who may create an account on /signup (the first user of an empty instance always may).
        "TOCSIN_SIGNUP": _choice("TOCSIN_SIGNUP", "open" if environment in {"development", "testing"} else "invite",
                                 SIGNUP_MODES),
        "TOCSIN_METRICS_TOKEN": os.environ.get("TOCSIN_METRICS_TOKEN", ""),
        # When set, invite links are also mailed (webapp/services/invite_mail.py says the format).
        "TOCSIN_SMTP_URL": os.environ.get("TOCSIN_SMTP_URL", ""),
        # PostgreSQL only; the tests turn it on where they test it (its listener is a thread).
        "TOCSIN_API_CACHE": _flag("TOCSIN_API_CACHE", environment != "testing"),
        # `Secure` is added by create_app when TOCSIN_BASE_URL is https (webapp/security.py).
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_DURATION": timedelta(days=REMEMBER_DAYS),
        "WTF_CSRF_TIME_LIMIT": None,
        # On https Flask-WTF would also demand a same-host Referer: the invite page sends none
        # (no-referrer keeps its token out of other sites' logs) and a proxy may pass the host
        # without its port. The CSRF token and SameSite=Lax cookies protect every form.
        "WTF_CSRF_SSL_STRICT": False,
    }
