"""Settings read from the environment, once per process."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_DB_FILE = "postdesk.sqlite3"
SECRET_FILE = ".postdesk-secret"


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    log_level: str
    session_max_age: int
    https_only: bool
    demo: bool


def _secret_key() -> str:
    """The key signs sessions; a demo keeps a generated one so restarts do not log people out."""
    key = os.environ.get("POSTDESK_SECRET_KEY")
    if key:
        return key
    path = Path(SECRET_FILE)
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def normalize_url(url: str) -> str:
    """Accept the usual postgresql:// URL and pick the psycopg 3 driver for it."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings(
        database_url=normalize_url(
            os.environ.get("POSTDESK_DATABASE_URL", f"sqlite:///{DEFAULT_DB_FILE}")
        ),
        secret_key=_secret_key(),
        log_level=os.environ.get("POSTDESK_LOG_LEVEL", "INFO").upper(),
        session_max_age=int(os.environ.get("POSTDESK_SESSION_MAX_AGE", str(8 * 3600))),
        https_only=os.environ.get("POSTDESK_HTTPS_ONLY", "0") == "1",
        demo=os.environ.get("POSTDESK_DEMO", "0") == "1",
    )
