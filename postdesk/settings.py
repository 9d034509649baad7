"""Settings read from the environment, once per process.

The secret key signs sessions and document links and, through ``schema.base.fernet_for``,
encrypts the secrets at rest. Where it comes from, first match wins:

1. ``POSTDESK_SECRET_KEY``: the key itself.
2. ``POSTDESK_SECRET_FILE``: a file holding the key (created with a new key, mode 0600, when it
   does not exist).
3. A SQLite database file: ``<database file>.secret`` beside it, created the same way. So every
   command run against one database, from any directory, uses one key.
4. An in-memory SQLite database: a key for this process only (its data dies with it).
5. Any other database in demo mode (``POSTDESK_DEMO=1``, which ``postdesk demo`` sets): a file
   per database in the user's state directory,
   ``$XDG_STATE_HOME/postdesk/demo-<backend>-<host>-<port>-<database>.secret``
   (``~/.local/state`` when unset).
6. Otherwise Postdesk refuses to start: ``SecretKeyUnavailable`` names the variables.

A ``.postdesk-secret`` in the working directory (where earlier versions kept the generated key)
is never read. When it is there, the database exists and has no key file yet, start-up refuses
and says where to move it: a new key would not read the secrets stored under the old one.

Creating a key file is atomic: the key is written to a private temporary file and hard-linked
to its name, which fails when the name exists; the loser of two processes starting at once
then reads the winner's key, so both agree and no one ever reads a half-written file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy.engine import make_url

DEFAULT_DB_FILE = "postdesk.sqlite3"
LEGACY_SECRET_FILE = ".postdesk-secret"
SECRET_SUFFIX = ".secret"

log = logging.getLogger(__name__)


class SecretKeyUnavailable(RuntimeError):
    """No usable secret key; the message is one line an operator can act on."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    secret_key: str
    log_level: str
    session_max_age: int
    https_only: bool
    demo: bool
    # Where the key came from: "POSTDESK_SECRET_KEY" or a file's path (for messages), and the
    # file itself, which `postdesk secrets rotate` replaces.
    secret_source: str = "POSTDESK_SECRET_KEY"
    secret_file: Path | None = None


@dataclass(frozen=True)
class SecretKey:
    value: str
    source: str
    file: Path | None


def generate_key() -> str:
    return secrets.token_urlsafe(48)


def create_key_file(path: Path, key: str) -> bool:
    """Write ``key`` to ``path`` unless it exists. True when this call created it.

    The name appears only once the content is complete (link of a fully written temporary
    file), so a concurrent reader sees either no file or the whole key.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            fp.write(key + "\n")
            fp.flush()
            os.fsync(fp.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
    finally:
        temp.unlink(missing_ok=True)
    _sync_directory(path.parent)
    return True


def replace_key_file(source: Path, target: Path) -> None:
    """Atomically put the key file ``source`` in place of ``target`` (same directory)."""
    os.replace(source, target)
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    # The new name should survive a crash as surely as the content does; a file system that
    # cannot sync a directory still has the file, so that is no reason to fail.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_key_file(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretKeyUnavailable(f"Cannot read the secret key file {path}: {exc.strerror}.") \
            from None
    if not key:
        raise SecretKeyUnavailable(f"The secret key file {path} is empty.")
    return key


def read_or_create_key_file(path: Path) -> str:
    """The key in ``path``; a new key is generated into it first when it does not exist."""
    if not path.exists():
        try:
            create_key_file(path, generate_key())
        except OSError as exc:
            raise SecretKeyUnavailable(
                f"Cannot create the secret key file {path}: {exc.strerror}.") from None
    return read_key_file(path)


def _is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def _sqlite_file(database_url: str) -> Path | None:
    """The SQLite database's file (absolute); None for an in-memory database."""
    database = make_url(database_url).database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        return None
    return Path(database.removeprefix("file:").split("?")[0]).resolve()


def demo_key_path(database_url: str) -> Path:
    url = make_url(database_url)
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    parts = (url.get_backend_name(), url.host or "local", str(url.port or "default"),
             url.database or "default")
    name = "demo-" + "-".join(re.sub(r"[^A-Za-z0-9._]+", "_", p) for p in parts)
    return Path(state) / "postdesk" / (name + SECRET_SUFFIX)


def _check_legacy(target: Path, database_exists: bool) -> None:
    legacy = Path(LEGACY_SECRET_FILE).resolve()
    if not legacy.exists():
        return
    if target.exists() or not database_exists:
        log.warning("%s is ignored; the secret key in use is %s", legacy, target)
        return
    raise SecretKeyUnavailable(
        f"{legacy} is no longer read (the key now belongs to the database, not the working "
        f"directory): move it to {target}, or set POSTDESK_SECRET_FILE={legacy}.")


def resolve_secret_key(database_url: str, *, demo: bool) -> SecretKey:
    """The installation's secret key by the rules in the module docstring."""
    key = os.environ.get("POSTDESK_SECRET_KEY")
    if key:
        return SecretKey(key, "POSTDESK_SECRET_KEY", None)
    named = os.environ.get("POSTDESK_SECRET_FILE")
    if named:
        path = Path(named).expanduser().resolve()
        return SecretKey(read_or_create_key_file(path), str(path), path)
    if _is_sqlite(database_url):
        sqlite_file = _sqlite_file(database_url)
        if sqlite_file is None:
            return SecretKey(generate_key(), "a key for this process (in-memory database)", None)
        path = sqlite_file.with_name(sqlite_file.name + SECRET_SUFFIX)
        # an empty file is what SQLite leaves when a connection opened but nothing was written
        _check_legacy(path, sqlite_file.exists() and sqlite_file.stat().st_size > 0)
    elif demo:
        path = demo_key_path(database_url)
        _check_legacy(path, True)  # whether the database holds secrets is not known here
    else:
        raise SecretKeyUnavailable(
            "Set POSTDESK_SECRET_KEY (the key) or POSTDESK_SECRET_FILE (a file holding it): "
            "Postdesk generates a key by itself only beside a SQLite database file.")
    return SecretKey(read_or_create_key_file(path), str(path), path)


def normalize_url(url: str) -> str:
    """Accept the usual postgresql:// URL and pick the psycopg 3 driver for it."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def database_url_from_env() -> str:
    return normalize_url(os.environ.get("POSTDESK_DATABASE_URL", f"sqlite:///{DEFAULT_DB_FILE}"))


def log_level_from_env() -> str:
    return os.environ.get("POSTDESK_LOG_LEVEL", "INFO").upper()


@lru_cache
def get_settings() -> Settings:
    """Raises ``SecretKeyUnavailable`` (and caches nothing) when there is no usable key."""
    database_url = database_url_from_env()
    demo = os.environ.get("POSTDESK_DEMO", "0") == "1"
    key = resolve_secret_key(database_url, demo=demo)
    return Settings(
        database_url=database_url,
        secret_key=key.value,
        log_level=log_level_from_env(),
        session_max_age=int(os.environ.get("POSTDESK_SESSION_MAX_AGE", str(8 * 3600))),
        https_only=os.environ.get("POSTDESK_HTTPS_ONLY", "0") == "1",
        demo=demo,
        secret_source=key.source,
        secret_file=key.file,
    )
